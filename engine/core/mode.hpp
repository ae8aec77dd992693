#pragma once
// Enabled is not enforced: how a rule or a protection runs. A shadow one runs, counts and
// records what it would have done, but its hits do not reach the enforced score and its intents
// are not executed. Rules are never off (a rule file leaves out what it does not want), so
// rule files know only "enforce" and "shadow"; protections know all three.

#include <cstdint>
#include <optional>
#include <string_view>

namespace tyr {

enum class Mode : uint8_t { kOff, kShadow, kEnforce };

std::string_view mode_name(Mode m);                  // "off" | "shadow" | "enforce"
std::optional<Mode> parse_mode(std::string_view s);  // the inverse; nullopt for anything else

}  // namespace tyr
