#pragma once
// Checks on shared secrets (appservice hs_token, veto webhook secret).

#include <string_view>

namespace tyr {

// Constant-time string comparison: the time taken depends on the lengths, not the contents.
bool secure_equals(std::string_view a, std::string_view b);

}  // namespace tyr
