// The listener sections of the config: the inline veto, the admin listener and the policy
// server. Each is optional; its presence turns the listener on.

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <string>

#include "engine/config/config_reader.hpp"
#include "engine/core/ids.hpp"

namespace tyr::engine {

void read_veto(const ConfigReader& c, const YamlSection& top, VetoConfig& v) {
  if (!top.find("veto")) return;
  const YamlSection s = c.subsection(top, "veto", false,
                                     {"bind_address", "port", "secret", "secret_path", "scope",
                                      "deadline_ms", "fail_open", "notices_per_minute"});
  v.enabled = true;
  if (auto b = c.string_value(s, "bind_address", false)) {
    v.bind_address = *b;
    c.check_non_empty(s, "bind_address", v.bind_address);
  }
  if (s.find("port")) v.port = c.port_value(s);
  const auto secret = c.string_value(s, "secret", false);
  const auto secret_path = c.string_value(s, "secret_path", false);
  if (secret && secret_path)
    c.fail_at(*s.find("secret_path"),
              "key 'veto.secret_path': give 'secret' or 'secret_path', not both");
  if (secret) {
    v.secret = *secret;
  } else if (secret_path) {
    const std::filesystem::path p = resolve(*secret_path, c.base_dir());
    std::ifstream in(p);
    if (!in) c.fail_at(*s.find("secret_path"), "key 'veto.secret_path': cannot read " + p.string());
    std::getline(in, v.secret);
    while (!v.secret.empty() && (v.secret.back() == '\r' || v.secret.back() == ' '))
      v.secret.pop_back();
  } else {
    c.fail(s.mark, "key 'veto': needs 'secret' or 'secret_path' (the module's Bearer secret)");
  }
  if (secret) {
    c.check_secret_length(s, "secret", v.secret);
  } else if (v.secret.size() < kMinSecretLength) {
    c.fail_at(*s.find("secret_path"), "key 'veto.secret_path': the secret in " +
                                          resolve(*secret_path, c.base_dir()).string() +
                                          " must be at least " + std::to_string(kMinSecretLength) +
                                          " characters");
  }
  if (auto scope = c.string_value(s, "scope", false)) {
    if (*scope != "protected_rooms" && *scope != "server") {
      c.fail_at(*s.find("scope"), "key 'veto.scope': expected 'protected_rooms' or 'server'");
    }
    v.whole_server = *scope == "server";
  }
  if (auto d = c.int_value(s, "deadline_ms")) {
    if (*d < 1 || *d > 10000)
      c.fail_at(*s.find("deadline_ms"), "key 'veto.deadline_ms': must be between 1 and 10000");
    v.deadline = std::chrono::milliseconds(*d);
  }
  if (auto f = c.bool_value(s, "fail_open")) v.fail_open = *f;
  if (auto n = c.int_value(s, "notices_per_minute")) {
    if (*n < 0 || *n > 1000)
      c.fail_at(*s.find("notices_per_minute"),
                "key 'veto.notices_per_minute': must be between 0 and 1000");
    v.notices_per_minute = static_cast<int>(*n);
  }
}

void read_admin(const ConfigReader& c, const YamlSection& top, AdminConfig& a) {
  if (!top.find("admin")) return;
  const YamlSection s = c.subsection(top, "admin", false, {"bind_address", "port"});
  a.enabled = true;
  if (auto b = c.string_value(s, "bind_address", false)) {
    a.bind_address = *b;
    c.check_non_empty(s, "bind_address", a.bind_address);
  }
  if (s.find("port")) a.port = c.port_value(s);
}

void read_policy_server(const ConfigReader& c, const YamlSection& top, PolicyServerConfig& p) {
  if (!top.find("policy_server")) return;
  const YamlSection s = c.subsection(
      top, "policy_server", false,
      {"bind_address", "port", "server_name", "key_path", "deadline_ms", "while_loading",
       "on_timeout", "key_fetch_timeout_ms", "verify_tls", "server_urls"});
  p.enabled = true;
  if (auto b = c.string_value(s, "bind_address", false)) {
    p.bind_address = *b;
    c.check_non_empty(s, "bind_address", p.bind_address);
  }
  if (s.find("port")) p.port = c.port_value(s);
  if (auto n = c.string_value(s, "server_name", false)) {
    if (!is_server_name(*n))
      c.fail_at(*s.find("server_name"),
                "key 'policy_server.server_name': not a server name (host, or host:port)");
    p.server_name = *n;
  }
  if (auto k = c.string_value(s, "key_path", false)) {
    c.check_non_empty(s, "key_path", *k);
    p.key_path = resolve(*k, c.base_dir());
  }
  const auto millis = [&](std::string_view key, long long lo, long long hi) {
    const auto v = c.int_value(s, key);
    if (v && (*v < lo || *v > hi))
      c.fail_at(*s.find(key), "key '" + s.dotted(key) + "': must be between " + std::to_string(lo) +
                                  " and " + std::to_string(hi));
    return v;
  };
  if (auto d = millis("deadline_ms", 1, 10000)) p.deadline = std::chrono::milliseconds(*d);
  if (auto d = millis("key_fetch_timeout_ms", 100, 30000))
    p.key_fetch_timeout = std::chrono::milliseconds(*d);
  const auto sign_or_refuse = [&](std::string_view key, bool& sign) {
    if (auto v = c.string_value(s, key, false)) {
      if (*v != "sign" && *v != "refuse")
        c.fail_at(*s.find(key), "key '" + s.dotted(key) + "': expected 'sign' or 'refuse'");
      sign = *v == "sign";
    }
  };
  sign_or_refuse("while_loading", p.sign_while_loading);
  sign_or_refuse("on_timeout", p.sign_on_timeout);
  if (auto v = c.bool_value(s, "verify_tls")) p.verify_tls = *v;
  if (const YamlEntry* e = c.require(s, "server_urls", false)) {
    if (!e->value.IsMap())
      c.fail_at(*e, "key 'policy_server.server_urls': expected a mapping of server name to URL");
    for (auto it = e->value.begin(); it != e->value.end(); ++it) {
      const YAML::Node key = it->first;
      const std::string name = key.IsScalar() ? key.Scalar() : std::string();
      const std::string where = "key 'policy_server.server_urls." + name + "': ";
      if (!is_server_name(name)) c.fail(key.Mark(), where + "not a server name");
      const YAML::Node value = it->second;
      if (!value.IsScalar()) c.fail(value.Mark(), where + "expected a URL");
      const std::string url = value.Scalar();
      if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0)
        c.fail(value.Mark(), where + "must start with https:// or http://");
      p.server_urls[name] = url;
    }
  }
}

}  // namespace tyr::engine
