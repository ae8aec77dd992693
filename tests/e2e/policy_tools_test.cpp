// The offline policy tools, run as a user runs them: the real tyr binary on fixture files.

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.hpp"

using tyr::e2e::read_text;

namespace {

struct Run {
  int status;
  std::string out;
};

// Runs a shell command; captures stdout and stderr together.
Run run(const std::string& args) {
  std::string cmd = std::string(TYR_BINARY) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string fixture(const std::string& name) {
  return std::string(TYR_FIXTURES_DIR) + "/policy/" + name;
}

}  // namespace

TEST_CASE("e2e: tyr check judges each event's sender against the lists", "[cli]") {
  auto r = run("check --list " + fixture("list.json") + " " + fixture("events.jsonl"));
  INFO(r.out);
  REQUIRE(r.status == 0);
  std::istringstream got(r.out), want(read_text(fixture("expected_check.jsonl")));
  std::string g, w;
  int line = 0;
  while (std::getline(want, w)) {
    ++line;
    REQUIRE(std::getline(got, g));
    INFO("line " << line);
    CHECK(nlohmann::json::parse(g) == nlohmann::json::parse(w));
  }
  CHECK_FALSE(std::getline(got, g));
}

TEST_CASE("e2e: tyr check rejects bad input with file and line", "[cli]") {
  const std::string bad =
      std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/tyr-check-bad.jsonl";
  std::ofstream(bad) << R"({"event_id":"$ok","sender":"@a:b"})"
                     << "\n{oops\n";
  auto r = run("check --list " + fixture("list.json") + " " + bad);
  CHECK(r.status == 2);
  CHECK(r.out.find(bad + ":2: not a JSON object") != std::string::npos);
  auto usage = run("check " + fixture("events.jsonl"));
  CHECK(usage.status == 2);
  auto missing = run("check --list /nonexistent.json " + fixture("events.jsonl"));
  CHECK(missing.status == 2);
  CHECK(missing.out.find("/nonexistent.json: cannot read the file") != std::string::npos);
  std::remove(bad.c_str());
}

TEST_CASE("e2e: tyr acl prints the server ACL and never denies the given server", "[cli]") {
  auto r = run("acl --list " + fixture("list.json") + " --server-name example.org");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("withheld example.org: it would deny example.org") != std::string::npos);
  auto json_start = r.out.find('{');
  REQUIRE(json_start != std::string::npos);
  auto acl = nlohmann::json::parse(r.out.substr(json_start));
  CHECK(acl["deny"] == nlohmann::json({"*.bad.example", "evil.org"}));
  CHECK(acl["allow"] == nlohmann::json({"*"}));
  CHECK(acl["allow_ip_literals"] == false);
}
