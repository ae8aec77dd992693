// The tyr binary's command line, as a newcomer meets it: every subcommand's --help prints its
// usage and does nothing else, wrong usage exits 2 with the usage, `check-config` works before
// the registration file exists, and a second `tyr run` on a sandbox in use changes nothing.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../unit/temp_dir.hpp"
#include "tests/e2e/harness.hpp"

using tyr::e2e::read_text;

namespace fs = std::filesystem;

namespace {

struct Run {
  int status;
  std::string out;
};

// Runs the binary in `cwd` with `args`; stdout and stderr together.
Run run_in(const fs::path& cwd, const std::string& args) {
  const std::string cmd =
      "cd '" + cwd.string() + "' && " + std::string(TYR_BINARY) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

size_t entries(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("e2e: every subcommand's --help prints its usage, exits 0 and touches nothing", "[cli]") {
  tyr::test::TempDir dir(/*create=*/true);
  for (const std::string cmd : {"run", "registration", "check-config", "synapse-config", "check",
                                "rules", "acl", "audit", "plugins"}) {
    for (const std::string flag : {"--help", "-h"}) {
      const Run r = run_in(dir.path(), cmd + " " + flag);
      INFO(cmd << " " << flag << ": " << r.out);
      CHECK(r.status == 0);
      CHECK(r.out.rfind("Usage: tyr " + cmd, 0) == 0);
    }
  }
  // Also after other arguments, and through `tyr help <command>`.
  CHECK(run_in(dir.path(), "run --sandbox-dir x --help").out.rfind("Usage: tyr run", 0) == 0);
  const Run help = run_in(dir.path(), "help check-config");
  CHECK(help.status == 0);
  CHECK(help.out.rfind("Usage: tyr check-config --config FILE", 0) == 0);
  CHECK(run_in(dir.path(), "help nope").status == 2);
  CHECK(entries(dir.path()) == 0);  // no sandbox, no config, no registration written
}

TEST_CASE("e2e: wrong usage exits 2 with the usage, before anything is done", "[cli]") {
  tyr::test::TempDir dir(/*create=*/true);
  const Run option = run_in(dir.path(), "run --bogus");
  INFO(option.out);
  CHECK(option.status == 2);
  CHECK(option.out.rfind("tyr run: unknown option --bogus\nUsage: tyr run", 0) == 0);
  const Run extra = run_in(dir.path(), "check-config --config a.yaml b.yaml");
  CHECK(extra.status == 2);
  CHECK(extra.out.rfind("tyr check-config: unexpected argument 'b.yaml'", 0) == 0);
  CHECK(run_in(dir.path(), "registration --config").status == 2);  // option without its value
  CHECK(run_in(dir.path(), "frobnicate").status == 2);
  CHECK(entries(dir.path()) == 0);
}

TEST_CASE("e2e: check-config accepts a config whose registration file is not written yet",
          "[cli]") {
  tyr::test::TempDir dir(/*create=*/true);
  std::ofstream(dir.path() / "tyr.yaml") << "homeserver:\n"
                                            "  url: \"http://127.0.0.1:8008\"\n"
                                            "  server_name: \"example.org\"\n"
                                            "appservice:\n"
                                            "  bind_address: \"127.0.0.1\"\n"
                                            "  port: 9000\n"
                                            "  registration: \"tyr-registration.yaml\"\n"
                                            "management:\n"
                                            "  room: \"#moderators:example.org\"\n"
                                            "  operators: [\"@alice:example.org\"]\n"
                                            "data_dir: \"data\"\n";
  const Run before = run_in(dir.path(), "check-config --config tyr.yaml");
  INFO(before.out);
  CHECK(before.status == 0);
  CHECK(before.out.find(": OK (") != std::string::npos);
  CHECK(before.out.find("does not exist yet; write it with `tyr registration --config "
                        "tyr.yaml`") != std::string::npos);
  REQUIRE(run_in(dir.path(), "registration --config tyr.yaml").status == 0);
  const Run after = run_in(dir.path(), "check-config --config tyr.yaml");
  CHECK(after.status == 0);
  CHECK(after.out.find("does not exist yet") == std::string::npos);
  // A broken registration file is still an error.
  std::ofstream(dir.path() / "tyr-registration.yaml") << "id: [\n";
  CHECK(run_in(dir.path(), "check-config --config tyr.yaml").status == 1);
}

TEST_CASE("e2e: a second tyr run on a sandbox in use fails before rewriting its files", "[cli]") {
  tyr::test::TempDir dir(/*create=*/true);
  const fs::path sandbox = dir.path() / "sb";
  fs::create_directories(sandbox);
  std::ofstream(sandbox / "sandbox.json") << "{\"synapse_port\": 1, \"tyr_port\": 2}\n";
  const int fd = ::open((sandbox / "lock").c_str(), O_RDWR | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);  // as the running Tyr holds it
  const Run r = run_in(dir.path(), "run --sandbox-dir sb");
  ::close(fd);
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(r.out.find("another `tyr run` is using the sandbox in") != std::string::npos);
  CHECK(read_text(sandbox / "sandbox.json") == "{\"synapse_port\": 1, \"tyr_port\": 2}\n");
  CHECK_FALSE(fs::exists(sandbox / "tyr.yaml"));
  CHECK_FALSE(fs::exists(sandbox / "registration.yaml"));
}
