#include "engine/core/digest.hpp"

#include <stdexcept>

#include <openssl/evp.h>

namespace tyr {

Sha256Builder::Sha256Builder() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1) {
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
  static constexpr char kB64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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

}  // namespace tyr
