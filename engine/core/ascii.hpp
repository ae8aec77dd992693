#pragma once
// ASCII-only case mapping, for protocol text (URL schemes, CSV headers, list entities) where
// Unicode case folding or the C locale would be wrong or slow.

#include <string>
#include <string_view>

namespace tyr {

// `s` with 'A'..'Z' lower-cased; every other byte (UTF-8 included) unchanged.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace tyr
