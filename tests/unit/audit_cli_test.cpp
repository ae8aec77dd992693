// The audit trail's JSON form, `tyr audit`'s arguments and output, and the management room's
// reply.

#include "engine/audit/audit_log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>
#include <nlohmann/json.hpp>

#include "cli/audit_tools.hpp"
#include "engine/audit/audit_format.hpp"
#include "engine/config/config.hpp"
#include "engine/core/clock.hpp"
#include "engine/store/store.hpp"
#include "tests/unit/audit_fixtures.hpp"
#include "tests/unit/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace tyr::test;  // audit_fixtures.hpp: the engine's audit and store types too

// ---------------------------------------------------------------------------------------------
// JSON form

TEST_CASE("audit: the JSON form has a fixed set of fields and round-trips", "[audit]") {
  AuditEntry e = entry(1795867200000, "@u:hs", "!r:hs", "kick");
  e.mode = "dry_run";
  e.event_id = "$e";
  e.target = "spam.example";
  e.reason_text = "listed";
  e.reason = {{"list", "!list:hs"}, {"state_key", "@u:*"}};
  e.outcome = "M_FORBIDDEN";
  e.detail = "You don't have permission";
  e.seq = 42;
  const auto j = tyr::engine::to_json(e);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  CHECK(keys == std::vector<std::string>{"action", "detail", "event_id", "mode", "outcome",
                                         "reason", "reason_text", "room", "seq", "target", "ts_ms",
                                         "user"});
  CHECK(j.dump() ==
        R"({"action":"kick","detail":"You don't have permission","event_id":"$e","mode":"dry_run",)"
        R"("outcome":"M_FORBIDDEN","reason":{"list":"!list:hs","state_key":"@u:*"},)"
        R"("reason_text":"listed","room":"!r:hs","seq":42,"target":"spam.example",)"
        R"("ts_ms":1795867200000,"user":"@u:hs"})");
  auto back = tyr::engine::audit_entry_from_json(nlohmann::json::parse(j.dump()));
  REQUIRE(back.ok());
  CHECK(tyr::engine::to_json(*back) == j);

  // Empty fields are present, and a non-object reason is stored as {}.
  AuditEntry bare;
  bare.reason = nullptr;
  const auto b = tyr::engine::to_json(bare);
  CHECK(b.at("user") == "");
  CHECK(b.at("reason") == nlohmann::json::object());

  // Strict: missing or mistyped fields are errors.
  auto missing = j;
  missing.erase("outcome");
  auto r = tyr::engine::audit_entry_from_json(missing);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "missing field 'outcome'");
  auto wrong = j;
  wrong["user"] = 5;
  CHECK(tyr::engine::audit_entry_from_json(wrong).error().message ==
        "field 'user' is not a string");
  wrong = j;
  wrong["reason"] = "spam";
  CHECK(tyr::engine::audit_entry_from_json(wrong).error().message ==
        "field 'reason' is missing or not an object");
  wrong = j;
  wrong["ts_ms"] = "now";
  CHECK(tyr::engine::audit_entry_from_json(wrong).error().message ==
        "field 'ts_ms' is missing or not an integer");
  CHECK(tyr::engine::audit_entry_from_json(nlohmann::json::array()).error().message ==
        "an audit entry is a JSON object");
}

TEST_CASE("audit: invalid UTF-8 in a reason is replaced, not a failed record", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLog audit(store);
  auto e = entry(1000, "@a:hs", "");
  e.reason_text = "cut off \xE2\x82";
  REQUIRE(audit.record_now(e).ok());
  auto got = audit.query(all());
  REQUIRE(got.size() == 1);
  CHECK(got[0].reason_text == "cut off \xEF\xBF\xBD");
}

// ---------------------------------------------------------------------------------------------
// Text forms

TEST_CASE("audit: times print as UTC and read back in every accepted form", "[audit][cli]") {
  using tyr::engine::format_utc;
  using tyr::engine::parse_time;
  const int64_t noon = 1795867200000;  // 2026-11-28T12:00:00Z
  CHECK(format_utc(noon) == "2026-11-28T12:00:00Z");
  CHECK(format_utc(noon + 999) == "2026-11-28T12:00:00Z");
  CHECK(format_utc(0) == "1970-01-01T00:00:00Z");

  const int64_t now = noon + 123;
  struct Case {
    const char* text;
    int64_t ms;
  };
  for (const auto& c : std::vector<Case>{
           {"2026-11-28T12:00:00Z", noon},
           {"2026-11-28t12:00:00z", noon},
           {"2026-11-28 12:00:00Z", noon},
           {"2026-11-28T12:00Z", noon},
           {"2026-11-28T12:00:00.25Z", noon + 250},
           {"2026-11-28T12:00:00.123456Z", noon + 123},
           {"2026-11-28T13:30:00+01:30", noon},
           {"2026-11-28T10:00:00-02:00", noon},
           {"2026-11-28", noon - 12 * 3'600'000},
           {"1795867200", noon},
           {"0", 0},
           {"90s", now - 90'000},
           {"30m", now - 30 * 60'000},
           {"2h", now - 2 * 3'600'000},
           {"7d", now - 7 * 86'400'000LL},
           {"2w", now - 14 * 86'400'000LL},
           {"0m", now},
       }) {
    INFO(c.text);
    auto t = parse_time(c.text, now);
    REQUIRE(t.ok());
    CHECK(*t == c.ms);
  }
  CHECK(parse_time(format_utc(noon), now).value() == noon);

  const std::string accepted =
      " is not a time (use 2026-11-28T12:00:00Z, 2026-11-28, unix seconds, or an age like 30m, "
      "2h, 7d)";
  struct Bad {
    const char* text;
    std::string message;
  };
  for (const auto& c : std::vector<Bad>{
           {"yesterday", "'yesterday'" + accepted},
           {"", "''" + accepted},
           {"2h ago", "'2h ago'" + accepted},
           {"2026-11-28T12", "'2026-11-28T12'" + accepted},
           {"2026-11-28T12:00:00+1", "'2026-11-28T12:00:00+1'" + accepted},
           {"28/11/2026", "'28/11/2026'" + accepted},
           {"2026-02-30", "'2026-02-30' is not a valid date"},
           {"2026-13-01T00:00:00Z", "'2026-13-01T00:00:00Z' is not a valid date"},
           {"2026-11-28T24:00:00Z", "'2026-11-28T24:00:00Z' is not a valid time of day"},
           {"2026-11-28T12:00:00", "'2026-11-28T12:00:00' has no time zone (add Z for UTC)"},
           {"1795867200000",
            "'1795867200000' is too large for unix seconds (milliseconds? drop the last three "
            "digits)"},
           {"9999999999d", "'9999999999d' is too long ago"},
       }) {
    INFO(c.text);
    auto t = parse_time(c.text, now);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().message == c.message);
  }
}

TEST_CASE("audit: tyr audit arguments", "[audit][cli]") {
  using tyr::cli::parse_audit_args;
  const int64_t now = 1795867200000;
  auto ok =
      parse_audit_args({"--data", "/var/lib/tyr", "--user", "@u:hs", "--room=!r:hs", "--since",
                        "2h", "--until", "2026-11-28T12:00:00Z", "--limit", "5", "--json"},
                       now);
  REQUIRE(ok.ok());
  CHECK(ok->data == "/var/lib/tyr");
  CHECK(ok->query.user == "@u:hs");
  CHECK(ok->query.room == "!r:hs");
  CHECK(ok->query.since_ms == now - 7'200'000);
  CHECK(ok->query.until_ms == now);
  CHECK(ok->query.limit == 5);
  CHECK(ok->json);

  auto defaults = parse_audit_args({"--data", "d"}, now);
  REQUIRE(defaults.ok());
  CHECK(defaults->query.limit == 100);
  CHECK(defaults->query.since_ms == 0);
  CHECK(defaults->query.until_ms == 0);
  CHECK_FALSE(defaults->json);
  CHECK(parse_audit_args({"--config", "tyr.yaml"}, now)->config == "tyr.yaml");
  CHECK(parse_audit_args({"--help"}, now)->help);
  CHECK(parse_audit_args({"--data", "d", "--limit", "0"}, now)->query.limit == 0);

  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& c : std::vector<Bad>{
           {{}, "--data DIR is required (Tyr's data_dir; or --config FILE to read it there)"},
           {{"--data"}, "--data needs a value"},
           {{"--data="}, "--data needs a value"},
           {{"--data", "d", "--config", "c"}, "give --data or --config, not both"},
           {{"--data", "d", "--verbose"}, "unknown option '--verbose'"},
           {{"--data", "d", "-v"}, "unknown option '-v'"},
           {{"--data", "d", "extra"}, "unexpected argument 'extra'"},
           {{"--data", "d", "--json=yes"}, "--json takes no value"},
           {{"--data", "d", "--limit", "ten"},
            "--limit: 'ten' is not a count (a whole number; 0 for all)"},
           {{"--data", "d", "--limit", "-1"},
            "--limit: '-1' is not a count (a whole number; 0 for all)"},
           {{"--data", "d", "--user", "alice"}, "--user: 'alice' is not a user ID (@name:server)"},
           {{"--data", "d", "--room", "#mods:hs"},
            "--room: '#mods:hs' is an alias; give the room ID (!id:server), aliases are not "
            "resolved offline"},
           {{"--data", "d", "--room", "lobby"}, "--room: 'lobby' is not a room ID (!id:server)"},
           {{"--data", "d", "--since", "soon"},
            "--since: 'soon' is not a time (use 2026-11-28T12:00:00Z, 2026-11-28, unix seconds, "
            "or an age like 30m, 2h, 7d)"},
           {{"--data", "d", "--until", "2026-02-30"}, "--until: '2026-02-30' is not a valid date"},
           {{"--data", "d", "--since", "1h", "--until", "2h"},
            "--since 1h is not before --until 2h"},
       }) {
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    INFO(joined);
    auto r = parse_audit_args(c.args, now);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == c.message);
  }
}

TEST_CASE("audit: tyr audit exits 2 naming the path it cannot use", "[audit][cli]") {
  TempDir dir;
  fs::create_directories(dir.path() / "empty");
  { std::ofstream(dir.path() / "file") << "x"; }
  const int64_t now = tyr::now_ms();
  auto run = [&](std::vector<std::string> args, std::string& out, std::string& err) {
    std::ostringstream o, e;
    const int rc = tyr::cli::audit_command(args, o, e, now);
    out = o.str();
    err = e.str();
    return rc;
  };
  std::string out, err;
  const std::string missing = (dir.path() / "missing").string();
  CHECK(run({"--data", missing}, out, err) == 2);
  CHECK(err == "tyr audit: " + missing + ": no such directory\n");
  CHECK_FALSE(fs::exists(missing));

  const std::string empty = (dir.path() / "empty").string();
  CHECK(run({"--data", empty}, out, err) == 2);
  CHECK(err == "tyr audit: " + empty +
                   ": no Tyr store here (expected Tyr's data_dir, which holds the RocksDB files "
                   "CURRENT, MANIFEST-…)\n");

  const std::string file = (dir.path() / "file").string();
  CHECK(run({"--data", file}, out, err) == 2);
  CHECK(err == "tyr audit: " + file + ": not a directory\n");

  if (::geteuid() != 0) {  // root reads anything
    fs::permissions(dir.path() / "empty", fs::perms::none);
    CHECK(run({"--data", empty}, out, err) == 2);
    CHECK(err == "tyr audit: " + empty + ": cannot read: Permission denied\n");
    fs::permissions(dir.path() / "empty", fs::perms::owner_all);
  }

  CHECK(run({"--data", empty, "--since", "later"}, out, err) == 2);
  CHECK(err.rfind("tyr audit: --since: 'later' is not a time", 0) == 0);
  CHECK(err.find("\nusage: tyr audit (--data DIR | --config FILE)") != std::string::npos);
  CHECK(out.empty());

  CHECK(run({"--help"}, out, err) == 0);
  CHECK(out.rfind("usage: tyr audit", 0) == 0);
}

TEST_CASE("audit: tyr audit prints aligned lines or JSON lines", "[audit][cli]") {
  TempDir dir;
  {
    Store store(dir.path());
    AuditLog audit(store);
    auto ban = entry(1795867200000, "@spammer:evil.example", "!room:hs");
    ban.mode = "shadow";
    ban.outcome = "would";
    ban.reason = {{"rules", {{{"id", "crypto"}, {"score", 8}}, {{"id", "link"}, {"score", 4}}}},
                  {"threshold", 10}};
    REQUIRE(audit.record_now(ban).ok());
    auto acl = entry(1795867260000, "", "!room:hs", "acl");
    acl.target = "evil.example";
    acl.outcome = "M_FORBIDDEN";
    acl.detail = "not allowed";
    acl.reason_text = "server banned on !list:hs";
    REQUIRE(audit.record_now(acl).ok());
  }
  std::ostringstream out, err;
  REQUIRE(tyr::cli::audit_command({"--data", dir.path().string()}, out, err, tyr::now_ms()) == 0);
  CHECK(err.str().empty());
  CHECK(out.str() ==
        "2026-11-28T12:01:00Z  live    acl  M_FORBIDDEN  evil.example           !room:hs  "
        "server banned on !list:hs (not allowed)\n"
        "2026-11-28T12:00:00Z  shadow  ban  would        @spammer:evil.example  !room:hs  "
        "rules crypto(8), link(4); threshold 10\n");

  std::ostringstream jout, jerr;
  REQUIRE(tyr::cli::audit_command(
              {"--data", dir.path().string(), "--json", "--user", "@spammer:evil.example"}, jout,
              jerr, tyr::now_ms()) == 0);
  auto j = nlohmann::json::parse(jout.str());
  CHECK(j.at("action") == "ban");
  CHECK(j.at("seq") == 1);
  CHECK(j.at("reason").at("threshold") == 10);

  std::ostringstream nout, nerr;
  REQUIRE(tyr::cli::audit_command({"--data", dir.path().string(), "--room", "!other:hs"}, nout,
                                  nerr, tyr::now_ms()) == 0);
  CHECK(nout.str().empty());
  CHECK(nerr.str() == "tyr audit: no entries match\n");

  // --config reads the data_dir from Tyr's config file.
  const fs::path cfg = dir.path().parent_path() / (dir.path().filename().string() + ".yaml");
  {
    std::ofstream f(cfg);
    f << "homeserver:\n  url: \"http://127.0.0.1:8008\"\n  server_name: \"hs\"\n"
         "appservice:\n  as_token: \"as_token_for_tests_0123456789abcdef\"\n"
         "  hs_token: \"hs_token_for_tests_0123456789abcdef\"\n"
         "management:\n  room: \"!m:hs\"\n  operators: [\"@op:hs\"]\n"
         "data_dir: \""
      << dir.path().filename().string() << "\"\n";
  }
  std::ostringstream cout_, cerr_;
  const int rc = tyr::cli::audit_command({"--config", cfg.string(), "--limit", "1"}, cout_, cerr_,
                                         tyr::now_ms());
  fs::remove(cfg);
  CHECK(cerr_.str().empty());
  CHECK(rc == 0);
  CHECK(cout_.str().rfind("2026-11-28T12:01:00Z  live  acl  M_FORBIDDEN", 0) == 0);
}

TEST_CASE("audit: the management room's reply", "[audit]") {
  using tyr::engine::format_audit_for_room;
  CHECK(format_audit_for_room({}, 10) == "No audit entries.");
  auto ban = entry(1795867200000, "@spammer:evil.example", "!room:hs");
  ban.mode = "shadow";
  ban.outcome = "would";
  ban.reason_text = "spam score 12 ≥ 10\n(crypto, link)";
  auto redact = entry(1795867100000, "@spammer:evil.example", "!room:hs", "redact");
  redact.outcome = "M_FORBIDDEN";
  redact.detail = "You don't have permission to redact";
  redact.reason = {{"protection", "flood"}};
  auto acl = entry(1795867000000, "", "!room:hs", "acl");
  acl.target = "evil.example";
  acl.reason = {{"list", "!list:hs"}, {"state_key", "evil.example"}};
  CHECK(format_audit_for_room({ban, redact, acl}, 10) ==
        "- 2026-11-28T12:00:00Z shadow ban @spammer:evil.example in !room:hs → would: spam score "
        "12 ≥ 10 (crypto, link)\n"
        "- 2026-11-28T11:58:20Z redact @spammer:evil.example in !room:hs → M_FORBIDDEN (You "
        "don't have permission to redact): protection flood\n"
        "- 2026-11-28T11:56:40Z acl evil.example in !room:hs → ok: list !list:hs evil.example");
  CHECK(format_audit_for_room({ban, redact, acl}, 2) ==
        "- 2026-11-28T12:00:00Z shadow ban @spammer:evil.example in !room:hs → would: spam score "
        "12 ≥ 10 (crypto, link)\n"
        "- 2026-11-28T11:58:20Z redact @spammer:evil.example in !room:hs → M_FORBIDDEN (You "
        "don't have permission to redact): protection flood\n"
        "… and more; narrow by user, room or time, or run tyr audit.");
  ban.reason_text = std::string(200, 'x');
  const auto line = format_audit_for_room({ban}, 1);
  CHECK(line.size() < 200);
  CHECK(line.substr(line.size() - 6) == "xxx…");
}
