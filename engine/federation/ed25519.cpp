#include "engine/federation/ed25519.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "engine/federation/base64.hpp"

namespace tyr::engine::federation {
namespace {

bool valid_version(std::string_view version) {
  if (version.empty() || version.size() > 64) return false;
  for (char c : version) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

Error key_error(std::string what) { return Error{"TYR_SIGNING_KEY", std::move(what)}; }

}  // namespace

SigningKey::SigningKey(std::shared_ptr<evp_pkey_st> key, std::string public_key,
                       std::string version)
    : key_(std::move(key)), public_key_(std::move(public_key)), version_(std::move(version)) {}

Result<SigningKey> SigningKey::generate(std::string_view version) {
  std::array<unsigned char, kEd25519SeedBytes> seed{};
  if (EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr)) {
    EVP_PKEY* raw = nullptr;
    const bool ok = EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &raw) == 1;
    EVP_PKEY_CTX_free(ctx);
    std::unique_ptr<EVP_PKEY, PkeyFree> key(raw);
    size_t len = seed.size();
    if (ok && EVP_PKEY_get_raw_private_key(key.get(), seed.data(), &len) == 1 &&
        len == seed.size()) {
      Result<SigningKey> out = from_seed(
          std::string_view(reinterpret_cast<const char*>(seed.data()), seed.size()), version);
      OPENSSL_cleanse(seed.data(), seed.size());
      return out;
    }
  }
  return key_error("ed25519: OpenSSL could not generate a key");
}

Result<SigningKey> SigningKey::from_seed(std::string_view seed, std::string_view version) {
  if (seed.size() != kEd25519SeedBytes) {
    return key_error("ed25519: a seed has 32 bytes, not " + std::to_string(seed.size()));
  }
  if (!valid_version(version)) {
    return key_error("ed25519: key version must be 1-64 characters of [A-Za-z0-9_]");
  }
  std::shared_ptr<evp_pkey_st> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                   reinterpret_cast<const unsigned char*>(seed.data()),
                                   seed.size()),
      PkeyFree{});
  if (!key) return key_error("ed25519: OpenSSL refused the seed");
  std::string public_key(kEd25519PublicKeyBytes, '\0');
  size_t len = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(public_key.data()),
                                  &len) != 1 ||
      len != kEd25519PublicKeyBytes) {
    return key_error("ed25519: OpenSSL could not derive the public key");
  }
  return SigningKey(std::move(key), std::move(public_key), std::string(version));
}

std::string SigningKey::seed() const {
  std::string out(kEd25519SeedBytes, '\0');
  size_t len = out.size();
  // Cannot fail for a key built by from_seed(); an empty result would be a broken invariant.
  if (EVP_PKEY_get_raw_private_key(key_.get(), reinterpret_cast<unsigned char*>(out.data()),
                                   &len) != 1 ||
      len != kEd25519SeedBytes) {
    std::abort();
  }
  return out;
}

std::string SigningKey::sign(std::string_view message) const {
  MdCtx ctx(EVP_MD_CTX_new());
  std::string sig(kEd25519SignatureBytes, '\0');
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      len != kEd25519SignatureBytes) {
    std::abort();  // Ed25519 signing has no failure mode but allocation
  }
  return sig;
}

bool ed25519_verify(std::string_view public_key, std::string_view message,
                    std::string_view signature) {
  if (public_key.size() != kEd25519PublicKeyBytes || signature.size() != kEd25519SignatureBytes) {
    return false;
  }
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()),
      public_key.size()));
  if (!key) return false;
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

Result<SigningKey> parse_signing_key_file(std::string_view text) {
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    ++line_no;
    // Python's str.split(): runs of whitespace separate, leading/trailing ignored.
    std::array<std::string_view, 3> fields;
    size_t n = 0;
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i == line.size()) break;
      size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      if (n == fields.size()) {
        n = fields.size() + 1;
        break;
      }
      fields[n++] = line.substr(i, j - i);
      i = j;
    }
    if (n == 0) continue;
    const std::string where = "signing key file line " + std::to_string(line_no);
    if (n != 3) return key_error(where + ": expected \"ed25519 <version> <seed>\"");
    if (fields[0] != "ed25519") return key_error(where + ": only ed25519 keys are supported");
    Result<std::string> seed = base64_decode(fields[2]);
    if (!seed) return key_error(where + ": the seed is not base64");
    Result<SigningKey> key = SigningKey::from_seed(*seed, fields[1]);
    OPENSSL_cleanse(seed->data(), seed->size());
    if (!key) return key_error(where + ": " + key.error().message);
    return key;
  }
  return key_error("signing key file: no key");
}

std::string format_signing_key_file(const SigningKey& key) {
  std::string seed = key.seed();
  std::string line = "ed25519 " + key.version() + " " + base64_encode(seed) + "\n";
  OPENSSL_cleanse(seed.data(), seed.size());
  return line;
}

}  // namespace tyr::engine::federation
