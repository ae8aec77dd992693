// Reading tyr.yaml: the Loader walks the document section by section (the listener sections are
// in listener_config.cpp) and checks every key and value.

#include "engine/config/config.hpp"

#include "engine/config/config_reader.hpp"
#include "engine/core/yaml_document.hpp"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "engine/core/entity.hpp"
#include "engine/core/ids.hpp"
#include "engine/policy/policy_rule.hpp"

namespace tyr::engine {
namespace {

namespace fs = std::filesystem;

void raise_config_error(const std::string& what) { throw ConfigError(what); }

[[noreturn]] void fail(const std::string& file, const YAML::Mark& mark, const std::string& msg) {
  throw ConfigError(yaml_position(file, mark) + ": " + msg);
}

// Errors blame `mark` in `blame_file`: the config's registration key when reading the
// registration file, 1:1 of the file itself otherwise.
std::string read_file(const fs::path& path, const std::string& blame_file, const YAML::Mark& mark,
                      const std::string& prefix) {
  const std::string what = prefix + "cannot read '" + path.string() + "': ";
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(blame_file, mark, what + "is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fail(blame_file, mark,
         what + (errno != 0 ? std::generic_category().message(errno) : "cannot open"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(blame_file, mark, what + "read error");
  return text.str();
}

using Entry = YamlEntry;
using Section = YamlSection;

class Loader : ConfigReader {
 public:
  Loader(std::string file, fs::path base_dir, bool read_tokens = true)
      : ConfigReader(std::move(file), raise_config_error, std::move(base_dir)),
        read_tokens_(read_tokens) {}

  Config load(const std::string& text) {
    const YAML::Node root = parse_document(text, /*empty_is_map=*/false);
    const Section top =
        top_section(root, {"homeserver", "appservice", "management", "data_dir", "log_level",
                           "policy", "feeds", "lists", "rules", "reports", "veto", "policy_server",
                           "admin", "catch_up", "executor", "classifier"});
    Config cfg;
    read_homeserver(top, cfg.homeserver);
    read_appservice(top, cfg.appservice);
    read_management(top, cfg.management);
    read_policy(top, cfg.policy);
    read_feeds(top, cfg.feeds);
    read_lists(top, cfg.lists);
    read_rules(top, cfg.rules);
    read_reports(top, cfg.reports);
    read_veto(*this, top, cfg.veto);
    read_policy_server(*this, top, cfg.policy_server);
    read_admin(*this, top, cfg.admin);
    read_catch_up(top, cfg.catch_up);
    read_executor(top, cfg.executor);
    read_classifier(*this, top, cfg.classifier);
    if (cfg.catch_up.max_age >= cfg.appservice.dedupe_retention) {
      fail_at(*top.find("catch_up"),
              "key 'catch_up.max_age_seconds': must be shorter than "
              "appservice.dedupe_retention_hours (catch-up relies on it)");
    }
    if (cfg.reports.enabled && cfg.homeserver.admin_token.empty()) {
      fail_at(*top.find("reports"),
              "key 'reports': needs 'homeserver.admin_token' (a server "
              "admin's access token) to read the homeserver's abuse reports");
    }

    const auto data_dir = string_value(top, "data_dir", true);
    if (data_dir->empty()) fail_at(*top.find("data_dir"), "key 'data_dir': must not be empty");
    cfg.data_dir = resolve(*data_dir, base_dir_);
    if (cfg.policy_server.key_path.empty())
      cfg.policy_server.key_path = cfg.data_dir / "policy_server.key";
    if (cfg.policy_server.server_name.empty())
      cfg.policy_server.server_name = cfg.homeserver.server_name;

    if (auto level = string_value(top, "log_level", false)) {
      if (*level != "debug" && *level != "info" && *level != "warn" && *level != "error") {
        fail_at(*top.find("log_level"),
                "key 'log_level': expected one of debug, info, warn, error");
      }
      cfg.log_level = *level;
    }

    if (!cfg.appservice.registration.empty() && read_tokens_) read_registration(cfg);
    return cfg;
  }

 private:
  void read_homeserver(const Section& top, HomeserverConfig& hs) const {
    const Section s = subsection(top, "homeserver", true, {"url", "server_name", "admin_token"});
    hs.url = *string_value(s, "url", true);
    check_http_url(s, "url", hs.url);
    hs.server_name = *string_value(s, "server_name", true);
    check_non_empty(s, "server_name", hs.server_name);
    if (auto v = string_value(s, "admin_token", false)) hs.admin_token = *v;
  }

  void read_appservice(const Section& top, AppserviceConfig& as) {
    const Section s = subsection(
        top, "appservice", false,
        {"id", "bind_address", "port", "public_url", "sender_localpart", "user_prefix", "as_token",
         "hs_token", "registration", "max_body_bytes", "dedupe_retention_hours"});
    if (auto v = string_value(s, "id", false)) {
      as.id = *v;
      check_non_empty(s, "id", as.id);
      if (as.id.find('|') != std::string::npos) {
        fail_at(*s.find("id"), "key 'appservice.id': must not contain '|'");
      }
    }
    if (auto v = string_value(s, "bind_address", false)) {
      as.bind_address = *v;
      check_non_empty(s, "bind_address", as.bind_address);
    }
    if (auto v = int_value(s, "port")) {
      if (*v < 1 || *v > 65535) {
        fail_at(*s.find("port"), "key 'appservice.port': must be between 1 and 65535");
      }
      as.port = static_cast<uint16_t>(*v);
    }
    if (auto v = string_value(s, "public_url", false)) {
      as.public_url = *v;
      check_http_url(s, "public_url", as.public_url);
    }
    if (auto v = string_value(s, "sender_localpart", false)) {
      as.sender_localpart = *v;
      check_localpart(s, "sender_localpart", as.sender_localpart);
    }
    if (auto v = string_value(s, "user_prefix", false)) {
      // An empty prefix would claim every user on the server as exclusively Tyr's.
      as.user_prefix = *v;
      check_localpart(s, "user_prefix", as.user_prefix);
    }
    if (auto v = int_value(s, "max_body_bytes")) {
      if (*v <= 0) {
        fail_at(*s.find("max_body_bytes"), "key 'appservice.max_body_bytes': must be > 0");
      }
      as.max_body_bytes = static_cast<size_t>(*v);
    }
    if (auto v = int_value(s, "dedupe_retention_hours")) {
      if (*v < 2 || *v > 24 * 365) {
        fail_at(*s.find("dedupe_retention_hours"),
                "key 'appservice.dedupe_retention_hours': must be between 2 and 8760");
      }
      as.dedupe_retention = std::chrono::hours(*v);
    }
    read_token_source(s, as);
  }

  // Tokens come from exactly one place, so there is never a question of which one Synapse has.
  void read_token_source(const Section& s, AppserviceConfig& as) {
    const auto as_token = string_value(s, "as_token", false);
    const auto hs_token = string_value(s, "hs_token", false);
    const auto registration = string_value(s, "registration", false);
    if (registration) {
      if (as_token || hs_token) {
        fail(file_, s.find("registration")->key.Mark(),
             "key 'appservice.registration' cannot be combined with inline "
             "'appservice.as_token'/'appservice.hs_token'");
      }
      check_non_empty(s, "registration", *registration);
      registration_mark_ = s.find("registration")->value.Mark();
      as.registration = resolve(*registration, base_dir_);
      return;
    }
    if (!as_token && !hs_token) {
      fail(file_, s.mark,
           "missing required key 'appservice.registration' (or both 'appservice.as_token' and "
           "'appservice.hs_token')");
    }
    require(s, "as_token", true);
    require(s, "hs_token", true);
    check_non_empty(s, "as_token", *as_token);
    check_non_empty(s, "hs_token", *hs_token);
    check_secret_length(s, "as_token", *as_token);
    check_secret_length(s, "hs_token", *hs_token);
    as.as_token = *as_token;
    as.hs_token = *hs_token;
  }

  void read_management(const Section& top, ManagementConfig& m) const {
    const Section s = subsection(top, "management", true,
                                 {"room", "operators", "command_prefix", "notices_per_minute"});
    m.room = *string_value(s, "room", true);
    if (!tyr::is_room_id(m.room) && !tyr::is_room_alias(m.room)) {
      fail_at(*s.find("room"),
              "key 'management.room': expected a room ID (!...) or alias (#...:server)");
    }

    const Entry& ops = *require(s, "operators", true);
    if (!ops.value.IsSequence()) fail_at(ops, "key 'management.operators': expected a list");
    if (ops.value.size() == 0) fail_at(ops, "key 'management.operators': must not be empty");
    for (std::size_t i = 0; i < ops.value.size(); ++i) {
      const YAML::Node op = ops.value[i];
      const std::string where = "key 'management.operators[" + std::to_string(i) + "]': ";
      if (!op.IsScalar()) fail(file_, op.Mark(), where + "expected a string");
      if (!tyr::is_user_id(op.Scalar())) {
        fail(file_, op.Mark(), where + "expected a user ID (@local:server)");
      }
      m.operators.push_back(op.Scalar());
    }

    if (auto v = string_value(s, "command_prefix", false)) {
      m.command_prefix = *v;
      check_non_empty(s, "command_prefix", m.command_prefix);
    }
    if (auto n = int_value(s, "notices_per_minute")) {
      if (*n < 0 || *n > 10000) {
        fail_at(*s.find("notices_per_minute"),
                "key 'management.notices_per_minute': must be between 0 and 10000");
      }
      m.notices_per_minute = static_cast<int>(*n);
    }
  }

  void read_catch_up(const Section& top, CatchUpConfig& c) const {
    if (!top.find("catch_up")) return;
    const Section s = subsection(top, "catch_up", false,
                                 {"enabled", "interval_seconds", "max_age_seconds", "max_events",
                                  "settle_ms", "follow_up_seconds"});
    if (auto v = bool_value(s, "enabled")) c.enabled = *v;
    if (auto v = int_value(s, "interval_seconds")) {
      if (*v < 0 || *v > 86400) {
        fail_at(*s.find("interval_seconds"),
                "key 'catch_up.interval_seconds': must be between 0 and 86400");
      }
      c.interval = std::chrono::seconds(*v);
    }
    if (auto v = int_value(s, "max_age_seconds")) {
      if (*v < 60 || *v > 7 * 86400) {
        fail_at(*s.find("max_age_seconds"),
                "key 'catch_up.max_age_seconds': must be between 60 and 604800");
      }
      c.max_age = std::chrono::seconds(*v);
    }
    if (auto v = int_value(s, "max_events")) {
      if (*v < 1 || *v > 100000) {
        fail_at(*s.find("max_events"), "key 'catch_up.max_events': must be between 1 and 100000");
      }
      c.max_events = static_cast<int>(*v);
    }
    if (auto v = int_value(s, "settle_ms")) {
      if (*v < 0 || *v > 60000) {
        fail_at(*s.find("settle_ms"), "key 'catch_up.settle_ms': must be between 0 and 60000");
      }
      c.settle = std::chrono::milliseconds(*v);
    }
    if (const Entry* e = list_entry(s, "follow_up_seconds")) {
      if (e->value.size() > 10) fail_at(*e, "key 'catch_up.follow_up_seconds': at most 10 entries");
      c.follow_ups.clear();
      for (size_t i = 0; i < e->value.size(); ++i) {
        // Each item read as a one-entry section, so that it gets int_value's checks and positions.
        const std::string name = "follow_up_seconds[" + std::to_string(i) + "]";
        Section item{s.path, e->value.Mark(), {}};
        item.entries.emplace_back(name, Entry{e->key, e->value[i]});
        const long long v = *int_value(item, name);
        if (v < 1 || v > 3600) {
          fail_at(*item.find(name), "key 'catch_up." + name + "': must be between 1 and 3600");
        }
        c.follow_ups.emplace_back(v);
      }
    }
  }

  void read_executor(const Section& top, ExecutorConfig& e) const {
    if (!top.find("executor")) return;
    const Section s = subsection(top, "executor", false, {"concurrency"});
    if (auto v = int_value(s, "concurrency")) {
      if (*v < 1 || *v > 64) {
        fail_at(*s.find("concurrency"), "key 'executor.concurrency': must be between 1 and 64");
      }
      e.concurrency = static_cast<int>(*v);
    }
  }

  void read_reports(const Section& top, ReportsConfig& r) const {
    if (!top.find("reports")) return;
    const Section s = subsection(
        top, "reports", false, {"poll_seconds", "trusted_reporters", "trusted_reports_to_redact"});
    r.enabled = true;
    if (auto v = int_value(s, "poll_seconds")) {
      if (*v < 1) fail_at(*s.find("poll_seconds"), "key 'reports.poll_seconds': must be >= 1");
      r.poll = std::chrono::seconds(*v);
    }
    if (const Entry* list = list_entry(s, "trusted_reporters")) {
      for (std::size_t i = 0; i < list->value.size(); ++i) {
        const YAML::Node item = list->value[i];
        const std::string where = "key 'reports.trusted_reporters[" + std::to_string(i) + "]': ";
        if (!item.IsScalar() || !tyr::is_user_id(item.Scalar())) {
          fail(file_, item.Mark(), where + "expected a user ID (@local:server)");
        }
        r.trusted_reporters.push_back(item.Scalar());
      }
    }
    if (auto v = int_value(s, "trusted_reports_to_redact")) {
      if (*v < 1) {
        fail_at(*s.find("trusted_reports_to_redact"),
                "key 'reports.trusted_reports_to_redact': must be >= 1");
      }
      r.trusted_reports_to_redact = static_cast<int>(*v);
    }
  }

  void read_rules(const Section& top, RulesConfig& r) const {
    const Section s = subsection(top, "rules", false, {"dir"});
    if (auto dir = string_value(s, "dir", false)) {
      if (dir->empty()) fail_at(*s.find("dir"), "key 'rules.dir': must not be empty");
      r.dir = resolve(*dir, base_dir_);
    }
  }

  void read_policy(const Section& top, PolicyConfig& p) const {
    const Section s = subsection(top, "policy", false,
                                 {"dry_run", "allow", "takedown_redact_window", "ban_pacing_ms"});
    if (auto v = bool_value(s, "dry_run")) p.dry_run = *v;
    if (const Entry* allow = list_entry(s, "allow")) {
      for (std::size_t i = 0; i < allow->value.size(); ++i) {
        const YAML::Node item = allow->value[i];
        const std::string where = "key 'policy.allow[" + std::to_string(i) + "]': ";
        if (!item.IsScalar()) fail(file_, item.Mark(), where + "expected a string");
        const std::string& entity = item.Scalar();
        // The sigil says what kind of entity it is; anything else is a server name.
        const EntityKind kind = entity.rfind('@', 0) == 0 ? EntityKind::kUser
                                : entity.rfind('!', 0) == 0 || entity.rfind('#', 0) == 0
                                    ? EntityKind::kRoom
                                    : EntityKind::kServer;
        if (auto problem = entity_problem(kind, entity)) {
          fail(file_, item.Mark(), where + *problem);
        }
        p.allow.push_back(entity);
      }
    }
    if (auto v = int_value(s, "takedown_redact_window")) {
      if (*v <= 0) {
        fail_at(*s.find("takedown_redact_window"),
                "key 'policy.takedown_redact_window': must be > 0");
      }
      p.takedown_redact_window = std::chrono::seconds(*v);
    }
    if (auto v = int_value(s, "ban_pacing_ms")) {
      if (*v < 0) fail_at(*s.find("ban_pacing_ms"), "key 'policy.ban_pacing_ms': must be >= 0");
      p.ban_pacing = std::chrono::milliseconds(*v);
    }
  }

  void read_feeds(const Section& top, std::vector<FeedConfig>& feeds) const {
    const Entry* list = list_entry(top, "feeds");
    if (list == nullptr) return;
    for (std::size_t i = 0; i < list->value.size(); ++i) {
      const Section s = item_section(list->value[i], "feeds[" + std::to_string(i) + "]",
                                     {"name", "url", "format", "kind", "interval", "recommendation",
                                      "reason", "shadow", "allow_private"});
      FeedConfig f;
      f.name = *string_value(s, "name", true);
      check_non_empty(s, "name", f.name);
      for (char c : f.name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
          fail_at(*s.find("name"), "key '" + s.dotted("name") + "': invalid character '" +
                                       std::string(1, c) + "' (allowed: a-z 0-9 _ -)");
        }
      }
      // The name is the list's identity ("feed:<name>") and the key of its persisted state.
      for (std::size_t j = 0; j < feeds.size(); ++j) {
        if (feeds[j].name == f.name) {
          fail_at(*s.find("name"), "key '" + s.dotted("name") + "': duplicate feed name '" +
                                       f.name + "' (also feeds[" + std::to_string(j) + "])");
        }
      }

      f.url = *string_value(s, "url", true);
      check_http_url(s, "url", f.url);
      if (f.url.find_first_of(" \t\r\n") != std::string::npos) {
        fail_at(*s.find("url"), "key '" + s.dotted("url") + "': must not contain whitespace");
      }
      if (const auto rest = std::string_view(f.url).substr(f.url.find("://") + 3);
          rest.empty() || rest.front() == '/' || rest.front() == '?' || rest.front() == '#') {
        fail_at(*s.find("url"), "key '" + s.dotted("url") + "': must name a host");
      }

      const std::string format = *string_value(s, "format", true);
      if (format == "json") {
        f.format = FeedConfig::Format::kJsonState;
      } else if (format == "text") {
        f.format = FeedConfig::Format::kText;
      } else if (format == "csv") {
        f.format = FeedConfig::Format::kCsv;
      } else {
        fail_at(*s.find("format"),
                "key '" + s.dotted("format") + "': expected one of json, text, csv");
      }

      if (auto v = string_value(s, "kind", false)) {
        const auto kind = policy::kind_from_name(*v);
        if (!kind) {
          fail_at(*s.find("kind"),
                  "key '" + s.dotted("kind") + "': expected one of user, server, room");
        }
        // A Mastodon export lists domains; reading them as users or rooms would match nothing.
        if (f.format == FeedConfig::Format::kCsv && *kind != policy::EntityKind::kServer) {
          fail_at(*s.find("kind"), "key '" + s.dotted("kind") + "': a csv feed lists servers");
        }
        f.kind = *kind;
      }

      if (auto v = int_value(s, "interval")) {
        // Feeds are other people's servers: polling them more often than this is abuse.
        if (*v < 10) {
          fail_at(*s.find("interval"), "key '" + s.dotted("interval") + "': must be >= 10");
        }
        f.interval = std::chrono::seconds(*v);
      }

      if (auto v = string_value(s, "recommendation", false)) {
        // An unknown recommendation is never acted on, so a typo would disable the feed quietly.
        if (policy::parse_recommendation(*v) == policy::Recommendation::kUnknown) {
          fail_at(*s.find("recommendation"), "key '" + s.dotted("recommendation") +
                                                 "': unknown recommendation '" + *v +
                                                 "' (expected m.ban or m.takedown)");
        }
        f.recommendation = *v;
      }

      f.reason = "listed in feed " + f.name;
      if (auto v = string_value(s, "reason", false)) f.reason = *v;
      if (auto v = bool_value(s, "shadow")) f.shadow = *v;
      if (auto v = bool_value(s, "allow_private")) f.allow_private = *v;
      feeds.push_back(std::move(f));
    }
  }

  void read_lists(const Section& top, std::vector<ListSetting>& lists) const {
    const Entry* list = list_entry(top, "lists");
    if (list == nullptr) return;
    for (std::size_t i = 0; i < list->value.size(); ++i) {
      const Section s =
          item_section(list->value[i], "lists[" + std::to_string(i) + "]", {"room", "shadow"});
      ListSetting l;
      l.room = *string_value(s, "room", true);
      if (!tyr::is_room_id(l.room) && !tyr::is_room_alias(l.room)) {
        fail_at(*s.find("room"),
                "key '" + s.dotted("room") + "': expected a room ID (!...) or alias (#...:server)");
      }
      // Two settings for one list would leave which one applies to the order of a map.
      for (std::size_t j = 0; j < lists.size(); ++j) {
        if (lists[j].room == l.room) {
          fail_at(*s.find("room"), "key '" + s.dotted("room") + "': duplicate list '" + l.room +
                                       "' (also lists[" + std::to_string(j) + "])");
        }
      }
      if (auto v = bool_value(s, "shadow")) l.shadow = *v;
      lists.push_back(std::move(l));
    }
  }

  // Synapse's registration file: only what Tyr relies on is read, and it must agree with ours.
  void read_registration(Config& cfg) const {
    AppserviceConfig& as = cfg.appservice;
    const std::string reg_file = as.registration.string();
    const std::string text =
        read_file(as.registration, file_, registration_mark_, "key 'appservice.registration': ");
    const YAML::Node root =
        StrictYaml(reg_file, raise_config_error).parse_document(text, /*empty_is_map=*/false);
    // Synapse's YAML loader keeps the last of duplicated keys, yaml-cpp's lookup the first:
    // a duplicate would make the two read different tokens.
    std::set<std::string, std::less<>> seen;
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (it->first.IsScalar() && !seen.insert(it->first.Scalar()).second) {
        fail(reg_file, it->first.Mark(), "duplicate key '" + it->first.Scalar() + "'");
      }
    }

    auto field = [&](const char* key,
                     bool required) -> std::optional<std::pair<std::string, YAML::Mark>> {
      const YAML::Node n = root[key];
      if (!n.IsDefined()) {
        if (required) {
          fail(reg_file, YAML::Mark(), std::string("missing required key '") + key + "'");
        }
        return std::nullopt;
      }
      if (!n.IsScalar()) {
        fail(reg_file, n.Mark(), std::string("key '") + key + "': expected a string");
      }
      if (required && n.Scalar().empty()) {
        fail(reg_file, n.Mark(), std::string("key '") + key + "': must not be empty");
      }
      return std::make_pair(n.Scalar(), n.Mark());
    };
    auto agree = [&](const char* key, const std::string& ours, const char* our_key) {
      if (auto theirs = field(key, false); theirs && theirs->first != ours) {
        fail(reg_file, theirs->second,
             std::string("key '") + key + "': '" + theirs->first + "' does not match '" + our_key +
                 "' ('" + ours + "') in " + file_);
      }
    };

    as.as_token = field("as_token", true)->first;
    as.hs_token = field("hs_token", true)->first;
    agree("id", as.id, "appservice.id");
    agree("sender_localpart", as.sender_localpart, "appservice.sender_localpart");
  }

  bool read_tokens_ = true;
  YAML::Mark registration_mark_;  // value of appservice.registration, for read errors
};

}  // namespace

Config load_config_string(const std::string& yaml, const std::string& name,
                          const std::filesystem::path& base_dir) {
  return Loader(name, base_dir).load(yaml);
}

Config load_config_file(const std::filesystem::path& path, bool read_tokens) {
  const std::string file = path.string();
  const std::string text = read_file(path, file, YAML::Mark(), "");
  Config cfg = Loader(file, path.parent_path(), read_tokens).load(text);
  cfg.source = path;
  return cfg;
}

}  // namespace tyr::engine
