#include "engine/core/digest.hpp"

#include <stdexcept>

#include <openssl/evp.h>

namespace tyr {

namespace {

// Base64 digit value, or -1.
int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Sha256Builder::Sha256Builder() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr ||
      EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 initialisation failed");
  }
}

Sha256Builder::~Sha256Builder() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

Sha256Builder& Sha256Builder::update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
  return *this;
}

Sha256 Sha256Builder::finish() {
  Sha256 out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len);
  return out;
}

Sha256 sha256(std::string_view data) { return Sha256Builder().update(data).finish(); }

std::string to_hex(const Sha256& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (uint8_t c : digest) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 15]);
  }
  return hex;
}

std::string to_base64(const Sha256& digest) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(44);
  size_t i = 0;
  for (; i + 3 <= digest.size(); i += 3) {
    uint32_t v = (digest[i] << 16) | (digest[i + 1] << 8) | digest[i + 2];
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
    out.push_back(kB64[v & 63]);
  }
  // 32 bytes = 10 full groups + 2 bytes.
  uint32_t v = (digest[i] << 16) | (digest[i + 1] << 8);
  out.push_back(kB64[(v >> 18) & 63]);
  out.push_back(kB64[(v >> 12) & 63]);
  out.push_back(kB64[(v >> 6) & 63]);
  out.push_back('=');
  return out;
}

std::optional<Sha256> decode_sha256_base64(std::string_view b64) {
  // 32 bytes = 10 groups of 3 bytes (40 digits) + 2 bytes (3 digits and one '=').
  if (b64.size() != 44 || b64[43] != '=') return std::nullopt;
  Sha256 out{};
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (size_t i = 0; i < 43; ++i) {
    int v = b64_value(b64[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<uint8_t>(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return std::nullopt;  // 2 leftover bits must be zero (canonical encoding)
  return out;
}

}  // namespace tyr
