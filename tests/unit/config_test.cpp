#include "engine/config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include "tests/unit/temp_dir.hpp"

namespace fs = std::filesystem;
using tyr::engine::Config;
using tyr::engine::ConfigError;
using tyr::engine::load_config_file;
using tyr::engine::load_config_string;
using tyr::engine::random_token;
using tyr::engine::registration_yaml;

namespace {

const fs::path kFixtures = fs::path(TYR_FIXTURES_DIR) / "config";

// Line numbers in the error tests below count lines of this text (1-based).
const std::string kValid = R"(homeserver:
  url: "http://127.0.0.1:8008"
  server_name: localhost
appservice:
  as_token: as_secret_for_tests_0123456789abcd
  hs_token: hs_secret_for_tests_0123456789abcd
management:
  room: "#tyr-admin:localhost"
  operators: ["@alice:localhost"]
data_dir: ./data
)";

// kValid's token lines: tests add keys after them or replace them.
const std::string kAs = "as_token: as_secret_for_tests_0123456789abcd\n";
const std::string kHs = "hs_token: hs_secret_for_tests_0123456789abcd\n";

// The message of the ConfigError the text raises, so tests can compare it whole.
std::string error_of(const std::string& yaml, const fs::path& base_dir = {}) {
  try {
    load_config_string(yaml, "test.yaml", base_dir);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

using tyr::test::TempDir;

Config sample_config() {
  Config cfg;
  cfg.homeserver.url = "http://127.0.0.1:8008";
  cfg.homeserver.server_name = "localhost";
  cfg.appservice.as_token = "as_secret_for_tests_0123456789abcd";
  cfg.appservice.hs_token = "hs_secret_for_tests_0123456789abcd";
  return cfg;
}

}  // namespace

TEST_CASE("config: a full config parses with every value", "[config]") {
  const fs::path file = kFixtures / "full.yaml";
  const Config cfg = load_config_file(file);
  CHECK(cfg.source == file);
  CHECK(cfg.homeserver.url == "https://matrix.example.org");
  CHECK(cfg.homeserver.server_name == "example.org");
  CHECK(cfg.homeserver.admin_token == "syt_admin_secret");
  CHECK(cfg.appservice.id == "tyr-prod");
  CHECK(cfg.appservice.bind_address == "0.0.0.0");
  CHECK(cfg.appservice.port == 9100);
  CHECK(cfg.appservice.public_url == "http://tyr.internal:9100");
  CHECK(cfg.appservice.sender_localpart == "moderator");
  CHECK(cfg.appservice.user_prefix == "_mod_");
  CHECK(cfg.appservice.as_token == "as_secret_for_tests_0123456789abcd");
  CHECK(cfg.appservice.hs_token == "hs_secret_for_tests_0123456789abcd");
  CHECK(cfg.appservice.registration.empty());
  CHECK(cfg.appservice.max_body_bytes == 1048576);
  CHECK(cfg.management.room == "!abcdef:example.org");
  CHECK(cfg.management.operators ==
        std::vector<std::string>{"@alice:example.org", "@bob:example.org"});
  CHECK(cfg.management.command_prefix == "!mod");
  // Relative to the file's directory, not to wherever the tests run.
  CHECK(cfg.data_dir == fs::absolute(kFixtures / "state" / "db").lexically_normal());
  CHECK(cfg.log_level == "debug");
  CHECK(cfg.bot_user_id() == "@moderator:example.org");
  CHECK(cfg.appservice_url() == "http://tyr.internal:9100");
}

TEST_CASE("config: omitted optional keys take their defaults", "[config]") {
  const Config cfg = load_config_file(kFixtures / "minimal.yaml");
  CHECK(cfg.homeserver.admin_token.empty());
  CHECK(cfg.appservice.id == "tyr");
  CHECK(cfg.appservice.bind_address == "127.0.0.1");
  CHECK(cfg.appservice.port == 9000);
  CHECK(cfg.appservice.public_url.empty());
  CHECK(cfg.appservice.sender_localpart == "tyr");
  CHECK(cfg.appservice.user_prefix == "_tyr_");
  CHECK(cfg.appservice.max_body_bytes == 16 * 1024 * 1024);
  CHECK(cfg.management.operators == std::vector<std::string>{"@alice:localhost"});
  CHECK(cfg.management.command_prefix == "!tyr");
  CHECK(cfg.log_level == "info");
  CHECK(cfg.data_dir == fs::absolute(kFixtures / "data").lexically_normal());
  CHECK(cfg.appservice_url() == "http://127.0.0.1:9000");
  CHECK(cfg.bot_user_id() == "@tyr:localhost");
}

TEST_CASE("config: relative paths in a string resolve against base_dir, else the current dir",
          "[config]") {
  CHECK(load_config_string(kValid, "test.yaml", "/srv/tyr").data_dir == "/srv/tyr/data");
  CHECK(load_config_string(kValid, "test.yaml").data_dir ==
        (fs::current_path() / "data").lexically_normal());
  const std::string abs = replace(kValid, "data_dir: ./data", "data_dir: /var/lib/tyr");
  CHECK(load_config_string(abs, "test.yaml", "/srv/tyr").data_dir == "/var/lib/tyr");
}

TEST_CASE("config: unknown keys are rejected with their dotted path", "[config]") {
  CHECK(error_of(replace(kValid, "  " + kAs, "  " + kAs + "  prot: 1\n")) ==
        "test.yaml:6:3: unknown key 'appservice.prot'");
  CHECK(error_of(kValid + "datadir: x\n") == "test.yaml:11:1: unknown key 'datadir'");
  // The error names the file it came from when loading from disk.
  const std::string file = (kFixtures / "unknown_key.yaml").string();
  CHECK_THROWS_WITH(load_config_file(kFixtures / "unknown_key.yaml"),
                    file + ":5:3: unknown key 'appservice.prot'");
}

TEST_CASE("config: wrong types name the key and what was expected", "[config]") {
  CHECK(error_of(replace(kValid, kAs, kAs + "  port: abc\n")) ==
        "test.yaml:6:9: key 'appservice.port': expected an integer");
  CHECK(error_of(replace(kValid, kAs, kAs + "  port: [1]\n")) ==
        "test.yaml:6:9: key 'appservice.port': expected an integer");
  CHECK(error_of(replace(kValid, "url: \"http://127.0.0.1:8008\"", "url: [a]")) ==
        "test.yaml:2:8: key 'homeserver.url': expected a string");
  CHECK(error_of(replace(kValid, "operators: [\"@alice:localhost\"]", "operators: \"@a:b\"")) ==
        "test.yaml:9:14: key 'management.operators': expected a list");
  CHECK(error_of(replace(kValid, "data_dir: ./data", "data_dir: {a: 1}")) ==
        "test.yaml:10:11: key 'data_dir': expected a string");
  CHECK(error_of("homeserver: 5\n") == "test.yaml:1:13: key 'homeserver': expected a mapping");
  CHECK(error_of(replace(kValid, "appservice:\n  " + kAs + "  " + kHs, "appservice:\n")) ==
        "test.yaml:4:1: key 'appservice': expected a mapping");
  // An empty value sits where yaml-cpp finds the next token, so the key is blamed instead.
  CHECK(error_of(replace(kValid, "  server_name: localhost\n", "  server_name:\n")) ==
        "test.yaml:3:3: key 'homeserver.server_name': expected a string");
}

TEST_CASE("config: a quoted number is a string, not an integer", "[config]") {
  const std::string quoted = replace(kValid, kAs, kAs + "  port: \"9000\"\n");
  CHECK(error_of(quoted) == "test.yaml:6:9: key 'appservice.port': expected an integer");
  const std::string plain = replace(kValid, kAs, kAs + "  port: 9001\n");
  CHECK(load_config_string(plain, "test.yaml").appservice.port == 9001);
}

TEST_CASE("config: integers out of their range are rejected", "[config]") {
  auto with_port = [](const std::string& v) {
    return replace(kValid, kAs, kAs + "  port: " + v + "\n");
  };
  CHECK(error_of(with_port("0")) ==
        "test.yaml:6:9: key 'appservice.port': must be between 1 and 65535");
  CHECK(error_of(with_port("65536")) ==
        "test.yaml:6:9: key 'appservice.port': must be between 1 and 65535");
  CHECK(error_of(with_port("99999999999999999999")) ==
        "test.yaml:6:9: key 'appservice.port': integer out of range");
  CHECK(error_of(with_port("9e3")) == "test.yaml:6:9: key 'appservice.port': expected an integer");
  CHECK(error_of(replace(kValid, kAs, kAs + "  max_body_bytes: 0\n")) ==
        "test.yaml:6:19: key 'appservice.max_body_bytes': must be > 0");
}

TEST_CASE("config: missing required keys point at their parent mapping", "[config]") {
  CHECK(error_of(replace(kValid, "  url: \"http://127.0.0.1:8008\"\n", "")) ==
        "test.yaml:2:3: missing required key 'homeserver.url'");
  CHECK(error_of(replace(kValid, "data_dir: ./data\n", "")) ==
        "test.yaml:1:1: missing required key 'data_dir'");
  CHECK(error_of(replace(kValid, "  room: \"#tyr-admin:localhost\"\n", "")) ==
        "test.yaml:8:3: missing required key 'management.room'");
  // At the top level the position is always 1:1, even after leading comments.
  CHECK(error_of("# tyr\n\nhomeserver: {url: \"http://h\", server_name: h}\n"
                 "appservice: {as_token: as_secret_for_tests_0123456789abcd,\n"
                 "             hs_token: hs_secret_for_tests_0123456789abcd}\n") ==
        "test.yaml:1:1: missing required key 'management'");
}

TEST_CASE("config: a duplicated key is reported at its second occurrence", "[config]") {
  CHECK(error_of(replace(kValid, "  server_name: localhost\n",
                         "  server_name: localhost\n  server_name: other\n")) ==
        "test.yaml:4:3: duplicate key 'homeserver.server_name'");
  CHECK(error_of(kValid + "data_dir: ./other\n") == "test.yaml:11:1: duplicate key 'data_dir'");
}

TEST_CASE("config: YAML syntax errors carry yaml-cpp's message and a 1-based position",
          "[config]") {
  CHECK(error_of("homeserver: [1,\nappservice: 2\n") ==
        "test.yaml:3:1: end of sequence flow not found");
  CHECK(error_of("a: b: c\n") == "test.yaml:1:5: illegal map value");
}

TEST_CASE("config: the document must be one mapping", "[config]") {
  CHECK(error_of("") == "test.yaml:1:1: expected a mapping at the top level");
  CHECK(error_of("- a\n") == "test.yaml:1:1: expected a mapping at the top level");
  CHECK(error_of(kValid + "---\nlog_level: debug\n") ==
        "test.yaml:12:1: expected a single YAML document");
}

TEST_CASE("config: values are validated", "[config]") {
  CHECK(error_of(replace(kValid, "http://127.0.0.1:8008", "127.0.0.1:8008")) ==
        "test.yaml:2:8: key 'homeserver.url': must start with http:// or https://");
  CHECK(error_of(replace(kValid, "server_name: localhost", "server_name: \"\"")) ==
        "test.yaml:3:16: key 'homeserver.server_name': must not be empty");
  CHECK(error_of(replace(kValid, "\"#tyr-admin:localhost\"", "tyr-admin")) ==
        "test.yaml:8:9: key 'management.room': expected a room ID (!...) or alias (#...:server)");
  CHECK(error_of(replace(kValid, "[\"@alice:localhost\"]", "[\"@alice:localhost\", bob]")) ==
        "test.yaml:9:35: key 'management.operators[1]': expected a user ID (@local:server)");
  CHECK(error_of(replace(kValid, "[\"@alice:localhost\"]", "[]")) ==
        "test.yaml:9:14: key 'management.operators': must not be empty");
  CHECK(error_of(kValid + "log_level: verbose\n") ==
        "test.yaml:11:12: key 'log_level': expected one of debug, info, warn, error");
  CHECK(error_of(replace(kValid, kAs, kAs + "  id: a|b\n")) ==
        "test.yaml:6:7: key 'appservice.id': must not contain '|'");
  CHECK(error_of(replace(kValid, kAs, kAs + "  sender_localpart: Tyr\n")) ==
        "test.yaml:6:21: key 'appservice.sender_localpart': invalid character 'T' "
        "(allowed: a-z 0-9 . _ = / -)");
  CHECK(error_of(replace(kValid, kAs, kAs + "  user_prefix: \"\"\n")) ==
        "test.yaml:6:16: key 'appservice.user_prefix': must not be empty");
}

TEST_CASE("config: tokens are needed inline or from a registration file", "[config]") {
  CHECK(error_of(replace(kValid, "  " + kAs + "  " + kHs, "  port: 9000\n")) ==
        "test.yaml:5:3: missing required key 'appservice.registration' (or both "
        "'appservice.as_token' and 'appservice.hs_token')");
  // Without an appservice section there is no mapping to point at but the top.
  CHECK(error_of(replace(kValid, "appservice:\n  " + kAs + "  " + kHs, "")) ==
        "test.yaml:1:1: missing required key 'appservice.registration' (or both "
        "'appservice.as_token' and 'appservice.hs_token')");
  CHECK(error_of(replace(kValid, "  " + kHs, "")) ==
        "test.yaml:5:3: missing required key 'appservice.hs_token'");
  CHECK(error_of(replace(kValid, "  " + kHs, "  registration: reg.yaml\n")) ==
        "test.yaml:6:3: key 'appservice.registration' cannot be combined with inline "
        "'appservice.as_token'/'appservice.hs_token'");
}

TEST_CASE("config: inline secrets shorter than 32 characters are refused", "[config]") {
  const std::string as31(31, 'a');
  const std::string hs31(31, 'h');
  CHECK(error_of(
            replace(kValid, "as_token: as_secret_for_tests_0123456789abcd", "as_token: " + as31)) ==
        "test.yaml:5:13: key 'appservice.as_token': must be at least 32 characters");
  CHECK(error_of(replace(kValid, "hs_token: hs_secret_for_tests_0123456789abcd",
                         "hs_token: \"" + hs31 + "\"")) ==
        "test.yaml:6:13: key 'appservice.hs_token': must be at least 32 characters");
  const Config at_minimum =
      load_config_string(replace(kValid, "hs_token: hs_secret_for_tests_0123456789abcd",
                                 "hs_token: " + std::string(32, 'h')),
                         "test.yaml");
  CHECK(at_minimum.appservice.hs_token == std::string(32, 'h'));
  // What `tyr registration` generates is comfortably long enough.
  CHECK(random_token().size() >= tyr::engine::kMinSecretLength);

  CHECK(error_of(kValid + "veto:\n  secret: \"" + std::string(31, 's') + "\"\n") ==
        "test.yaml:12:11: key 'veto.secret': must be at least 32 characters");
  TempDir dir(/*create=*/true);
  const fs::path secret_file = dir.write("veto.secret", std::string(20, 's') + "\n");
  CHECK(error_of(kValid + "veto:\n  secret_path: veto.secret\n", dir.path()) ==
        "test.yaml:12:16: key 'veto.secret_path': the secret in " + secret_file.string() +
            " must be at least 32 characters");
  dir.write("veto.secret", std::string(32, 's') + "\n");
  CHECK(load_config_string(kValid + "veto:\n  secret_path: veto.secret\n", "test.yaml", dir.path())
            .veto.secret == std::string(32, 's'));
}

TEST_CASE("config: tokens are read from the registration file next to the config", "[config]") {
  TempDir dir(/*create=*/true);
  Config generated = sample_config();
  generated.appservice.as_token = random_token();
  generated.appservice.hs_token = random_token();
  const fs::path reg = dir.write("registration.yaml", registration_yaml(generated));
  const std::string config_text =
      replace(kValid, "  " + kAs + "  " + kHs, "  registration: registration.yaml\n");
  const fs::path config_file = dir.write("tyr.yaml", config_text);

  const Config cfg = load_config_file(config_file);
  CHECK(cfg.appservice.registration == reg);
  CHECK(cfg.appservice.as_token == generated.appservice.as_token);
  CHECK(cfg.appservice.hs_token == generated.appservice.hs_token);
  CHECK(cfg.data_dir == dir.path() / "data");
}

TEST_CASE("config: a registration file that disagrees with the config is an error", "[config]") {
  TempDir dir(/*create=*/true);
  const std::string config_text =
      replace(kValid, "  " + kAs + "  " + kHs, "  registration: reg.yaml\n");
  const std::string reg = (dir.path() / "reg.yaml").string();

  dir.write("reg.yaml", "id: other\nas_token: a\nhs_token: h\n");
  CHECK(error_of(config_text, dir.path()) ==
        reg + ":1:5: key 'id': 'other' does not match 'appservice.id' ('tyr') in test.yaml");

  dir.write("reg.yaml", "as_token: a\nhs_token: h\nsender_localpart: bot\n");
  CHECK(error_of(config_text, dir.path()) ==
        reg +
            ":3:19: key 'sender_localpart': 'bot' does not match "
            "'appservice.sender_localpart' ('tyr') in test.yaml");

  dir.write("reg.yaml", "id: tyr\nas_token: a\n");
  CHECK(error_of(config_text, dir.path()) == reg + ":1:1: missing required key 'hs_token'");

  dir.write("reg.yaml", "as_token: a\nhs_token: h\nas_token: b\n");
  CHECK(error_of(config_text, dir.path()) == reg + ":3:1: duplicate key 'as_token'");

  dir.write("reg.yaml", "as_token: [a\n");
  CHECK(error_of(config_text, dir.path()) == reg + ":2:1: end of sequence flow not found");

  fs::remove(dir.path() / "reg.yaml");
  CHECK(error_of(config_text, dir.path()) ==
        "test.yaml:5:17: key 'appservice.registration': cannot read '" + reg +
            "': No such file or directory");
}

TEST_CASE("config: a missing config file is reported as such", "[config]") {
  const fs::path missing = kFixtures / "does_not_exist.yaml";
  CHECK_THROWS_WITH(
      load_config_file(missing),
      missing.string() + ":1:1: cannot read '" + missing.string() + "': No such file or directory");
}

TEST_CASE("config: registration_yaml round-trips with an exclusive user namespace", "[config]") {
  Config cfg = sample_config();
  const YAML::Node reg = YAML::Load(registration_yaml(cfg));
  CHECK(reg["id"].as<std::string>() == "tyr");
  CHECK(reg["url"].as<std::string>() == "http://127.0.0.1:9000");
  CHECK(reg["as_token"].as<std::string>() == "as_secret_for_tests_0123456789abcd");
  CHECK(reg["hs_token"].as<std::string>() == "hs_secret_for_tests_0123456789abcd");
  CHECK(reg["sender_localpart"].as<std::string>() == "tyr");
  CHECK(reg["rate_limited"].as<bool>() == false);
  REQUIRE(reg["namespaces"]["aliases"].IsSequence());
  CHECK(reg["namespaces"]["aliases"].size() == 0);
  REQUIRE(reg["namespaces"]["rooms"].IsSequence());
  CHECK(reg["namespaces"]["rooms"].size() == 0);

  const YAML::Node users = reg["namespaces"]["users"];
  REQUIRE(users.IsSequence());
  REQUIRE(users.size() == 2);
  auto claimed = [&](const std::string& user_id) {
    for (const auto& ns : users) {
      if (ns["exclusive"].as<bool>() &&
          std::regex_search(user_id, std::regex(ns["regex"].as<std::string>()))) {
        return true;
      }
    }
    return false;
  };
  CHECK(claimed("@_tyr_x:localhost"));
  CHECK(claimed("@tyr:localhost"));
  CHECK_FALSE(claimed("@tyr:localhostX"));
  CHECK_FALSE(claimed("@alice:localhost"));
  CHECK_FALSE(claimed("@tyrx:localhost"));
}

TEST_CASE("config: registration_yaml escapes regex metacharacters in the server name", "[config]") {
  Config cfg = sample_config();
  cfg.homeserver.server_name = "example.org";
  cfg.appservice.public_url = "https://tyr.example.org";
  const YAML::Node reg = YAML::Load(registration_yaml(cfg));
  CHECK(reg["url"].as<std::string>() == "https://tyr.example.org");
  const YAML::Node users = reg["namespaces"]["users"];
  CHECK(users[0]["regex"].as<std::string>() == R"(^@_tyr_.*:example\.org$)");
  CHECK(users[1]["regex"].as<std::string>() == R"(^@tyr:example\.org$)");
  CHECK(std::regex_search("@tyr:example.org", std::regex(users[1]["regex"].as<std::string>())));
  CHECK_FALSE(
      std::regex_search("@tyr:exampleXorg", std::regex(users[1]["regex"].as<std::string>())));
}

TEST_CASE("config: random_token gives distinct URL-safe 256-bit tokens", "[config]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string token = random_token();
    // 32 bytes in unpadded base64: ceil(256 / 6) = 43 characters.
    CHECK(token.size() == 43);
    CHECK(token.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    seen.insert(token);
  }
  CHECK(seen.size() == 100);
}

TEST_CASE("config: policy, feeds and lists parse with every value", "[config]") {
  const Config cfg = load_config_string(kValid + R"(policy:
  dry_run: true
  allow: ["@friend:example.org", "*.partner.org", "!room:example.org", "#ops:example.org"]
  takedown_redact_window: 3600
  ban_pacing_ms: 0
feeds:
  - name: disposable
    url: "http://127.0.0.1:8080/list.txt"
    format: text
    kind: user
    interval: 600
    recommendation: m.takedown
    reason: "disposable e-mail domain"
    shadow: true
    allow_private: true
  - name: mastodon_blocks-2
    url: https://example.org/blocks.csv
    format: csv
  - name: json
    url: https://example.org/rules.json
    format: json
lists:
  - room: "#coc:example.org"
    shadow: true
  - room: "!abc:example.org"
)",
                                        "test.yaml");
  CHECK(cfg.policy.dry_run);
  CHECK(cfg.policy.allow == std::vector<std::string>{"@friend:example.org", "*.partner.org",
                                                     "!room:example.org", "#ops:example.org"});
  CHECK(cfg.policy.takedown_redact_window == std::chrono::seconds(3600));
  CHECK(cfg.policy.ban_pacing == std::chrono::milliseconds(0));

  REQUIRE(cfg.feeds.size() == 3);
  const tyr::engine::FeedConfig& text = cfg.feeds[0];
  CHECK(text.name == "disposable");
  CHECK(text.url == "http://127.0.0.1:8080/list.txt");
  CHECK(text.format == tyr::engine::FeedConfig::Format::kText);
  CHECK(text.kind == tyr::engine::policy::EntityKind::kUser);
  CHECK(text.interval == std::chrono::seconds(600));
  CHECK(text.recommendation == "m.takedown");
  CHECK(text.reason == "disposable e-mail domain");
  CHECK(text.shadow);
  CHECK(text.allow_private);
  const tyr::engine::FeedConfig& csv = cfg.feeds[1];
  CHECK(csv.name == "mastodon_blocks-2");
  CHECK(csv.format == tyr::engine::FeedConfig::Format::kCsv);
  CHECK(csv.kind == tyr::engine::policy::EntityKind::kServer);
  CHECK(csv.interval == std::chrono::seconds(300));
  CHECK(csv.recommendation == "m.ban");
  CHECK(csv.reason == "listed in feed mastodon_blocks-2");
  CHECK_FALSE(csv.shadow);
  CHECK_FALSE(csv.allow_private);  // a feed is on the internet unless the operator says otherwise
  CHECK(cfg.feeds[2].format == tyr::engine::FeedConfig::Format::kJsonState);

  REQUIRE(cfg.lists.size() == 2);
  CHECK(cfg.lists[0].room == "#coc:example.org");
  CHECK(cfg.lists[0].shadow);
  CHECK(cfg.lists[1].room == "!abc:example.org");
  CHECK_FALSE(cfg.lists[1].shadow);
}

TEST_CASE("config: policy, feeds and lists are optional", "[config]") {
  const Config cfg = load_config_string(kValid, "test.yaml");
  CHECK_FALSE(cfg.policy.dry_run);
  CHECK(cfg.policy.allow.empty());
  CHECK(cfg.policy.takedown_redact_window == std::chrono::seconds(86400));
  CHECK(cfg.policy.ban_pacing == std::chrono::milliseconds(100));
  CHECK(cfg.feeds.empty());
  CHECK(cfg.lists.empty());
  const Config empty_lists = load_config_string(kValid + "feeds: []\nlists: []\n", "test.yaml");
  CHECK(empty_lists.feeds.empty());
  CHECK(empty_lists.lists.empty());
}

TEST_CASE("config: policy values are validated", "[config]") {
  // Line 11 is "policy:", the key under test is on line 12.
  auto policy = [](const std::string& line) { return kValid + "policy:\n  " + line + "\n"; };
  CHECK(error_of(policy("dry_run: yes")) ==
        "test.yaml:12:12: key 'policy.dry_run': expected true or false");
  CHECK(error_of(policy("dry_run: \"true\"")) ==
        "test.yaml:12:12: key 'policy.dry_run': expected true or false");
  CHECK(error_of(policy("dry_run: 1")) ==
        "test.yaml:12:12: key 'policy.dry_run': expected true or false");
  CHECK(error_of(policy("dryrun: true")) == "test.yaml:12:3: unknown key 'policy.dryrun'");
  CHECK(error_of(policy("allow: \"@a:b\"")) ==
        "test.yaml:12:10: key 'policy.allow': expected a list");
  CHECK(error_of(policy("allow: [\"@friend:example.org\", \"@friend\"]")) ==
        "test.yaml:12:34: key 'policy.allow[1]': '@friend' is not a user ID: no ':server' part");
  CHECK(error_of(policy("allow: [\"bad@server.org\"]")) ==
        "test.yaml:12:11: key 'policy.allow[0]': 'bad@server.org' is not a server name: "
        "contains '@'");
  CHECK(error_of(policy("allow: [[a]]")) ==
        "test.yaml:12:11: key 'policy.allow[0]': expected a string");
  CHECK(error_of(policy("takedown_redact_window: 0")) ==
        "test.yaml:12:27: key 'policy.takedown_redact_window': must be > 0");
  CHECK(error_of(policy("takedown_redact_window: 1.5")) ==
        "test.yaml:12:27: key 'policy.takedown_redact_window': expected an integer");
  CHECK(error_of(policy("ban_pacing_ms: -1")) ==
        "test.yaml:12:18: key 'policy.ban_pacing_ms': must be >= 0");
  CHECK(error_of(kValid + "policy: [1]\n") == "test.yaml:11:9: key 'policy': expected a mapping");
}

TEST_CASE("config: feed entries are validated", "[config]") {
  // Line 11 is "feeds:", the entry's first key ("name") is on line 12, `line` on line 15.
  auto feed = [](const std::string& line) {
    return kValid +
           "feeds:\n  - name: disposable\n    url: http://127.0.0.1:8080/list.txt\n"
           "    format: text\n    " +
           line + "\n";
  };
  CHECK(load_config_string(feed("shadow: false"), "test.yaml").feeds.size() == 1);
  CHECK(error_of(feed("nmae: x")) == "test.yaml:15:5: unknown key 'feeds[0].nmae'");
  CHECK(error_of(feed("kind: planet")) ==
        "test.yaml:15:11: key 'feeds[0].kind': expected one of user, server, room");
  CHECK(error_of(feed("interval: 9")) == "test.yaml:15:15: key 'feeds[0].interval': must be >= 10");
  CHECK(error_of(feed("interval: \"300\"")) ==
        "test.yaml:15:15: key 'feeds[0].interval': expected an integer");
  CHECK(error_of(feed("recommendation: m.bam")) ==
        "test.yaml:15:21: key 'feeds[0].recommendation': unknown recommendation 'm.bam' "
        "(expected m.ban or m.takedown)");
  CHECK(error_of(feed("shadow: off")) ==
        "test.yaml:15:13: key 'feeds[0].shadow': expected true or false");
  CHECK(error_of(replace(feed("shadow: true"), "format: text", "format: xml")) ==
        "test.yaml:14:13: key 'feeds[0].format': expected one of json, text, csv");
  CHECK(error_of(replace(feed("kind: user"), "format: text", "format: csv")) ==
        "test.yaml:15:11: key 'feeds[0].kind': a csv feed lists servers");
  CHECK(error_of(replace(feed("shadow: true"), "name: disposable", "name: Disposable")) ==
        "test.yaml:12:11: key 'feeds[0].name': invalid character 'D' (allowed: a-z 0-9 _ -)");
  CHECK(error_of(replace(feed("shadow: true"), "http://127.0.0.1:8080/list.txt", "ftp://x/y")) ==
        "test.yaml:13:10: key 'feeds[0].url': must start with http:// or https://");
  CHECK(error_of(replace(feed("shadow: true"), "http://127.0.0.1:8080/list.txt", "http:///y")) ==
        "test.yaml:13:10: key 'feeds[0].url': must name a host");
  CHECK(error_of(replace(feed("shadow: true"), "    format: text\n", "")) ==
        "test.yaml:12:5: missing required key 'feeds[0].format'");
  CHECK(error_of(replace(feed("shadow: true"), "  - name: disposable\n    url:", "  - url:")) ==
        "test.yaml:12:5: missing required key 'feeds[0].name'");
  CHECK(error_of(kValid + "feeds:\n  - disposable\n") ==
        "test.yaml:12:5: key 'feeds[0]': expected a mapping");
  CHECK(error_of(kValid + "feeds: {name: x}\n") == "test.yaml:11:8: key 'feeds': expected a list");
}

TEST_CASE("config: a duplicated feed name is reported at the second feed", "[config]") {
  const std::string twice = kValid + R"(feeds:
  - {name: spam, url: "http://a.example/list", format: text}
  - {name: other, url: "http://b.example/list", format: text}
  - {name: spam, url: "http://c.example/list", format: csv}
)";
  CHECK(error_of(twice) ==
        "test.yaml:14:12: key 'feeds[2].name': duplicate feed name 'spam' (also feeds[0])");
}

TEST_CASE("config: list settings are validated", "[config]") {
  CHECK(error_of(kValid + "lists:\n  - room: coc\n") ==
        "test.yaml:12:11: key 'lists[0].room': expected a room ID (!...) or alias (#...:server)");
  CHECK(error_of(kValid + "lists:\n  - shadow: true\n") ==
        "test.yaml:12:5: missing required key 'lists[0].room'");
  CHECK(error_of(kValid + "lists:\n  - {room: \"!a:b\", shadow: yes}\n") ==
        "test.yaml:12:28: key 'lists[0].shadow': expected true or false");
  CHECK(error_of(kValid + "lists:\n  - {room: \"!a:b\", enabled: true}\n") ==
        "test.yaml:12:20: unknown key 'lists[0].enabled'");
  CHECK(error_of(kValid + "lists:\n  - room: \"!a:b\"\n  - room: \"!a:b\"\n") ==
        "test.yaml:13:11: key 'lists[1].room': duplicate list '!a:b' (also lists[0])");
}

TEST_CASE("config: rules.dir resolves against the config's directory", "[config]") {
  const Config none = load_config_string(kValid, "test.yaml", "/etc/tyr");
  CHECK(none.rules.dir.empty());
  const Config cfg =
      load_config_string(kValid + "rules:\n  dir: rules.d\n", "test.yaml", "/etc/tyr");
  CHECK(cfg.rules.dir == fs::path("/etc/tyr/rules.d"));
  CHECK(error_of(kValid + "rules:\n  dir: x\n  pack: y\n") ==
        "test.yaml:13:3: unknown key 'rules.pack'");
  CHECK(error_of(kValid + "rules:\n  dir: \"\"\n") ==
        "test.yaml:12:8: key 'rules.dir': must not be empty");
}

TEST_CASE("config: reports need an admin token and take trusted reporters", "[config]") {
  CHECK_FALSE(load_config_string(kValid, "test.yaml").reports.enabled);
  CHECK(error_of(kValid + "reports:\n  poll_seconds: 5\n") ==
        "test.yaml:12:3: key 'reports': needs 'homeserver.admin_token' (a server admin's access "
        "token) to read the homeserver's abuse reports");
  const std::string with_token = replace(kValid, "  server_name: localhost\n",
                                         "  server_name: localhost\n  admin_token: adm\n");
  const Config cfg = load_config_string(
      with_token +
          "reports:\n  trusted_reporters: [\"@t:localhost\"]\n  trusted_reports_to_redact: 3\n",
      "test.yaml");
  CHECK(cfg.reports.enabled);
  CHECK(cfg.reports.poll == std::chrono::seconds(15));
  CHECK(cfg.reports.trusted_reporters == std::vector<std::string>{"@t:localhost"});
  CHECK(cfg.reports.trusted_reports_to_redact == 3);
  CHECK(error_of(with_token + "reports:\n  trusted_reporters: [\"nobody\"]\n") ==
        "test.yaml:13:23: key 'reports.trusted_reporters[0]': expected a user ID (@local:server)");
}

TEST_CASE("config: catch_up and the notice budget take defaults, values, and bounded errors",
          "[config]") {
  const Config d = load_config_string(kValid, "test.yaml");
  CHECK(d.catch_up.enabled);
  CHECK(d.catch_up.interval == std::chrono::seconds(300));
  CHECK(d.catch_up.max_age == std::chrono::seconds(3600));
  CHECK(d.catch_up.max_events == 1000);
  CHECK(d.catch_up.settle == std::chrono::milliseconds(2000));
  CHECK(d.catch_up.follow_ups ==
        std::vector<std::chrono::seconds>{std::chrono::seconds(5), std::chrono::seconds(15)});
  CHECK(d.management.notices_per_minute == 60);
  CHECK(d.appservice.dedupe_retention == std::chrono::hours(168));
  CHECK(error_of(replace(kValid, kAs, kAs + "  dedupe_retention_hours: 1\n")) ==
        "test.yaml:6:27: key 'appservice.dedupe_retention_hours': must be between 2 and 8760");
  CHECK(error_of(replace(kValid, kAs, kAs + "  dedupe_retention_hours: 2\n") +
                 "catch_up:\n  max_age_seconds: 7200\n") ==
        "test.yaml:13:3: key 'catch_up.max_age_seconds': must be shorter than "
        "appservice.dedupe_retention_hours (catch-up relies on it)");

  const Config c = load_config_string(kValid +
                                          "catch_up:\n  enabled: false\n  interval_seconds: 0\n  "
                                          "max_age_seconds: 600\n  max_events: 50\n",
                                      "test.yaml");
  CHECK_FALSE(c.catch_up.enabled);
  CHECK(c.catch_up.interval == std::chrono::seconds(0));
  CHECK(c.catch_up.max_age == std::chrono::seconds(600));
  CHECK(c.catch_up.max_events == 50);

  CHECK(error_of(kValid + "catch_up:\n  max_age_seconds: 5\n") ==
        "test.yaml:12:20: key 'catch_up.max_age_seconds': must be between 60 and 604800");
  CHECK(error_of(kValid + "catch_up:\n  every: 5\n") ==
        "test.yaml:12:3: unknown key 'catch_up.every'");
  const Config f = load_config_string(
      kValid + "catch_up:\n  settle_ms: 0\n  follow_up_seconds: [3]\n", "test.yaml");
  CHECK(f.catch_up.settle == std::chrono::milliseconds(0));
  CHECK(f.catch_up.follow_ups == std::vector<std::chrono::seconds>{std::chrono::seconds(3)});
  CHECK(load_config_string(kValid + "catch_up:\n  follow_up_seconds: []\n", "test.yaml")
            .catch_up.follow_ups.empty());
  CHECK(error_of(kValid + "catch_up:\n  settle_ms: 60001\n") ==
        "test.yaml:12:14: key 'catch_up.settle_ms': must be between 0 and 60000");
  CHECK(error_of(kValid + "catch_up:\n  follow_up_seconds: 5\n") ==
        "test.yaml:12:22: key 'catch_up.follow_up_seconds': expected a list");
  CHECK(error_of(kValid + "catch_up:\n  follow_up_seconds: [5, 0]\n") ==
        "test.yaml:12:26: key 'catch_up.follow_up_seconds[1]': must be between 1 and 3600");
  CHECK(error_of(kValid + "catch_up:\n  follow_up_seconds: [5, \"15\"]\n") ==
        "test.yaml:12:26: key 'catch_up.follow_up_seconds[1]': expected an integer");
  CHECK(error_of(replace(kValid, "operators: [\"@alice:localhost\"]",
                         "operators: [\"@alice:localhost\"]\n  notices_per_minute: -1")) ==
        "test.yaml:10:23: key 'management.notices_per_minute': must be between 0 and 10000");
}

TEST_CASE("config: executor.concurrency takes a default, a value, and a bounded error",
          "[config]") {
  CHECK(load_config_string(kValid, "test.yaml").executor.concurrency == 4);
  CHECK(load_config_string(kValid + "executor:\n  concurrency: 1\n", "test.yaml")
            .executor.concurrency == 1);
  CHECK(error_of(kValid + "executor:\n  concurrency: 0\n") ==
        "test.yaml:12:16: key 'executor.concurrency': must be between 1 and 64");
  CHECK(error_of(kValid + "executor:\n  lanes: 2\n") ==
        "test.yaml:12:3: unknown key 'executor.lanes'");
}
