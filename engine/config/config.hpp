#pragma once
// Tyr's configuration: one YAML file, parsed strictly. Unknown keys, wrong types and missing
// required keys are load errors that name the key and its file:line:col.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/classifier/options.hpp"
#include "engine/policy/policy_rule.hpp"

namespace tyr::engine {

// The shortest secret accepted inline (appservice.as_token and hs_token, veto.secret): 32
// characters. `tyr registration` and random_token() make 43.
inline constexpr std::size_t kMinSecretLength = 32;

// Thrown only while loading; the message is "file:line:col: message".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HomeserverConfig {
  std::string url;          // client-server API base, e.g. "http://127.0.0.1:8008" (required)
  std::string server_name;  // e.g. "example.org" (required)
  // Token of a server-admin user, for admin APIs (event reports, …). Optional.
  std::string admin_token;
};

struct AppserviceConfig {
  std::string id = "tyr";
  std::string bind_address = "127.0.0.1";
  uint16_t port = 9000;
  // The URL the homeserver uses to reach Tyr; default "http://<bind_address>:<port>".
  std::string public_url;
  std::string sender_localpart = "tyr";
  // Exclusive user namespace prefix: users "@<prefix>*:<server_name>" belong to Tyr.
  std::string user_prefix = "_tyr_";
  // Either both tokens inline, or a registration file to read them from (key "registration").
  std::string as_token;
  std::string hs_token;
  std::filesystem::path registration;  // resolved relative to the config file's directory
  size_t max_body_bytes = 16 * 1024 * 1024;
  // How long accepted event IDs and txnIds are remembered for deduplication (Store::prune_dedupe).
  std::chrono::hours dedupe_retention{168};
};

struct ManagementConfig {
  std::string room;                    // room ID or alias (required)
  std::vector<std::string> operators;  // user IDs allowed to command Tyr (required, non-empty)
  std::string command_prefix = "!tyr";
  // Unsolicited notices (acting, notify, refused, bans…) posted per minute; beyond that they are
  // counted and summarised once a minute. Replies to commands and abuse reports always go out.
  int notices_per_minute = 60;
};

// How policy rules are acted on (section `policy`).
struct PolicyConfig {
  bool dry_run = false;  // decide and log, never act
  // Entities never acted on, whatever a list says: user IDs, rooms or server names; globs allowed.
  std::vector<std::string> allow;
  std::chrono::seconds takedown_redact_window{86400};  // history redacted on takedown
  std::chrono::milliseconds ban_pacing{100};           // delay between mass-ban actions
};

// An HTTP feed: a plain list of bad servers or users, read as a read-only policy list
// "feed:<name>" (section `feeds`, one entry per feed).
struct FeedConfig {
  enum class Format : uint8_t {
    kJsonState,  // JSON array of policy state events (kind and recommendation from each event)
    kText,       // one entity per line
    kCsv,        // Mastodon domain-block export (servers only)
  };
  std::string name;  // unique, [a-z0-9_-]+
  std::string url;   // http:// or https://
  Format format = Format::kText;
  policy::EntityKind kind = policy::EntityKind::kServer;  // ignored for kJsonState
  std::chrono::seconds interval{300};
  std::string recommendation = "m.ban";  // ignored for kJsonState
  std::string reason;   // verbatim on every rule; the loader defaults it to "listed in feed <name>"
  bool shadow = false;  // count what would be done, do nothing
  // Whether the URL, and every redirect, may lead to a loopback, private (RFC 1918, CGNAT),
  // link-local, unique-local, unspecified or multicast address. Off: a feed is someone else's
  // server on the internet, and a redirect must not turn Tyr into a probe of the local network.
  bool allow_private = false;
};

// Settings for one watched Matrix policy list (section `lists`).
struct ListSetting {
  std::string room;  // room ID or alias, as written
  bool shadow = false;
};

// Custom rules (section `rules`): a directory of rule files (see docs/rules.md).
struct RulesConfig {
  std::filesystem::path dir;  // empty: no rules; relative to the config file
};

// Reading protected rooms' recent history for events the homeserver never delivered (section
// `catch_up`, docs/configuration.md). Runs after a gap in transaction IDs, when the homeserver
// comes back from an outage, at start, once the homeserver's resending after either has gone
// quiet (catch_up_schedule.hpp), and every `interval`.
struct CatchUpConfig {
  bool enabled = true;
  std::chrono::seconds interval{300};  // periodic pass; 0: only on gaps, outages and start
  std::chrono::seconds max_age{3600};  // never read further back than this
  int max_events = 1000;               // per room and pass
  // After a start, an outage or a resent transaction: a pass once no transaction has arrived
  // for `settle` (0: none), and one `follow_ups` after that.
  std::chrono::milliseconds settle{2000};
  std::vector<std::chrono::seconds> follow_ups{std::chrono::seconds(5), std::chrono::seconds(15)};
};

// Abuse reports (section `reports`): read from the homeserver's admin API (needs
// homeserver.admin_token), posted to the management room, answered with `!tyr report`.
struct ReportsConfig {
  bool enabled = false;  // the section is present
  std::chrono::seconds poll{15};
  std::vector<std::string> trusted_reporters;  // their reports add up to an automatic redaction
  int trusted_reports_to_redact = 2;
};

// Inline veto (section `veto`): the listener that Synapse's synapse-http-antispam module calls
// before it accepts a join, an invite or an event. Absent section: no listener.
struct VetoConfig {
  bool enabled = false;  // the section is present
  std::string bind_address = "127.0.0.1";
  uint16_t port = 9001;
  std::string secret;         // Bearer secret the module sends (inline, or read from secret_path)
  bool whole_server = false;  // scope: false = protected rooms only, true = every room
  std::chrono::milliseconds deadline{250};  // answer "allow" when a decision takes longer
  bool fail_open = true;        // what `tyr synapse-config` tells the module to do when Tyr is down
  int notices_per_minute = 10;  // refusals posted one by one; beyond that, a summary a minute
};

// Policy server (section `policy_server`, MSC4284): other homeservers ask Tyr to sign each
// event of a protected room whose `m.room.policy` names Tyr's homeserver. Absent section: none.
struct PolicyServerConfig {
  bool enabled = false;
  std::string bind_address = "127.0.0.1";
  uint16_t port = 9003;
  std::string server_name;         // the `via` of m.room.policy; default: homeserver.server_name
  std::filesystem::path key_path;  // the signing key; default: <data_dir>/policy_server.key
  std::chrono::milliseconds deadline{250};  // a decision that takes longer: `on_timeout`
  bool sign_while_loading = true;           // before Tyr is ready: sign (and count), or refuse
  bool sign_on_timeout = true;              // past the deadline: sign (and count), or refuse
  std::chrono::milliseconds key_fetch_timeout{5000};  // fetching a calling server's keys
  bool verify_tls = true;  // false: accept self-signed certificates of other servers (tests)
  // Calling servers reached at a fixed base URL instead of by server discovery (tests, or a
  // server behind a known address): "server name" → "https://host:port".
  std::map<std::string, std::string> server_urls;
};

// The action executor (section `executor`): up to `concurrency` actions run at once, each
// room's in queue order; actions that span rooms run alone (engine/pipeline/pipeline.hpp).
struct ExecutorConfig {
  int concurrency = 4;  // 1: one action at a time
};

// Admin listener (section `admin`): /metrics, /healthz, /readyz. Absent section: none.
struct AdminConfig {
  bool enabled = false;
  std::string bind_address = "127.0.0.1";
  uint16_t port = 9002;
};

struct Config {
  std::filesystem::path source;  // the file this was loaded from (empty when built in code)
  HomeserverConfig homeserver;
  AppserviceConfig appservice;
  ManagementConfig management;
  std::filesystem::path data_dir;  // RocksDB and other state (required); relative to the file
  std::string log_level = "info";  // debug|info|warn|error
  PolicyConfig policy;
  std::vector<FeedConfig> feeds;   // names unique
  std::vector<ListSetting> lists;  // rooms unique
  RulesConfig rules;
  ReportsConfig reports;
  VetoConfig veto;
  PolicyServerConfig policy_server;
  AdminConfig admin;
  CatchUpConfig catch_up;
  ExecutorConfig executor;
  classifier::ClassifierOptions classifier;  // section `classifier`

  std::string bot_user_id() const {
    return "@" + appservice.sender_localpart + ":" + homeserver.server_name;
  }
  std::string appservice_url() const {
    return appservice.public_url.empty()
               ? "http://" + appservice.bind_address + ":" + std::to_string(appservice.port)
               : appservice.public_url;
  }
};

// Parses and validates a config file. Throws ConfigError("file:line:col: …") on any problem.
// When appservice.registration is set, the tokens are read from that registration file,
// unless `read_tokens` is false (`tyr registration` writes that file from the config).
Config load_config_file(const std::filesystem::path& path, bool read_tokens = true);

// Same, from text (`name` is used in messages in place of a file name).
Config load_config_string(const std::string& yaml, const std::string& name,
                          const std::filesystem::path& base_dir = {});

// Appservice registration YAML that Synapse loads unchanged: id, url, as/hs tokens,
// sender_localpart, exclusive user namespace, rate_limited: false.
std::string registration_yaml(const Config& cfg);

// A fresh random token (256 bits from the OS CSPRNG, URL-safe characters).
std::string random_token();

}  // namespace tyr::engine
