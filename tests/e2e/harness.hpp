#pragma once
// End-to-end fixture: a fresh Synapse (or Dendrite) on a free loopback port (SQLite, relaxed
// rate limits, Tyr's registration loaded), an operator and a non-operator user made with the
// shared-secret registration API, a management room, and the real `tyr` binary as a child process
// that can be stopped, killed with SIGKILL and restarted. Every wait has a deadline; teardown is
// bounded.

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/sandbox/synapse_process.hpp"
#include "engine/client/homeserver_client.hpp"
#include "tests/e2e/dendrite.hpp"
#include "tests/e2e/federation.hpp"

namespace tyr::e2e {

using namespace std::chrono_literals;

// Polls `pred` every 100 ms until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
// A client of the homeserver at `url` with `token`: three attempts, 15 s per request.
std::unique_ptr<engine::HomeserverClient> test_client(const std::string& url,
                                                      const std::string& token);
// Runs a shell command; its standard output.
std::string command_output(const std::string& cmd);
// A file's whole text ("" when it cannot be read).
std::string read_text(const std::filesystem::path& path);

// The homeserver Tyr is attached to. Dendrite (tests/e2e/dendrite.hpp) takes no synapse_yaml and
// no federation; its rooms are of its default version (10: creators hold power 100 explicitly).
enum class Homeserver { synapse, dendrite };

struct HarnessOptions {
  // Appended to tyr.yaml (e.g. a `policy:` or `feeds:` section).
  std::string extra_config;
  // Appended to Synapse's homeserver.yaml.
  std::string synapse_yaml;
  // Start Tyr before the management room exists (it retries joining it), for a Synapse whose
  // veto module fails closed and would refuse the harness's own setup without Tyr. start_tyr()
  // then only waits for it to answer.
  bool tyr_first = false;
  // Two homeservers (tests/e2e/federation.hpp, docs/testing-federation.md): this Synapse (A)
  // becomes `localhost:<port>` behind nginx, and a second one (B) federates with it.
  bool federation = false;
  Homeserver homeserver = Homeserver::synapse;
};

class Harness {
 public:
  explicit Harness(HarnessOptions options);
  explicit Harness(std::string extra_config = {}, std::string synapse_yaml = {},
                   bool tyr_first = false)
      : Harness(HarnessOptions{std::move(extra_config), std::move(synapse_yaml), tyr_first}) {}
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Replaces the text appended to tyr.yaml (e.g. one naming policy_port()); Tyr reads it at
  // its next start.
  void set_extra_config(std::string extra_config);

  // Starts `tyr run --config …` and waits until it answers in the management room.
  void start_tyr();
  void kill_tyr(int signal);  // sends `signal` and reaps the process
  void stop_tyr() { kill_tyr(SIGTERM); }
  bool tyr_running() const;
  void kill_tyr_signal(int signal);  // sends `signal` and leaves Tyr running (e.g. SIGHUP)

  engine::HomeserverClient& op() { return *op_client_; }
  engine::HomeserverClient& stranger() { return *stranger_client_; }
  engine::HomeserverClient& appservice() { return *as_client_; }  // uses Tyr's as_token

  // Sends a text message; returns its event ID.
  std::string say(engine::HomeserverClient& who, const std::string& room, const std::string& text);
  // Every m.room.message in `room`, oldest first, as the operator (or `reader`) sees them.
  std::vector<nlohmann::json> messages(const std::string& room);
  std::vector<nlohmann::json> messages(const std::string& room, engine::HomeserverClient& reader);
  // Whether the message `event_id` in `room` has been redacted (its content is empty);
  // nullopt when the operator cannot see it.
  std::optional<bool> is_redacted(const std::string& room, const std::string& event_id);
  bool redacted(const std::string& room, const std::string& event_id) {
    return is_redacted(room, event_id).value_or(false);
  }
  // Bodies of Tyr's messages in the management room, oldest first.
  std::vector<std::string> tyr_replies();
  // Waits until Tyr posted a message containing `needle`; returns it (empty on timeout).
  std::string wait_reply(const std::string& needle, std::chrono::milliseconds timeout = 30s);
  // Creates a room as the operator with Tyr invited (and given power 100).
  // A policy room made by the operator, the way another community would publish its list.
  std::string make_list_room(const std::string& alias_localpart);
  // The operator writes a rule (or, with empty content, removes it) in a policy room.
  void put_rule(const std::string& list, const std::string& type, const std::string& key,
                const nlohmann::json& content);
  std::string create_room_with_tyr(const std::string& alias_localpart);
  // Registers a user; the returned client acts as that user.
  engine::HomeserverClient& add_user(const std::string& localpart);
  // Current membership of `user` in `room` as the operator sees it ("" when none).
  std::string membership(const std::string& room, const std::string& user);
  // Content of a state event ({} when absent).
  nlohmann::json state(const std::string& room, const std::string& type,
                       const std::string& key = {});
  // Protects `room` with `!tyr rooms add` and waits for Tyr's confirmation.
  void protect(const std::string& room);
  // A private copy of the e2e rules (tests/fixtures/e2e-rules) in <dir>/rules, which a
  // `rules:\n  dir: rules` config reads; returns that directory.
  std::filesystem::path copy_rules() const;

  // Federation mode only (they throw otherwise). A user registered on B, and its ID.
  engine::HomeserverClient& remote_user(const std::string& localpart);
  std::string remote_user_id(const std::string& localpart) const;
  const std::string& remote_server_name() const;  // B: "<host>:<port>"
  const std::string& remote_host() const;         // B's host, what ACLs and server rules match
  uint16_t federation_port() const;  // A's public federation port (nginx, TLS, 127.0.0.1)
  // A free loopback port nginx sends /_matrix/policy/ to: for Tyr's policy_server listener.
  uint16_t policy_port() const;
  std::string nginx_log(size_t lines = 40) const;  // nginx's error and access log tails
  Federation& federation();

  // A's server name: "localhost", or "localhost:<federation_port()>" in federation mode.
  const std::string& server_name() const { return server_name_; }
  const std::string& management_room() const { return mgmt_room_; }
  std::string bot_user() const { return "@tyr:" + server_name_; }
  Homeserver homeserver() const { return homeserver_; }
  std::string homeserver_url() const;
  const std::string& operator_user() const { return op_user_; }
  const std::string& stranger_user() const { return stranger_user_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path data_dir() const { return dir_ / "tyr-data"; }
  uint16_t tyr_port() const { return tyr_port_; }
  const std::string& hs_token() const { return hs_token_; }
  std::string tyr_log_tail(size_t lines = 40) const;

 private:
  void write_config(const std::string& homeserver_url);
  void spawn_tyr();               // fork and exec `tyr run`; does not wait
  const Federation& fed() const;  // throws without federation mode
  Result<cli::sandbox::RegisteredUser> register_user(const std::string& localpart,
                                                     const std::string& password, bool admin);

  std::filesystem::path dir_;
  std::unique_ptr<Federation> federation_;  // declared before synapse_: stopped after A
  std::unique_ptr<cli::sandbox::SynapseProcess> synapse_;  // one of these two runs
  std::unique_ptr<DendriteProcess> dendrite_;
  Homeserver homeserver_ = Homeserver::synapse;
  std::unique_ptr<engine::HomeserverClient> op_client_, stranger_client_, as_client_;
  std::vector<std::unique_ptr<engine::HomeserverClient>> user_clients_;
  std::string extra_config_;
  std::string server_name_, op_user_, stranger_user_, mgmt_room_, as_token_, hs_token_, op_token_;
  uint16_t tyr_port_ = 0;
  pid_t tyr_pid_ = -1;
  int tyr_starts_ = 0;
  bool spawned_early_ = false;
};

}  // namespace tyr::e2e
