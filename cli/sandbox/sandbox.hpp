#pragma once
// The sandbox: a throwaway local Synapse with Tyr registered as its appservice, an operator
// account, a management room and a demo room. `tyr run` uses it when no homeserver is
// configured, so a newcomer sees Tyr at work at once. State persists in its directory.

#include <filesystem>
#include <memory>
#include <string>

#include "cli/sandbox/synapse_process.hpp"
#include "engine/config/config.hpp"

namespace tyr::cli::sandbox {

struct SandboxInfo {
  engine::Config config;      // Tyr's config for this sandbox
  std::string operator_user;  // "@operator:localhost"
  std::string operator_password;
  std::string operator_token;
  std::string management_alias;  // "#tyr-admin:localhost"
  std::string demo_alias;        // "#demo:localhost"
  std::string demo_room_id;
  std::string visitor_user;  // "@visitor:localhost", a member of the demo room
  std::string visitor_password;
  std::string visitor_token;
};

class Sandbox {
 public:
  Sandbox(std::filesystem::path dir, std::filesystem::path python);
  ~Sandbox();

  // Starts Synapse and prepares users, rooms, registration and Tyr's config file
  // (<dir>/tyr.yaml, usable later with `tyr run --config`). The directory is locked first (a
  // second `tyr run` on it fails before any file is rewritten) and stays locked until the
  // sandbox is destroyed.
  Result<SandboxInfo> start();
  SynapseProcess& synapse() { return *synapse_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path python_;
  std::unique_ptr<SynapseProcess> synapse_;
  int lock_fd_ = -1;  // <dir>/lock, held with flock(LOCK_EX) while the sandbox runs
};

}  // namespace tyr::cli::sandbox
