#pragma once
// SHA-256 helpers (policy-list hashed entities, transaction digests).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tyr {

using Sha256 = std::array<uint8_t, 32>;

// Incremental SHA-256.
class Sha256Builder {
 public:
  Sha256Builder();
  ~Sha256Builder();
  Sha256Builder(const Sha256Builder&) = delete;
  Sha256Builder& operator=(const Sha256Builder&) = delete;
  Sha256Builder& update(std::string_view data);
  Sha256 finish();

 private:
  void* ctx_;  // EVP_MD_CTX
};

Sha256 sha256(std::string_view data);
std::string to_hex(const Sha256& digest);
// Standard base64 (alphabet +/, with '=' padding), as MSC4205 hashes use.
std::string to_base64(const Sha256& digest);

// Decodes an MSC4205 hash: exactly 44 characters of standard base64 ('+', '/') ending in one
// '=', canonical (the unused low bits of the last digit are zero). nullopt when malformed.
std::optional<Sha256> decode_sha256_base64(std::string_view b64);

}  // namespace tyr
