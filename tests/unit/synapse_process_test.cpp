// The sandbox's Synapse-free behaviour: ports, python lookup, and how start() fails. A stand-in
// shell script plays "python" so the spawn, log-tail and timeout paths run without Synapse.
#include "cli/sandbox/synapse_process.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/unit/temp_dir.hpp"

namespace fs = std::filesystem;
using tyr::cli::sandbox::SynapseOptions;
using tyr::cli::sandbox::SynapseProcess;

namespace {

using tyr::test::TempDir;

fs::path write_script(const fs::path& file, const std::string& body) {
  std::ofstream(file) << "#!/bin/sh\n" << body;
  fs::permissions(file, fs::perms::owner_all);
  return file;
}

std::string read_all(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("sandbox: free_loopback_port gives a bindable port") {
  uint16_t port = tyr::cli::sandbox::free_loopback_port();
  REQUIRE(port != 0);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  CHECK(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  close(fd);
}

TEST_CASE("sandbox: default_synapse_python prefers TYR_SYNAPSE_PYTHON") {
  const char* old = std::getenv("TYR_SYNAPSE_PYTHON");
  std::string saved = old != nullptr ? old : "";
  setenv("TYR_SYNAPSE_PYTHON", "/opt/synapse/bin/python", 1);
  CHECK(tyr::cli::sandbox::default_synapse_python() == fs::path("/opt/synapse/bin/python"));
  unsetenv("TYR_SYNAPSE_PYTHON");
  CHECK_FALSE(tyr::cli::sandbox::default_synapse_python().empty());
  if (old != nullptr) setenv("TYR_SYNAPSE_PYTHON", saved.c_str(), 1);
}

TEST_CASE("sandbox: accessors before start, and stop is safe when nothing runs") {
  TempDir tmp(/*create=*/true);
  SynapseOptions o;
  o.dir = tmp.path() / "hs";
  o.python = "/bin/true";
  o.port = 18008;
  SynapseProcess hs(o);
  CHECK(hs.base_url() == "http://127.0.0.1:18008");
  CHECK(hs.port() == 18008);
  CHECK(hs.server_name() == "localhost");
  CHECK(hs.log_file() == tmp.path() / "hs" / "homeserver.log");
  CHECK_FALSE(hs.running());
  hs.stop();
  hs.stop();
  auto user = hs.register_user("alice", "pw");
  REQUIRE_FALSE(user.ok());
  CHECK(user.error().code == "TYR_SANDBOX");
  CHECK(user.error().message == "register alice: Synapse is not running");
}

TEST_CASE("sandbox: start with a missing python fails fast naming the path") {
  TempDir tmp(/*create=*/true);
  SynapseOptions o;
  o.dir = tmp.path() / "hs";
  o.python = "/nonexistent/tyr-python";
  SynapseProcess hs(o);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = hs.start();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TYR_SANDBOX");
  CHECK(r.error().message ==
        "Synapse python not found: /nonexistent/tyr-python (set TYR_SYNAPSE_PYTHON, or create "
        "the venv: python3 -m venv .venv && .venv/bin/pip install matrix-synapse)");
  CHECK_FALSE(hs.running());
}

TEST_CASE("sandbox: a failing key generation reports its exit status and output") {
  TempDir tmp(/*create=*/true);
  SynapseOptions o;
  o.dir = tmp.path() / "hs";
  o.python = write_script(tmp.path() / "python", "echo \"fake python: $*\"\nexit 3\n");
  SynapseProcess hs(o);
  auto r = hs.start();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "TYR_SANDBOX");
  const std::string& m = r.error().message;
  CHECK(m.rfind("generating the signing key failed (exit status 3)", 0) == 0);
  CHECK(m.find("fake python: -m synapse.app.homeserver -c " +
               (tmp.path() / "hs" / "homeserver.yaml").string() + " --generate-keys") !=
        std::string::npos);
}

TEST_CASE("sandbox: Synapse exiting during startup is an error with the log tail") {
  TempDir tmp(/*create=*/true);
  SynapseOptions o;
  o.dir = tmp.path() / "hs";
  o.python = write_script(tmp.path() / "python", "echo \"cwd=$(pwd -P)\"\necho boom >&2\nexit 1\n");
  o.shared_secret = "s3cret";
  o.extra_yaml = "experimental_features: {}";
  fs::create_directories(o.dir);
  std::ofstream(o.dir / "signing.key") << "ed25519 a_test AAAA\n";  // skips key generation
  SynapseProcess hs(o);
  auto r = hs.start();
  REQUIRE_FALSE(r.ok());
  const std::string& m = r.error().message;
  CHECK(m.rfind("Synapse exited during startup (exit status 1)", 0) == 0);
  CHECK(m.find("  | boom") != std::string::npos);
  CHECK(m.find("  | cwd=" + fs::canonical(o.dir).string()) != std::string::npos);
  CHECK_FALSE(hs.running());

  // The config was written with the port picked for us and ends with extra_yaml.
  REQUIRE(hs.port() != 0);
  const std::string yaml = read_all(o.dir / "homeserver.yaml");
  CHECK(yaml.find("  - port: " + std::to_string(hs.port()) + "\n") != std::string::npos);
  CHECK(yaml.find("registration_shared_secret: \"s3cret\"\n") != std::string::npos);
  CHECK(yaml.find("rc_joins:\n  local: {per_second: 1000, burst_count: 1000}") !=
        std::string::npos);
  CHECK(yaml.substr(yaml.size() - 26) == "experimental_features: {}\n");
}

TEST_CASE("sandbox: a server that never answers times out and is stopped") {
  TempDir tmp(/*create=*/true);
  SynapseOptions o;
  o.dir = tmp.path() / "hs";
  o.python = write_script(tmp.path() / "python", "exec sleep 30\n");
  o.start_timeout = std::chrono::seconds(1);
  fs::create_directories(o.dir);
  std::ofstream(o.dir / "signing.key") << "ed25519 a_test AAAA\n";
  SynapseProcess hs(o);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = hs.start();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.rfind(
            "Synapse did not answer GET " + hs.base_url() + "/_matrix/client/versions within 1 s",
            0) == 0);
  CHECK_FALSE(hs.running());
  CHECK_FALSE(fs::exists(o.dir / "synapse.pid"));
}
