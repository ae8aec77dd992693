// What Synapse is given: the appservice registration file and the tokens in it.
#include <openssl/err.h>
#include <openssl/rand.h>
#include <yaml-cpp/yaml.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "engine/config/config.hpp"

namespace tyr::engine {
namespace {

// Regex metacharacters in Python's `re` (Synapse) and ECMAScript alike; server names carry
// '.', and IPv6 literals '[' and ']'.
std::string regex_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view(R"(\^$.|?*+()[]{})").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string registration_yaml(const Config& cfg) {
  const std::string server = regex_escape(cfg.homeserver.server_name);
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "id" << YAML::Value << cfg.appservice.id;
  out << YAML::Key << "url" << YAML::Value << cfg.appservice_url();
  out << YAML::Key << "as_token" << YAML::Value << cfg.appservice.as_token;
  out << YAML::Key << "hs_token" << YAML::Value << cfg.appservice.hs_token;
  out << YAML::Key << "sender_localpart" << YAML::Value << cfg.appservice.sender_localpart;
  // Tyr paces itself; Synapse's per-user limits would throttle bans during a raid.
  out << YAML::Key << "rate_limited" << YAML::Value << false;
  out << YAML::Key << "namespaces" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap << YAML::Key << "exclusive" << YAML::Value << true << YAML::Key << "regex"
      << YAML::Value << "^@" + regex_escape(cfg.appservice.user_prefix) + ".*:" + server + "$"
      << YAML::EndMap;
  out << YAML::BeginMap << YAML::Key << "exclusive" << YAML::Value << true << YAML::Key << "regex"
      << YAML::Value << "^@" + regex_escape(cfg.appservice.sender_localpart) + ":" + server + "$"
      << YAML::EndMap;
  out << YAML::EndSeq;
  out << YAML::Key << "aliases" << YAML::Value << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
  out << YAML::Key << "rooms" << YAML::Value << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
  out << YAML::EndMap;
  out << YAML::EndMap;
  if (!out.good()) throw std::logic_error("registration_yaml: emitter: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

std::string random_token() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    std::array<char, 256> reason{};
    ERR_error_string_n(ERR_get_error(), reason.data(), reason.size());
    throw std::runtime_error(std::string("random_token: OpenSSL RAND_bytes failed: ") +
                             reason.data());
  }
  // URL-safe base64 without padding: 43 characters, safe in URLs, YAML and HTTP headers.
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve(43);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  // 32 = 3 * 10 + 2: two bytes remain, giving three characters.
  const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8);
  out += alphabet[(v >> 18) & 63];
  out += alphabet[(v >> 12) & 63];
  out += alphabet[(v >> 6) & 63];
  return out;
}

}  // namespace tyr::engine
