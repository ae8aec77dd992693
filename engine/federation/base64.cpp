#include "engine/federation/base64.hpp"

#include <array>
#include <cstdint>

namespace tyr::engine::federation {
namespace {

constexpr std::string_view kStandard =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlSafe =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode(std::string_view bytes, std::string_view alphabet) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (rest == 2) out += alphabet[(v >> 6) & 63];
  }
  return out;
}

constexpr std::array<int8_t, 256> table(std::string_view alphabet) {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (size_t i = 0; i < alphabet.size(); ++i) {
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  }
  return t;
}

constexpr std::array<int8_t, 256> kStandardTable = table(kStandard);
constexpr std::array<int8_t, 256> kUrlSafeTable = table(kUrlSafe);

Result<std::string> decode(std::string_view text, const std::array<int8_t, 256>& t,
                           const char* name) {
  // Padding: only at the end, only to complete the last group of four.
  size_t len = text.size();
  size_t pad = 0;
  while (len > 0 && text[len - 1] == '=' && pad < 2) {
    --len;
    ++pad;
  }
  if (pad > 0 && text.size() % 4 != 0) {
    return Error{"M_BAD_JSON", std::string(name) + ": padding does not complete a group of four"};
  }
  if (len % 4 == 1) {
    return Error{"M_BAD_JSON",
                 std::string(name) + ": length " + std::to_string(len) + " is not valid"};
  }
  std::string out;
  out.reserve(len * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; ++i) {
    const int8_t v = t[static_cast<unsigned char>(text[i])];
    if (v < 0) {
      return Error{"M_BAD_JSON",
                   std::string(name) + ": invalid character at offset " + std::to_string(i)};
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) { return encode(bytes, kStandard); }
std::string base64url_encode(std::string_view bytes) { return encode(bytes, kUrlSafe); }

Result<std::string> base64_decode(std::string_view text) {
  return decode(text, kStandardTable, "base64");
}
Result<std::string> base64url_decode(std::string_view text) {
  return decode(text, kUrlSafeTable, "URL-safe base64");
}

}  // namespace tyr::engine::federation
