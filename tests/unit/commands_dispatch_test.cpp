// Management-room commands, the common part: which messages are commands, the table of specs
// and `help`, `status`, `ping`. Run against a fake host (tests/unit/commands_fixture.hpp).

#include <catch2/catch.hpp>

#include <cctype>
#include <set>

#include "commands_fixture.hpp"

using namespace tyr::engine;
using namespace tyr::engine::commands;
using tyr::test::FakeHost;
using tyr::test::FakeScorer;

TEST_CASE("commands: help lists every spec of the table, in order", "[commands]") {
  FakeHost host;
  const std::string body = host.reply("!tyr help");
  std::string expected = "Tyr commands (prefix !tyr):";
  for (const auto& spec : command_table()) {
    expected += "\n  " + std::string(spec.usage) + " — " + std::string(spec.summary);
  }
  CHECK(body == expected);
  CHECK(body == help_text("!tyr"));
  // One line per spec, the usage of each on its own line.
  size_t lines = 0;
  for (char c : body) lines += c == '\n';
  CHECK(lines == command_table().size());
  for (const auto& spec : command_table()) {
    INFO(spec.usage);
    CHECK(body.find("\n  " + std::string(spec.usage) + " — ") != std::string::npos);
  }
  CHECK(command_table().size() == 37);
}

TEST_CASE("commands: help keeps its text byte for byte", "[commands]") {
  FakeHost host;
  const std::string body = host.reply("!tyr help");
  CHECK(
      body.rfind(
          "Tyr commands (prefix !tyr):\n  rooms add <room-id|#alias> — join a room and protect it\n"
          "  rooms remove <room-id|#alias> — stop protecting a room\n",
          0) == 0);
  CHECK(body.find("\n  protections [room] | protections show|enable|disable|shadow <name> [room] "
                  "| protections config <name> <key> <value>[,<value>…] [room] — built-in "
                  "protections: state, counters and settings\n") != std::string::npos);
  CHECK(body.ends_with("\n  ping [text] — check that Tyr is listening\n  help — this list"));
}

TEST_CASE(
    "commands: the table has unique lower-case words, a handler each, no spec hidden by an earlier "
    "one",
    "[commands]") {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  const auto table = command_table();
  for (size_t i = 0; i < table.size(); ++i) {
    const auto& spec = table[i];
    INFO(spec.usage);
    CHECK(spec.handler != nullptr);
    CHECK(!spec.words[0].empty());
    CHECK(!spec.summary.empty());
    CHECK(spec.usage.rfind(spec.words[0], 0) == 0);
    for (auto w : spec.words) {
      for (char c : w) CHECK(!std::isupper(static_cast<unsigned char>(c)));
    }
    CHECK(seen.insert({spec.words[0], spec.words[1]}).second);
    // An earlier spec whose words start this one's would always win.
    for (size_t j = 0; j < i; ++j) {
      const auto& earlier = table[j];
      const bool prefix = earlier.words[0] == spec.words[0] &&
                          (earlier.words[1].empty() || earlier.words[1] == spec.words[1]);
      CHECK_FALSE(prefix);
    }
  }
}

TEST_CASE("commands: find_command matches words case-insensitively, the longer path first",
          "[commands]") {
  auto usage = [](std::vector<std::string> words) -> std::string {
    const CommandSpec* spec = find_command(words);
    return spec ? std::string(spec->usage) : "none";
  };
  CHECK(usage({"ROOMS", "Add", "!r:hs"}) == "rooms add <room-id|#alias>");
  CHECK(usage({"rooms"}) == "rooms");
  CHECK(usage({"rooms", "list"}) == "rooms");
  CHECK(usage({"allow", "remove", "@a:hs"}) == "allow remove <entity>");
  CHECK(usage({"allow", "@a:hs"}) == "allow [entity]");
  CHECK(usage({"Rules", "TEST", "hi"}) == "rules test <text>");
  CHECK(usage({"roomsadd"}) == "none");
  CHECK(usage({"room"}) == "none");
  CHECK(usage({}) == "none");
}

TEST_CASE("commands: only an operator's unedited command with the prefix is run", "[commands]") {
  FakeHost host;
  CHECK(host.run("!tyr ping", "@mallory:hs").empty());
  CHECK(host.run("hello everyone").empty());
  CHECK(host.run("!tyrping").empty());
  auto edit = host.message("* !tyr ping");
  edit["content"]["m.relates_to"] = {{"rel_type", "m.replace"}, {"event_id", "$x"}};
  CHECK(host.run_event(edit).empty());
  auto no_body = host.message("!tyr ping");
  no_body["content"].erase("body");
  CHECK(host.run_event(no_body).empty());
  auto bad_content = host.message("!tyr ping");
  bad_content["content"] = "!tyr ping";
  CHECK(host.run_event(bad_content).empty());
  auto no_sender = host.message("!tyr ping");
  no_sender.erase("sender");
  CHECK(host.run_event(no_sender).empty());
  // A reply (not an edit) is a command like any other; the prefix is case-insensitive.
  auto reply = host.message("!TYR ping", "@op2:hs");
  reply["content"]["m.relates_to"] = {{"m.in_reply_to", {{"event_id", "$x"}}}};
  auto queued = host.run_event(reply);
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].action == host.notice("pong"));
}

TEST_CASE("commands: an unknown command, a bad quote and a bare prefix get a helpful reply",
          "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr frobnicate now") ==
        "Unknown command 'frobnicate'. Try `!tyr help` for the list of commands.");
  CHECK(host.reply("!tyr ping \"open") ==
        "Could not read that command: unterminated \" quote opened at character 11");
  CHECK(host.reply("!tyr") == "Tyr is here. Try `!tyr help`.");
  host.cfg.management.command_prefix = "!mod";
  CHECK(host.run("!tyr ping").empty());
  CHECK(host.reply("!mod nope") ==
        "Unknown command 'nope'. Try `!mod help` for the list of commands.");
}

TEST_CASE("commands: a misspelt command gets a did-you-mean with its usage", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr stauts") == "Unknown command 'stauts'. Did you mean `!tyr status`?");
  CHECK(host.reply("!tyr rooms ad #x:hs") ==
        "Unknown command 'rooms ad'. Did you mean `!tyr rooms add <room-id|#alias>`?");
  CHECK(host.reply("!tyr lists shadwo #l:hs") ==
        "Unknown command 'lists shadwo'. Did you mean `!tyr lists shadow <list>`?");
  CHECK(host.reply("!tyr kikc @x:hs") ==
        "Unknown command 'kikc'. Did you mean `!tyr kick <user> [room] [reason]`?");
  // A command without arguments given some is not run.
  CHECK(host.reply("!tyr status now") ==
        "Unknown command 'status now'. Did you mean `!tyr status`?");
  CHECK(closest_command({"xyzzy"}) == nullptr);
  CHECK(closest_command({std::string(100, 'a')}) == nullptr);
}

TEST_CASE("commands: a reply is a notice in the management room, in reply to the command",
          "[commands]") {
  FakeHost host;
  auto ev = host.message("!tyr ping one \"two three\"");
  auto queued = host.run_event(ev);
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].action == nlohmann::json{{"kind", "notice"},
                                           {"room", "!mgmt:hs"},
                                           {"body", "pong one two three"},
                                           {"reply_to", ev["event_id"]}});
  CHECK(queued[0].priority == Priority::kControl);
  // Without an event ID there is nothing to reply to.
  auto anonymous = host.message("!tyr ping");
  anonymous.erase("event_id");
  auto plain = host.run_event(anonymous);
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].action ==
        nlohmann::json{{"kind", "notice"}, {"room", "!mgmt:hs"}, {"body", "pong"}});
}

TEST_CASE("commands: ping answers pong with its words", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr ping") == "pong");
  CHECK(host.reply("!tyr PING a  b") == "pong a b");
}

TEST_CASE("commands: status reports version, uptime, rooms, lists and the service's lines",
          "[commands]") {
  FakeHost host;
  host.up = std::chrono::seconds(3725);
  host.lines = {"Queues: inbox 3, outbox 4", "Feeds: none"};
  CHECK(host.reply("!tyr status") ==
        "Tyr 0.1.0, up 1h 2m 5s\nProtected rooms: 0\nWatched lists: 0 (0 user, 0 server, 0 room "
        "rules)"
        "\nQueues: inbox 3, outbox 4\nFeeds: none");

  host.protect("!r1:hs");
  host.protect("!r2:hs", "#two:hs");
  host.watch(
      FakeHost::list("!list:hs"),
      {FakeHost::rule_event("user", "@a:evil"), FakeHost::rule_event("user", "@b:evil"),
       FakeHost::rule_event("server", "evil.example"), FakeHost::rule_event("room", "!bad:evil")});
  host.watch(FakeHost::list("!other:hs"), {FakeHost::rule_event("server", "worse.example")});
  host.up = std::chrono::seconds(2 * 86400 + 7);
  host.lines.clear();
  host.cfg.policy.dry_run = true;
  CHECK(host.reply("!tyr status") ==
        "Tyr 0.1.0, up 2d 0h 0m 7s\nProtected rooms: 2\nWatched lists: 2 (2 user, 2 server, 1 room "
        "rules)"
        "\nDry run: Tyr reports what it would do and does nothing");
}

TEST_CASE("commands: status counts verdicts when rules or protections are loaded", "[commands]") {
  FakeHost host;
  FakeScorer scorer;
  host.fake_scorer = &scorer;
  host.up = std::chrono::seconds(59);
  host.counts = {.notify = 1, .redact = 2, .kick = 3, .ban = 4, .shadow = 5};
  CHECK(host.reply("!tyr status") ==
        "Tyr 0.1.0, up 59s\nProtected rooms: 0\nWatched lists: 0 (0 user, 0 server, 0 room rules)"
        "\nVerdicts: 1 notify, 2 redact, 3 kick, 4 ban; shadow rules would have acted 5 times");
}
