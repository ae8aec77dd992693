#pragma once
// Small helpers shared by the built-in protections: state keys, text normalisation, the
// confusable fold used to compare names, domain lists.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/protection/bounded.hpp"

namespace tyr::plugins::protections {

// "a\x1fb" in `buf` (reused across calls, so steady state allocates nothing).
std::string_view join_key(std::string& buf, std::string_view a, std::string_view b);

// Lower case, whitespace runs collapsed to one space, trimmed (ASCII; other bytes kept).
std::string normalise_text(std::string_view s);

// A name folded for impersonation checks: ASCII lower case; common Cyrillic/Greek/fullwidth
// look-alikes and leetspeak digits mapped to Latin letters ("Ⅿοd3r@tor" → "moderator");
// spaces, punctuation, zero-width and combining marks dropped.
std::string fold_confusables(std::string_view name);

// Edit distance, giving up (returning limit + 1) once it exceeds `limit`.
size_t edit_distance(std::string_view a, std::string_view b, size_t limit);

// True when `host` is one of `domains` or a subdomain of one (all lower case).
bool domain_in(std::string_view host, const std::vector<std::string>& domains);

// Calls f(item) for each item of a '\n'-separated list.
template <class F>
void for_each_line(std::string_view list, F f) {
  while (!list.empty()) {
    const size_t nl = list.find('\n');
    f(list.substr(0, nl));
    if (nl == std::string_view::npos) break;
    list.remove_prefix(nl + 1);
  }
}

std::string seconds_text(int64_t ms);  // "10 s"

nlohmann::json save_windows(const engine::protection::BoundedMap<engine::protection::Window>& m);
bool load_windows(const nlohmann::json& j,
                  engine::protection::BoundedMap<engine::protection::Window>& m);

}  // namespace tyr::plugins::protections
