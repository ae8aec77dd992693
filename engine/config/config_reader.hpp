#pragma once
// The typed readers every config section shares (engine/config only): strings, integers,
// booleans, ports, secrets and URLs, with errors that name the key ("key 'veto.port': must be
// between 1 and 65535") at its file:line:col. Sections beyond the core ones are read by free
// functions over a ConfigReader (listener_config.cpp).

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "engine/config/config.hpp"
#include "engine/core/yaml_document.hpp"

namespace tyr::engine {

// Absolute at load time, so a later chdir (daemonising, tests) cannot change what it means.
std::filesystem::path resolve(const std::filesystem::path& p,
                              const std::filesystem::path& base_dir);

class ConfigReader : public StrictYaml {
 public:
  ConfigReader(std::string file, Raise raise, std::filesystem::path base_dir)
      : StrictYaml(std::move(file), raise), base_dir_(std::move(base_dir)) {}

  const std::filesystem::path& base_dir() const { return base_dir_; }

  YamlSection top_section(const YAML::Node& root,
                          std::initializer_list<std::string_view> allowed) const;
  // An absent optional section reads as empty: errors point at the nearest mapping that exists.
  YamlSection subsection(const YamlSection& parent, std::string_view key, bool required,
                         std::initializer_list<std::string_view> allowed) const;
  // An optional list; nullptr when absent.
  const YamlEntry* list_entry(const YamlSection& s, std::string_view key) const;
  std::optional<std::string> string_value(const YamlSection& s, std::string_view key,
                                          bool required) const;
  std::optional<long long> int_value(const YamlSection& s, std::string_view key) const;
  std::optional<bool> bool_value(const YamlSection& s, std::string_view key) const;
  std::optional<double> number_value(const YamlSection& s, std::string_view key) const;
  uint16_t port_value(const YamlSection& s) const;
  void check_non_empty(const YamlSection& s, std::string_view key, const std::string& v) const;
  // Secrets guard the appservice endpoint, the homeserver's API and the veto listener.
  void check_secret_length(const YamlSection& s, std::string_view key, const std::string& v) const;
  void check_http_url(const YamlSection& s, std::string_view key, const std::string& v) const;
  // Localparts the appservice claims must be valid Matrix localparts, or Synapse refuses them.
  void check_localpart(const YamlSection& s, std::string_view key, const std::string& v) const;

 protected:
  std::filesystem::path base_dir_;
};

// Listener sections (listener_config.cpp). Each sets `enabled` when its section is present.
void read_veto(const ConfigReader& c, const YamlSection& top, VetoConfig& v);
void read_admin(const ConfigReader& c, const YamlSection& top, AdminConfig& a);
void read_policy_server(const ConfigReader& c, const YamlSection& top, PolicyServerConfig& p);
// The `classifier` section (classifier_config.cpp).
void read_classifier(const ConfigReader& c, const YamlSection& top,
                     classifier::ClassifierOptions& o);

}  // namespace tyr::engine
