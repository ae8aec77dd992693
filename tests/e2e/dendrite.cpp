#include "tests/e2e/dendrite.hpp"

#include "cli/sandbox/child_process.hpp"
#include "tests/e2e/file_tail.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include <httplib.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

// The build points this at the project's .dendrite/bin; the fallback keeps a standalone compile.
#ifndef TYR_DEFAULT_DENDRITE_BIN
#define TYR_DEFAULT_DENDRITE_BIN ".dendrite/bin"
#endif

namespace tyr::e2e {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kCode = "TYR_DENDRITE";
constexpr const char* kConfigFile = "dendrite.yaml";
constexpr const char* kKeyFile = "matrix_key.pem";
constexpr const char* kLogFile = "dendrite.log";

Error dendrite_error(std::string message) { return Error{kCode, std::move(message)}; }

// Runs a Dendrite tool to completion (bounded); its exit status must be 0.
Result<void> run_tool(const std::vector<std::string>& argv, const fs::path& cwd,
                      const fs::path& out) {
  auto pid = cli::sandbox::spawn_logged(argv, cwd, out, kCode);
  if (!pid) return pid.error();
  auto status = cli::sandbox::wait_for_exit(*pid, milliseconds(30'000));
  if (!status) {
    ::kill(-*pid, SIGKILL);
    (void)cli::sandbox::wait_for_exit(*pid, milliseconds(5000));
    return dendrite_error(argv[0] + " did not finish within 30 s");
  }
  if (*status != 0) return dendrite_error(argv[0] + " failed; see " + out.string());
  return {};
}

Result<cli::sandbox::RegisteredUser> parse_user(const httplib::Result& res,
                                                const std::string& what) {
  if (!res) return Error{"TYR_NETWORK", what + ": " + httplib::to_string(res.error())};
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status != 200 || !body.is_object()) {
    return Error{kCode, what + ": HTTP " + std::to_string(res->status) + " " + res->body,
                 res->status};
  }
  for (const char* field : {"user_id", "access_token", "device_id"}) {
    if (!body.contains(field) || !body[field].is_string()) {
      return dendrite_error(what + ": answer has no string \"" + field + "\"");
    }
  }
  return cli::sandbox::RegisteredUser{body["user_id"], body["access_token"], body["device_id"]};
}

}  // namespace

DendriteProcess::DendriteProcess(DendriteOptions options) : options_(std::move(options)) {
  options_.dir = fs::absolute(options_.dir);
  unsigned char secret[24];
  if (RAND_bytes(secret, sizeof secret) != 1) throw std::runtime_error("RAND_bytes failed");
  shared_secret_ = cli::sandbox::to_hex(secret, sizeof secret);
}

DendriteProcess::~DendriteProcess() { stop(); }

std::string DendriteProcess::base_url() const {
  return "http://127.0.0.1:" + std::to_string(options_.port);
}

fs::path DendriteProcess::log_file() const { return options_.dir / kLogFile; }

Result<void> DendriteProcess::write_config() {
  const fs::path& dir = options_.dir;
  const fs::path generated = dir / "generated.yaml";
  if (auto r = run_tool({(options_.bin / "generate-config").string(), "-dir", dir.string(),
                         "-server", options_.server_name},
                        dir, generated);
      !r) {
    return r;
  }
  YAML::Node c;
  try {
    c = YAML::LoadFile(generated.string());
  } catch (const YAML::Exception& e) {
    return dendrite_error("cannot read " + generated.string() + ": " + e.what());
  }
  // generate-config's defaults, with what a loopback test server needs over them.
  c["global"]["private_key"] = (dir / kKeyFile).string();
  // Federation stays on (no peer exists): its version endpoint names the software to Tyr.
  c["global"]["report_stats"]["enabled"] = false;
  c["global"]["presence"]["enable_inbound"] = false;
  c["global"]["presence"]["enable_outbound"] = false;
  c["global"]["cache"]["max_size_estimated"] = "64mb";
  c["global"]["jetstream"]["in_memory"] = true;
  c["client_api"]["registration_disabled"] = true;
  c["client_api"]["guests_disabled"] = true;
  c["client_api"]["registration_shared_secret"] = shared_secret_;
  c["client_api"]["rate_limiting"]["enabled"] = false;
  YAML::Node files(YAML::NodeType::Sequence);
  for (const auto& r : options_.appservice_registrations) files.push_back(fs::absolute(r).string());
  c["app_service_api"]["config_files"] = files;
  c["app_service_api"]["disable_tls_validation"] = true;
  c["federation_api"]["key_perspectives"] = YAML::Node(YAML::NodeType::Sequence);
  c["user_api"]["bcrypt_cost"] = 4;  // bcrypt's minimum: registration stays fast
  YAML::Node log(YAML::NodeType::Map);
  log["type"] = "std";
  log["level"] = "info";
  YAML::Node logging(YAML::NodeType::Sequence);
  logging.push_back(log);
  c["logging"] = logging;
  std::ofstream out(dir / kConfigFile);
  out << YAML::Dump(c) << "\n";
  if (!out) return dendrite_error("cannot write " + (dir / kConfigFile).string());
  return {};
}

Result<void> DendriteProcess::start() {
  if (pid_ > 0) return dendrite_error("Dendrite already running");
  const fs::path& dir = options_.dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return dendrite_error("cannot create " + dir.string() + ": " + ec.message());
  const fs::path binary = options_.bin / "dendrite";
  if (::access(binary.c_str(), X_OK) != 0) {
    return dendrite_error("Dendrite not found: " + binary.string() +
                          " (run scripts/setup.sh, or set TYR_DENDRITE_BIN)");
  }
  if (options_.port == 0) options_.port = cli::sandbox::free_loopback_port();
  if (options_.port == 0) return dendrite_error("no free loopback port");
  if (!fs::exists(dir / kKeyFile, ec)) {
    if (auto r = run_tool(
            {(options_.bin / "generate-keys").string(), "--private-key", (dir / kKeyFile).string()},
            dir, dir / "generate-keys.log");
        !r) {
      return r;
    }
  }
  if (auto r = write_config(); !r) return r;

  auto pid = cli::sandbox::spawn_logged(
      {binary.string(), "--config", (dir / kConfigFile).string(), "--http-bind-address",
       "127.0.0.1:" + std::to_string(options_.port)},
      dir, log_file(), kCode);
  if (!pid) return pid.error();
  pid_ = *pid;
  httplib::Client client("127.0.0.1", options_.port);
  client.set_connection_timeout(std::chrono::seconds(1));
  client.set_read_timeout(std::chrono::seconds(1));
  const auto deadline = Clock::now() + options_.start_timeout;
  while (Clock::now() < deadline) {
    if (auto status = cli::sandbox::wait_for_exit(pid_, milliseconds(0))) {
      pid_ = -1;
      return dendrite_error("Dendrite exited during startup; log tail:\n" + log_tail());
    }
    if (auto res = client.Get("/_matrix/client/versions"); res && res->status == 200) return {};
    std::this_thread::sleep_for(milliseconds(100));
  }
  stop();
  return dendrite_error("Dendrite did not answer within " +
                        std::to_string(options_.start_timeout.count()) + " s; log tail:\n" +
                        log_tail());
}

void DendriteProcess::stop() {
  if (pid_ <= 0) return;
  cli::sandbox::stop_group(pid_, milliseconds(10'000));
  pid_ = -1;
}

std::string DendriteProcess::log_tail(size_t lines) const { return file_tail(log_file(), lines); }

Result<cli::sandbox::RegisteredUser> DendriteProcess::register_user(const std::string& localpart,
                                                                    const std::string& password,
                                                                    bool admin) {
  const std::string what = "register " + localpart + " on Dendrite";
  httplib::Client client("127.0.0.1", options_.port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(30));
  auto nonce_res = client.Get("/_synapse/admin/v1/register");
  if (!nonce_res || nonce_res->status != 200) {
    return dendrite_error(what + ": no nonce (" +
                          (nonce_res ? nonce_res->body : httplib::to_string(nonce_res.error())) +
                          ")");
  }
  auto nonce = nlohmann::json::parse(nonce_res->body, nullptr, false);
  if (!nonce.is_object() || !nonce.contains("nonce") || !nonce["nonce"].is_string()) {
    return dendrite_error(what + ": the nonce answer has no string \"nonce\"");
  }
  const std::string n = nonce["nonce"];
  const nlohmann::json body = {
      {"nonce", n},
      {"username", localpart},
      {"password", password},
      {"admin", admin},
      {"mac", cli::sandbox::registration_mac(shared_secret_, n, localpart, password, admin)},
  };
  return parse_user(client.Post("/_synapse/admin/v1/register", body.dump(), "application/json"),
                    what);
}

fs::path default_dendrite_bin() {
  if (const char* env = std::getenv("TYR_DENDRITE_BIN"); env != nullptr && *env != '\0') {
    return env;
  }
  return TYR_DEFAULT_DENDRITE_BIN;
}

}  // namespace tyr::e2e
