// `rules`, `rules test`, `rules reload`, `protections`, `report` and `audit` against a fake host
// and a fake scorer (tests/unit/commands_fixture.hpp).

#include <catch2/catch.hpp>

#include "commands_fixture.hpp"
#include "engine/audit/audit_format.hpp"
#include "engine/core/text.hpp"

using namespace tyr::engine;
using tyr::Action;
using tyr::dump_json;
using tyr::test::FakeHost;
using tyr::test::FakeScorer;

namespace {

constexpr const char* kNoRules = "No rules are configured (set rules.dir in Tyr's config).";

}  // namespace

TEST_CASE("commands: rules describes what is loaded and the verdict counters", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr rules") == kNoRules);
  FakeScorer scorer;
  host.fake_scorer = &scorer;
  host.counts = {.notify = 7, .redact = 0, .kick = 1, .ban = 2, .shadow = 3};
  CHECK(host.reply("!tyr rules") ==
        "Rules:\n  2 rules from 1 file\n  spam-link: score 4"
        "\nVerdicts: 7 notify, 0 redact, 1 kick, 2 ban; shadow rules would have acted 3 times");
}

TEST_CASE("commands: rules test scores the raw text as the operator's message in a protected room",
          "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr rules test hello") == kNoRules);
  FakeScorer scorer;
  host.fake_scorer = &scorer;
  CHECK(host.reply("!tyr rules test") == "Usage: !tyr rules test <text>");
  CHECK(host.reply("!tyr rules test   \t") == "Usage: !tyr rules test <text>");

  CHECK(host.reply("!tyr rules test hello") == "Verdict: allow, score 0.0\nNo rule matched.");
  CHECK(scorer.explained["room_id"] == "!mgmt:hs");  // no protected room: the management room

  host.protect("!r2:hs");
  host.protect("!r1:hs");
  scorer.verdict.score = 3.5;
  scorer.verdict.action = Action::kRedact;
  scorer.verdict.shadow_action = Action::kBan;
  scorer.verdict.explanation = "spam-link +3.5 (\"cheap\")";
  CHECK(host.reply("!tyr rules test buy  \"cheap\"  pills") ==
        "Verdict: redact, score 3.5 (shadow rules: ban)\nspam-link +3.5 (\"cheap\")");
  const auto& ev = scorer.explained;
  CHECK(ev["type"] == "m.room.message");
  CHECK(ev["event_id"] == "$rules-test");
  CHECK(ev["room_id"] == "!r1:hs");
  CHECK(ev["sender"] == "@op:hs");
  CHECK(ev["origin_server_ts"].get<int64_t>() > 0);
  CHECK(ev["content"] == nlohmann::json{{"msgtype", "m.text"}, {"body", "buy  \"cheap\"  pills"}});
}

TEST_CASE("commands: rules reload asks the host, which answers in reply", "[commands]") {
  FakeHost host;
  auto queued = host.run("!tyr rules reload");
  CHECK(queued.empty());
  CHECK(host.calls == std::vector<std::string>{"reload rules, reply to " +
                                               host.last_event["event_id"].get<std::string>()});
}

TEST_CASE("commands: protections passes its words to the scorer and keeps changed settings",
          "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr protections") == "No protections are available.");
  FakeScorer scorer;
  host.fake_scorer = &scorer;

  CHECK(host.reply("!tyr protections") == "Protections: flood (enabled)");
  CHECK(scorer.protection_calls.back().empty());
  CHECK_FALSE(host.state("protections/settings"));

  scorer.protections_answer = {"flood: disabled in !r1:hs.", true};
  host.protect("!r1:hs", "#one:hs");
  CHECK(host.reply("!tyr Protections disable flood !r1:hs") == "flood: disabled in !r1:hs.");
  CHECK(scorer.protection_calls.back() == std::vector<std::string>{"disable", "flood", "!r1:hs"});
  CHECK(host.state("protections/settings") == dump_json(scorer.settings));
}

TEST_CASE("commands: protections takes only protected rooms, by ID or alias, and passes the ID",
          "[commands]") {
  FakeHost host;
  FakeScorer scorer;
  host.fake_scorer = &scorer;
  host.protect("!r1:hs", "#one:hs");
  const std::string not_protected =
      "#nope:hs is not a room Tyr protects (by room ID, or the alias it was added with). `!tyr "
      "rooms` lists them.";
  CHECK(host.reply("!tyr protections enable flooding #nope:hs") == not_protected);
  CHECK(host.reply("!tyr protections #nope:hs") == not_protected);
  CHECK(host.reply("!tyr protections config link_spam blocked_domains a.example #nope:hs") ==
        not_protected);
  CHECK(scorer.protection_calls.empty());
  host.reply("!tyr protections show flooding #one:hs");
  CHECK(scorer.protection_calls.back() == std::vector<std::string>{"show", "flooding", "!r1:hs"});
  // Several value words: the last is a room only when it looks like one.
  host.reply("!tyr protections config link_spam blocked_domains a.example b.example");
  CHECK(scorer.protection_calls.back() == std::vector<std::string>{"config", "link_spam",
                                                                   "blocked_domains", "a.example",
                                                                   "b.example"});
  host.reply("!tyr protections config link_spam blocked_domains a.example b.example #one:hs");
  CHECK(scorer.protection_calls.back() == std::vector<std::string>{"config", "link_spam",
                                                                   "blocked_domains", "a.example",
                                                                   "b.example", "!r1:hs"});
  // A single value word that starts with '#' is the value.
  host.reply("!tyr protections config name_abuse banned_words #scam");
  CHECK(scorer.protection_calls.back().back() == "#scam");
}

namespace {

struct ReportHost : FakeHost {
  ReportHost() {
    put_state("report/7", R"({"room_id":"!r1:hs","event_id":"$bad","sender":"@x:evil",)"
                          R"("reporter":"@a:hs","reason":"spam"})");
  }
  static nlohmann::json redact_event() {
    return {{"kind", "redact_event"},
            {"room", "!r1:hs"},
            {"event_id", "$bad"},
            {"sender", "@x:evil"},
            {"reason", "Abuse report 7"}};
  }
};

}  // namespace

TEST_CASE("commands: report needs an answered report's ID and a known verb", "[commands]") {
  ReportHost host;
  const std::string usage = "Usage: !tyr report <id> redact|kick|ban|ignore";
  CHECK(host.reply("!tyr report") == usage);
  CHECK(host.reply("!tyr report 7") == usage);
  CHECK(host.reply("!tyr report 7 ban now") == usage);
  CHECK(host.reply("!tyr report 8 redact") == "No report 8.");
  CHECK(host.reply("!tyr report 7 delete") == usage);
  host.exempt = {"@x:evil"};
  CHECK(host.reply("!tyr report 7 ban") == "Not acting on report 7: @x:evil is exempt.");
  CHECK(host.state("report/7"));
  CHECK(host.reply("!tyr report 7 ignore") == "Report 7 ignored.");
  CHECK_FALSE(host.state("report/7"));
  CHECK(host.reply("!tyr report 7 ignore") == "No report 7.");
}

TEST_CASE("commands: report redact, kick and ban queue the actions and forget the report",
          "[commands]") {
  SECTION("redact") {
    ReportHost host;
    auto q = host.run("!tyr report 7 redact");
    REQUIRE(q.size() == 2);
    CHECK(q[0].action == ReportHost::redact_event());
    CHECK(q[0].priority == Priority::kRedact);
    CHECK(q[1].action == host.notice("Report 7: redacting @x:evil."));
    CHECK_FALSE(host.state("report/7"));
  }
  SECTION("kick") {
    ReportHost host;
    auto q = host.run("!tyr report 7 kick");
    REQUIRE(q.size() == 3);
    CHECK(q[0].action == nlohmann::json{{"kind", "kick"},
                                        {"room", "!r1:hs"},
                                        {"user", "@x:evil"},
                                        {"reason", "Abuse report 7"}});
    CHECK(q[0].priority == Priority::kBan);
    CHECK(q[1].action == ReportHost::redact_event());
    CHECK(q[1].priority == Priority::kRedact);
    CHECK(q[2].action == host.notice("Report 7: redacting and kicking @x:evil."));
    CHECK_FALSE(host.state("report/7"));
  }
  SECTION("ban") {
    ReportHost host;
    auto q = host.run("!tyr report 7 ban");
    REQUIRE(q.size() == 3);
    CHECK(q[0].action == nlohmann::json{{"kind", "rule_ban"},
                                        {"room", "!r1:hs"},
                                        {"user", "@x:evil"},
                                        {"reason", "Abuse report 7"}});
    CHECK(q[0].priority == Priority::kBan);
    CHECK(q[1].action == ReportHost::redact_event());
    CHECK(q[2].action == host.notice("Report 7: redacting and banning @x:evil."));
    CHECK_FALSE(host.state("report/7"));
  }
}

TEST_CASE("commands: audit checks its arguments", "[commands]") {
  FakeHost host;
  const std::string usage = "Usage: !tyr audit <@user|!room|#alias> [count]";
  CHECK(host.reply("!tyr audit") == usage);
  CHECK(host.reply("!tyr audit @x:evil 3 4") == usage);
  for (const char* bad :
       {"!tyr audit @x:evil 0", "!tyr audit @x:evil 51", "!tyr audit @x:evil many"}) {
    INFO(bad);
    CHECK(host.reply(bad) == "The count must be a number from 1 to 50.");
  }
  CHECK(host.reply("!tyr audit evil.example") ==
        "'evil.example' is neither a user ID (@user:server) nor a room (a room ID such as "
        "!aBcD…, or #alias:server).");
  CHECK(host.reply("!tyr audit @x:evil") == "The audit trail has nothing about @x:evil.");
  CHECK(host.reply("!tyr audit #nowhere:hs") == "The audit trail has nothing about #nowhere:hs.");
}

TEST_CASE("commands: audit shows the newest entries about a user or a protected room",
          "[commands]") {
  FakeHost host;
  host.protect("!r1:hs", "#one:hs");
  auto entry = [](std::string action, std::string user, std::string room) {
    AuditEntry e;
    e.action = std::move(action);
    e.mode = "live";
    e.user = std::move(user);
    e.room = std::move(room);
    e.outcome = "ok";
    return e;
  };
  for (int i = 0; i < 4; ++i) {
    AuditEntry e = entry(i % 2 ? "ban" : "redact", "@x:evil", "!r1:hs");
    e.ts_ms = 1'800'000'000'000 + i * 1000;
    e.reason_text = "rule " + std::to_string(i);
    host.record_audit(e);
  }
  host.record_audit(entry("kick", "@y:evil", "!r2:hs"));

  auto expected = [&](const std::string& who, const std::string& user, const std::string& room,
                      size_t count) {
    AuditQuery q;
    q.user = user;
    q.room = room;
    q.limit = count + 1;
    return "Audit trail for " + who + ", newest first:\n" +
           format_audit_for_room(host.audit_log().query(q), count);
  };
  const std::string user = host.reply("!tyr audit @x:evil");
  CHECK(user == expected("@x:evil", "@x:evil", "", 10));
  CHECK(user.find("rule 3") < user.find("rule 0"));  // newest first

  const std::string two = host.reply("!tyr audit @x:evil 2");
  CHECK(two == expected("@x:evil", "@x:evil", "", 2));
  CHECK(two.find("rule 3") != std::string::npos);
  CHECK(two.find("rule 1") == std::string::npos);

  // A protected room's alias is looked up by its ID; other rooms are queried as typed.
  CHECK(host.reply("!tyr audit #one:hs") == expected("#one:hs", "", "!r1:hs", 10));
  CHECK(host.reply("!tyr audit !r2:hs 50") == expected("!r2:hs", "", "!r2:hs", 50));
  CHECK(host.reply("!tyr audit !r2:hs 50").find("kick") != std::string::npos);
}
