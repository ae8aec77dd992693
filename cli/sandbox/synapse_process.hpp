#pragma once
// A throwaway Synapse homeserver on loopback: used by `tyr run` when no homeserver is
// configured (the sandbox) and by the end-to-end test fixture. SQLite, relaxed rate limits,
// Tyr's appservice registration loaded. Every wait is bounded.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/result.hpp"

namespace tyr::cli::sandbox {

// A listener for the federation API, for tests where homeservers federate on loopback.
struct FederationListener {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick a free port on bind_address
  // true: Synapse terminates TLS itself, with a self-signed certificate made at the first start
  // (other servers must run with federation_verify_certificates: false). false: plain HTTP, for
  // a TLS-terminating reverse proxy in front (x_forwarded); remote Synapses only speak TLS.
  bool tls = true;
};

struct SynapseOptions {
  std::filesystem::path dir;     // working directory for config, db, logs (created)
  std::filesystem::path python;  // venv python with matrix-synapse installed
  std::string server_name = "localhost";
  uint16_t port = 0;  // 0 = pick a free loopback port
  std::vector<std::filesystem::path> appservice_registrations;
  std::string shared_secret;  // empty = random
  std::chrono::seconds start_timeout{60};
  // Extra YAML appended verbatim to homeserver.yaml (e.g. modules for later features).
  std::string extra_yaml;
  // Unset (the sandbox, single-server tests): one plain listener serves client and federation
  // APIs. Set: the `port` listener serves the client API only, this one the federation API, and
  // outbound federation is made loopback-friendly (no certificate checks, no IP blocklist, no
  // key servers). `server_name` should then carry an explicit port (no SRV or .well-known).
  std::optional<FederationListener> federation;
};

struct RegisteredUser {
  std::string user_id;
  std::string access_token;
  std::string device_id;
};

class SynapseProcess {
 public:
  explicit SynapseProcess(SynapseOptions options);
  ~SynapseProcess();  // stops the process (SIGTERM, bounded wait, then SIGKILL)
  SynapseProcess(const SynapseProcess&) = delete;
  SynapseProcess& operator=(const SynapseProcess&) = delete;

  // Writes homeserver.yaml (+ log config, signing key) if missing, starts Synapse and waits
  // until GET /_matrix/client/versions answers 200 or the timeout passes.
  Result<void> start();
  // SIGTERM, wait up to `grace`, then SIGKILL. Safe to call twice.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));
  bool running() const;

  std::string base_url() const;  // "http://127.0.0.1:<port>"
  uint16_t port() const;
  const std::string& server_name() const;
  const std::filesystem::path& dir() const;
  std::filesystem::path log_file() const;  // Synapse's own log (homeserver.log)
  // The federation listener's port (0 without one); known once start() picked it.
  uint16_t federation_port() const;

  // Shared-secret registration (GET+POST /_synapse/admin/v1/register, HMAC-SHA1 mac).
  // An existing user logs in with the password instead (so re-runs of the sandbox work).
  Result<RegisteredUser> register_user(const std::string& localpart, const std::string& password,
                                       bool admin = false);

 private:
  SynapseOptions options_;
  int pid_ = -1;
};

// A free TCP port on 127.0.0.1 (bind to port 0, read it, close).
uint16_t free_loopback_port();
// The same on another local IPv4 address (0 when it cannot be bound).
uint16_t free_port(const std::string& ipv4_address);

// Writes a self-signed certificate for `host` (its CN) and a fresh P-256 key,
// both private files, valid from an hour ago for 30 days. Only for peers that skip verification.
Result<void> write_self_signed_certificate(const std::filesystem::path& cert_file,
                                           const std::filesystem::path& key_file,
                                           const std::string& host);

// Locates the Synapse venv python: $TYR_SYNAPSE_PYTHON, else the build-time default.
std::filesystem::path default_synapse_python();

}  // namespace tyr::cli::sandbox
