#pragma once
// A throwaway Dendrite homeserver on loopback for the e2e fixture: the monolith with SQLite, no
// federation, no rate limits, open to the shared-secret registration API, Tyr's registration
// loaded through app_service_api.config_files. The binaries come from scripts/setup.sh
// (.dendrite/bin, or $TYR_DENDRITE_BIN). Every wait is bounded.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/sandbox/synapse_process.hpp"
#include "engine/core/result.hpp"

namespace tyr::e2e {

struct DendriteOptions {
  std::filesystem::path dir;  // config, databases, logs (created)
  std::filesystem::path bin;  // holds dendrite, generate-config, generate-keys
  std::string server_name = "localhost";
  uint16_t port = 0;  // 0 = pick a free loopback port
  std::vector<std::filesystem::path> appservice_registrations;
  std::chrono::seconds start_timeout{60};
};

class DendriteProcess {
 public:
  explicit DendriteProcess(DendriteOptions options);
  ~DendriteProcess();  // stop()
  DendriteProcess(const DendriteProcess&) = delete;
  DendriteProcess& operator=(const DendriteProcess&) = delete;

  // Writes dendrite.yaml (from `generate-config`, with the test settings over it) and the
  // signing key if missing, starts the monolith and waits until GET /_matrix/client/versions
  // answers 200.
  Result<void> start();
  // SIGTERM to its process group, a bounded wait, then SIGKILL. Safe to call twice.
  void stop();

  std::string base_url() const;  // "http://127.0.0.1:<port>"
  const std::string& server_name() const { return options_.server_name; }
  std::filesystem::path log_file() const;  // Dendrite's standard output and error
  std::string log_tail(size_t lines = 40) const;

  // Shared-secret registration: Dendrite serves Synapse's API (/_synapse/admin/v1/register,
  // same HMAC-SHA1 mac); `admin` makes the account a Dendrite admin (its admin APIs, reports).
  Result<cli::sandbox::RegisteredUser> register_user(const std::string& localpart,
                                                     const std::string& password, bool admin);

 private:
  Result<void> write_config();

  DendriteOptions options_;
  std::string shared_secret_;
  pid_t pid_ = -1;
};

// Where the Dendrite binaries are: $TYR_DENDRITE_BIN, else the build-time default (the
// project's .dendrite/bin, which scripts/setup.sh fills).
std::filesystem::path default_dendrite_bin();

}  // namespace tyr::e2e
