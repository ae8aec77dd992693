#include "engine/core/mode.hpp"

namespace tyr {

std::string_view mode_name(Mode m) {
  switch (m) {
    case Mode::kOff: return "off";
    case Mode::kShadow: return "shadow";
    case Mode::kEnforce: return "enforce";
  }
  return "off";
}

std::optional<Mode> parse_mode(std::string_view s) {
  if (s == "off") return Mode::kOff;
  if (s == "shadow") return Mode::kShadow;
  if (s == "enforce") return Mode::kEnforce;
  return std::nullopt;
}

}  // namespace tyr
