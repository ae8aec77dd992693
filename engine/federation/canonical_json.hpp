#pragma once
// Matrix canonical JSON, byte for byte as Python's `canonicaljson.encode_canonical_json` writes it
// (what Synapse hashes and signs): keys sorted by code point, no whitespace, UTF-8 written as
// is, control characters escaped as Python's json module does (\b \f \n \r \t, others
// \u00XX in lower-case hex), '"' and '\\' escaped, nothing else.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/result.hpp"

namespace tyr::engine::federation {

// The largest integer canonical JSON admits in strict room versions (2^53 - 1).
inline constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;
// Deeper values are refused: the writer recurses, and no real event nests this far.
inline constexpr int kMaxJsonDepth = 128;

struct CanonicalOptions {
  // Room versions 6+ (`strict_canonicaljson`) admit integers only in
  // [-kMaxSafeInteger, kMaxSafeInteger]; older ones any 64-bit integer. Floats are always
  // refused (Python's float repr is not reproduced).
  bool strict_integers = true;
};

// Errors name the JSON path of the offending value ("canonical JSON: $.content.n: integer
// 9007199254740992 is outside [-(2^53-1), 2^53-1]").
Result<std::string> canonical_json(const nlohmann::json& value, CanonicalOptions options = {});

// False when the JSON text nests arrays/objects deeper than `limit` (checked before parsing:
// nlohmann parses iteratively, but copying, destroying and writing a value recurse).
bool json_depth_within(std::string_view text, int limit = kMaxJsonDepth);

// Hostile text for an error message: JSON-quoted, ASCII only, cut at 64 bytes.
std::string quoted_text(std::string_view text);

}  // namespace tyr::engine::federation
