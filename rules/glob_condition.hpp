#pragma once
// `glob:` conditions on sender, sender_server and room, with the Matrix glob semantics of
// engine/core/glob.hpp (Synapse server ACLs): whole string, case-insensitive (Unicode simple
// case folding), `*` = any run of code points, `?` = exactly one code point, never a newline.
// rules/ may not depend on the engine library, so the conversion is restated here; the unit
// tests check it against the glob fixtures the engine's reference is tested with.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace tyr::rules {

// RE2 body (no anchors, no flags) matching exactly what `glob` matches (core's conversion).
std::string glob_to_re2(std::string_view glob);

// One RE2 for any of `globs`, to be used with RE2::FullMatch; nullptr if RE2 rejects it.
std::shared_ptr<const re2::RE2> compile_globs(const std::vector<std::string>& globs);

}  // namespace tyr::rules
