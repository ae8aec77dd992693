#include "engine/core/token.hpp"

#include <cstddef>

namespace tyr {

bool secure_equals(std::string_view a, std::string_view b) {
  // Length leaks; contents do not.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace tyr
