#pragma once
// Ed25519 keys as Matrix servers use them (OpenSSL 3). A SigningKey holds its secret inside an
// OpenSSL key object; seed() is the only way out, for writing the key file. Never log a seed.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "engine/core/result.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace tyr::engine::federation {

inline constexpr size_t kEd25519SeedBytes = 32;
inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;

class SigningKey {
 public:
  // `version` is the part after "ed25519:" in the key ID: non-empty, [A-Za-z0-9_].
  static Result<SigningKey> generate(std::string_view version);
  static Result<SigningKey> from_seed(std::string_view seed, std::string_view version);

  const std::string& version() const { return version_; }
  std::string key_id() const { return "ed25519:" + version_; }
  const std::string& public_key() const { return public_key_; }  // 32 raw bytes
  std::string seed() const;                                      // 32 raw bytes: the secret
  std::string sign(std::string_view message) const;              // 64 raw bytes

 private:
  SigningKey(std::shared_ptr<evp_pkey_st> key, std::string public_key, std::string version);
  std::shared_ptr<evp_pkey_st> key_;  // immutable once built, so copies may share it
  std::string public_key_;
  std::string version_;
};

// False for a key or signature of the wrong length as for a signature that does not verify.
bool ed25519_verify(std::string_view public_key, std::string_view message,
                    std::string_view signature);

// Synapse's signing key file (signedjson.key.read_signing_keys): lines of
// "ed25519 <version> <unpadded base64 seed>"; the first key is the one Synapse signs with.
// Blank lines are skipped; any other malformed line is an error naming its line number (never
// its content).
Result<SigningKey> parse_signing_key_file(std::string_view text);
// One line, "ed25519 <version> <seed>\n", as signedjson.key.write_signing_keys writes it.
std::string format_signing_key_file(const SigningKey& key);

}  // namespace tyr::engine::federation
