#pragma once
// Matrix globs with Synapse's server-ACL semantics: whole-string, case-insensitive (Unicode
// simple case folding), `*` = any run of code points, `?` = exactly one code point (never a
// newline), runs of wildcards collapsed. These functions are the reference; the policy index
// compiles many globs together and must agree with them.

#include <string>
#include <string_view>

namespace tyr {

// True when `s` contains a wildcard (`*` or `?`).
constexpr bool is_glob(std::string_view s) {
  return s.find_first_of("*?") != std::string_view::npos;
}

// RE2-compatible regex for `glob`, without anchors or flags: literal characters escaped, a run
// of wildcards with n `?` and at least one `*` -> ".{n,}", n `?` alone -> ".{n}" (runs over
// RE2's repeat limit of 1000 chained as ".{1000}" pieces), and the case pairs new in Unicode 16
// spelled out as classes ("[\x{1C89}\x{1C8A}]") since Debian 12's RE2 predates them.
std::string glob_to_regex_body(std::string_view glob);

// Reference match (compiles an RE2 per call: for tests and cold paths only).
bool glob_matches(std::string_view glob, std::string_view text);

// Server-ACL IP literal: starts with '[' (IPv6), or is a strict dotted-quad IPv4 address
// (four decimal parts 0-255, as Rust's Ipv4Addr parses them).
bool is_ip_literal(std::string_view server_name);

}  // namespace tyr
