#pragma once

namespace tyr {
inline constexpr const char* kVersion = "0.1.0";
}
