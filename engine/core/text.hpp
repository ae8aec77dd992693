#pragma once
// Text Tyr did not write — message bodies, display names, report reasons, feed entries, command
// arguments — on its way into notices, logs, the store and JSON. Every function here returns
// valid UTF-8 in the sense nlohmann::json::dump() checks (RFC 3629: shortest form, no
// surrogates, nothing above U+10FFFF), so its result can never make a dump throw; and nothing
// here cuts inside a code point.
//
//   quote_untrusted(display_name, kMaxQuotedName)  // "“@room ⚠”" in a notice, one line, capped
//   truncate_utf8(body, 200)                       // an excerpt, "…" when cut
//   dump_json(action)                              // serialise; invalid UTF-8 becomes U+FFFD

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tyr {

// "…" (U+2026), appended where text was cut.
inline constexpr std::string_view kEllipsis = "\xE2\x80\xA6";

// Caps for untrusted text quoted in notices (bytes before the ellipsis).
inline constexpr std::size_t kMaxQuotedName = 64;      // display names
inline constexpr std::size_t kMaxQuotedReason = 300;   // report reasons, rule reasons
inline constexpr std::size_t kMaxQuotedExcerpt = 200;  // message excerpts

// Whether `s` is valid UTF-8 (what nlohmann::json::dump() accepts).
bool is_valid_utf8(std::string_view s);

// Length of the well-formed UTF-8 sequence starting at s[i]; 0 when the bytes there are not one
// (a stray continuation byte, an overlong form, a surrogate, a value above U+10FFFF, or a
// sequence cut short by the end of `s`).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// `s` with each byte that does not begin a well-formed sequence replaced by U+FFFD. Valid input
// comes back unchanged.
std::string sanitize_utf8(std::string_view s);

// sanitize_utf8(s) cut to at most `max_bytes` bytes at a code point boundary, followed by "…"
// when anything was cut (so the result is at most max_bytes + 3 bytes long).
std::string truncate_utf8(std::string_view s, std::size_t max_bytes);

// `s` as one line of plain text: sanitised; line breaks, tabs and other control characters
// (C0, DEL, C1, U+2028/2029, bidirectional overrides and isolates) written as escapes (\n, \t,
// \x01, \u{202E}) so that quoted text can neither start a line of its own nor reorder the text
// around it; then cut like truncate_utf8.
std::string escape_untrusted(std::string_view s, std::size_t max_bytes);

// escape_untrusted(s, max_bytes) between typographic quotes (“…”): how notices show text that
// someone else wrote, so a reader can tell where it starts and ends.
std::string quote_untrusted(std::string_view s, std::size_t max_bytes);

// j.dump() that replaces invalid UTF-8 with U+FFFD instead of throwing type_error 316. Use it
// wherever a JSON value may hold a string that came from outside.
std::string dump_json(const nlohmann::json& j);

// A number as people write it: "6", "0.5", "1e+06" (printf's %g).
std::string number_text(double value);

// `parts` joined by `sep`; past `max_shown` parts, the rest are counted: "a, b and 3 more".
std::string join(const std::vector<std::string>& parts, std::string_view sep,
                 std::size_t max_shown = SIZE_MAX);

}  // namespace tyr
