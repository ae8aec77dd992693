// The typed readers every config section shares (values, ports, secrets, URLs), with errors
// that name the key and point at its file:line:col.

#include "engine/config/config_reader.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <system_error>

namespace tyr::engine {

using Entry = YamlEntry;
using Section = YamlSection;

std::filesystem::path resolve(const std::filesystem::path& p,
                              const std::filesystem::path& base_dir) {
  // Absolute at load time, so a later chdir (daemonising, tests) cannot change what it means.
  return std::filesystem::absolute(base_dir.empty() ? p : base_dir / p).lexically_normal();
}

YamlSection ConfigReader::top_section(const YAML::Node& root,
                                      std::initializer_list<std::string_view> allowed) const {
  return section(root, "", YAML::Mark(), allowed);
}

// An absent optional section reads as empty: errors point at the nearest mapping that exists.
YamlSection ConfigReader::subsection(const Section& parent, std::string_view key, bool required,
                                     std::initializer_list<std::string_view> allowed) const {
  const Entry* e = require(parent, key, required);
  if (e == nullptr) return Section{parent.dotted(key), parent.mark, {}};
  if (!e->value.IsMap()) fail_at(*e, "key '" + parent.dotted(key) + "': expected a mapping");
  return section(e->value, parent.dotted(key), e->value.Mark(), allowed);
}

// An optional list; nullptr when absent.
const YamlEntry* ConfigReader::list_entry(const Section& s, std::string_view key) const {
  const Entry* e = require(s, key, false);
  if (e != nullptr && !e->value.IsSequence()) {
    fail_at(*e, "key '" + s.dotted(key) + "': expected a list");
  }
  return e;
}

std::optional<std::string> ConfigReader::string_value(const Section& s, std::string_view key,
                                                      bool required) const {
  const Entry* e = require(s, key, required);
  if (e == nullptr) return std::nullopt;
  return string_of(*e, s.dotted(key));
}

std::optional<long long> ConfigReader::int_value(const Section& s, std::string_view key) const {
  const Entry* e = require(s, key, false);
  if (e == nullptr) return std::nullopt;
  const std::string where = "key '" + s.dotted(key) + "': ";
  // A quoted scalar carries the non-specific tag "!": "9000" is a string to YAML, and
  // accepting it would make the schema depend on quoting accidents.
  const std::string& tag = e->value.Tag();
  if (!e->value.IsScalar() || (tag != "?" && tag != "tag:yaml.org,2002:int")) {
    fail_at(*e, where + "expected an integer");
  }
  std::string_view text = e->value.Scalar();
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  long long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) fail_at(*e, where + "integer out of range");
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    fail_at(*e, where + "expected an integer");
  }
  return v;
}

std::optional<double> ConfigReader::number_value(const Section& s, std::string_view key) const {
  const Entry* e = require(s, key, false);
  if (e == nullptr) return std::nullopt;
  const std::string where = "key '" + s.dotted(key) + "': ";
  const std::string& tag = e->value.Tag();
  if (!e->value.IsScalar() ||
      (tag != "?" && tag != "tag:yaml.org,2002:float" && tag != "tag:yaml.org,2002:int")) {
    fail_at(*e, where + "expected a number");
  }
  std::string_view text = e->value.Scalar();
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !std::isfinite(v)) {
    fail_at(*e, where + "expected a number");
  }
  return v;
}

std::optional<bool> ConfigReader::bool_value(const Section& s, std::string_view key) const {
  const Entry* e = require(s, key, false);
  if (e == nullptr) return std::nullopt;
  return bool_of(*e, s.dotted(key));
}

void ConfigReader::check_non_empty(const Section& s, std::string_view key,
                                   const std::string& v) const {
  if (v.empty()) fail_at(*s.find(key), "key '" + s.dotted(key) + "': must not be empty");
}

// Secrets guard the appservice endpoint, the homeserver's API and the veto listener.
void ConfigReader::check_secret_length(const Section& s, std::string_view key,
                                       const std::string& v) const {
  if (v.size() < kMinSecretLength) {
    fail_at(*s.find(key), "key '" + s.dotted(key) + "': must be at least " +
                              std::to_string(kMinSecretLength) + " characters");
  }
}

void ConfigReader::check_http_url(const Section& s, std::string_view key,
                                  const std::string& v) const {
  if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
    fail_at(*s.find(key), "key '" + s.dotted(key) + "': must start with http:// or https://");
  }
}

// Localparts the appservice claims must be valid Matrix localparts, or Synapse refuses them.
void ConfigReader::check_localpart(const Section& s, std::string_view key,
                                   const std::string& v) const {
  check_non_empty(s, key, v);
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '=' || c == '/' || c == '-';
    if (!ok) {
      fail_at(*s.find(key), "key '" + s.dotted(key) + "': invalid character '" + std::string(1, c) +
                                "' (allowed: a-z 0-9 . _ = / -)");
    }
  }
}

uint16_t ConfigReader::port_value(const Section& s) const {
  const auto v = int_value(s, "port");
  if (v && (*v < 1 || *v > 65535))
    fail_at(*s.find("port"), "key '" + s.dotted("port") + "': must be between 1 and 65535");
  return static_cast<uint16_t>(*v);
}

}  // namespace tyr::engine
