#pragma once
// Wall-clock time as Matrix counts it: milliseconds since the Unix epoch.

#include <chrono>
#include <cstdint>

namespace tyr {

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tyr
