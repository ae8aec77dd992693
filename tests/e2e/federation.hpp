#pragma once
// The two-homeserver part of the e2e fixture (docs/testing-federation.md). A is the Synapse Tyr
// is attached to (the harness starts it); other servers reach it only through an nginx that
// terminates TLS on A's federation port, sends /_matrix/policy/ to Tyr's policy listener and
// everything else to A's plain federation listener, as an admin's reverse proxy would. B is a
// second Synapse with its own TLS federation listener. Names carry explicit ports, so no DNS,
// SRV or .well-known is involved, and the hosts differ once the port is stripped (server ACLs
// and Tyr's server rules compare hosts): A is `localhost`, B the machine's host name, which a
// stock Debian resolves from /etc/hosts (override: TYR_E2E_REMOTE_HOST). B is not an IP literal
// because Tyr's ACLs set allow_ip_literals: false, which would cut B off for unrelated rules.

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "cli/sandbox/synapse_process.hpp"
#include "engine/client/homeserver_client.hpp"

namespace tyr::e2e {

class Federation {
 public:
  // Picks names and ports under `dir` (created); starts nothing.
  explicit Federation(std::filesystem::path dir);
  ~Federation();  // stop()
  Federation(const Federation&) = delete;
  Federation& operator=(const Federation&) = delete;

  // Makes `a` A: its server name and the plain federation listener nginx forwards to.
  void configure_local(cli::sandbox::SynapseOptions& a) const;
  // Starts nginx in front of A (A may still be starting) and Synapse B, and waits until both
  // answer. Throws with the relevant log tails when either fails.
  void start();
  // nginx (SIGTERM, then SIGKILL) and B, each wait bounded. Idempotent.
  void stop();

  const std::string& local_server_name() const { return local_name_; }    // localhost:<port>
  const std::string& remote_server_name() const { return remote_name_; }  // <host>:<port>
  const std::string& remote_host() const { return remote_host_; }         // without the port
  uint16_t proxy_port() const { return proxy_port_; }  // nginx: A's public federation port
  uint16_t policy_port() const { return policy_port_; }
  cli::sandbox::SynapseProcess& remote() { return *remote_; }

  // A user registered on B (once per localpart), and its user ID.
  engine::HomeserverClient& remote_user(const std::string& localpart);
  std::string remote_user_id(const std::string& localpart) const;

  // The last lines of nginx's error and access logs (the access log shows where each request
  // was routed, with the upstream's status).
  std::string nginx_log(size_t lines = 40) const;
  std::string remote_log(size_t lines = 40) const;  // B's homeserver.log

 private:
  void write_nginx_config() const;
  void start_nginx();

  std::filesystem::path dir_;
  std::string local_name_, remote_name_, remote_host_, remote_address_;
  uint16_t proxy_port_ = 0, local_backend_port_ = 0, policy_port_ = 0, remote_port_ = 0;
  std::unique_ptr<cli::sandbox::SynapseProcess> remote_;
  std::map<std::string, std::unique_ptr<engine::HomeserverClient>> remote_users_;
  pid_t nginx_pid_ = -1;
};

}  // namespace tyr::e2e
