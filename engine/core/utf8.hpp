#pragma once
// UTF-8 decoding for scanners that walk text one code point at a time.

#include <cstddef>
#include <string_view>

namespace tyr {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes the code point starting at s[i] into `cp` and returns its length in bytes (>= 1, so a
// loop always advances). A malformed or truncated sequence yields U+FFFD and length 1.
constexpr size_t decode_utf8(std::string_view s, size_t i, char32_t& cp) {
  const auto lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) {
    cp = lead;
    return 1;
  }
  const size_t len = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
  if (len == 0 || lead > 0xF4 || i + len > s.size()) {
    cp = kReplacementChar;
    return 1;
  }
  char32_t v = lead & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      cp = kReplacementChar;
      return 1;
    }
    v = (v << 6) | (b & 0x3F);
  }
  cp = v;
  return len;
}

}  // namespace tyr
