// The bot's command handling: which events lead to which queued actions. The homeserver is
// never called here (handle_event only queues); the store is a real RocksDB in a temp dir.

#include <catch2/catch.hpp>

#include "bot_rig.hpp"

using namespace tyr::engine;

namespace {

using BotFixture = tyr::test::BotRig;

}  // namespace

TEST_CASE("bot: an operator's command is answered in the management room", "[bot]") {
  BotFixture f;
  auto ev = f.message("@op:hs", "!tyr ping one two");
  auto actions = f.handle(ev);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0]["kind"] == "notice");
  CHECK(actions[0]["room"] == "!mgmt:hs");
  CHECK(actions[0]["body"] == "pong one two");
  CHECK(actions[0]["reply_to"] == ev["event_id"]);
}

TEST_CASE("bot: non-operators, other rooms, edits and Tyr's own messages are ignored", "[bot]") {
  BotFixture f;
  CHECK(f.handle(f.message("@mallory:hs", "!tyr status")).empty());
  CHECK(f.handle(f.message("@op:hs", "!tyr status", "!elsewhere:hs")).empty());
  CHECK(f.handle(f.message("@tyr:hs", "!tyr status")).empty());
  auto edit = f.message("@op:hs", "* !tyr status");
  edit["content"]["m.relates_to"] = {{"rel_type", "m.replace"}, {"event_id", "$x"}};
  CHECK(f.handle(edit).empty());
  CHECK(f.handle(f.message("@op:hs", "hello everyone")).empty());
  // Malformed events do not crash the handler.
  CHECK(f.handle({{"event_id", "$bad"}, {"type", "m.room.message"}}).empty());
  CHECK(f.handle({{"event_id", "$bad2"},
                  {"room_id", "!mgmt:hs"},
                  {"sender", "@op:hs"},
                  {"type", "m.room.message"},
                  {"content", "not an object"}})
            .empty());
}

TEST_CASE("bot: unknown commands and bad quoting get a helpful reply", "[bot]") {
  BotFixture f;
  auto a = f.handle(f.message("@op:hs", "!tyr frobnicate now"));
  REQUIRE(a.size() == 1);
  CHECK(a[0]["body"] == "Unknown command 'frobnicate'. Try `!tyr help` for the list of commands.");
  auto b = f.handle(f.message("@op:hs", "!tyr ping \"open"));
  REQUIRE(b.size() == 1);
  CHECK(b[0]["body"] ==
        "Could not read that command: unterminated \" quote opened at character 11");
  auto c = f.handle(f.message("@op:hs", "!tyr"));
  REQUIRE(c.size() == 1);
  CHECK(c[0]["body"] == "Tyr is here. Try `!tyr help`.");
}

TEST_CASE("bot: help lists every command", "[bot]") {
  BotFixture f;
  auto a = f.handle(f.message("@op:hs", "!tyr help"));
  REQUIRE(a.size() == 1);
  const std::string body = a[0]["body"];
  for (const char* usage :
       {"rooms add <room-id|#alias>", "rooms remove <room-id|#alias>", "status", "ping [text]",
        "help", "lists watch <!room|#alias>", "lists create <shortcode>",
        "ban [list] [user|room|server] <entity> [reason]", "unban [list]", "takedown [list]",
        "allow [entity]", "redact <user> [room]"}) {
    CHECK(body.find(usage) != std::string::npos);
  }
}

TEST_CASE("bot: status reports version, rooms, lists and the service's lines", "[bot]") {
  BotFixture f;
  f.bot->set_status_provider([] { return std::vector<std::string>{"Queues: inbox 3, outbox 4"}; });
  auto a = f.handle(f.message("@op:hs", "!tyr STATUS"));
  REQUIRE(a.size() == 1);
  const std::string body = a[0]["body"];
  CHECK(body.rfind("Tyr 0.1.0, up ", 0) == 0);
  CHECK(body.find("Protected rooms: 0") != std::string::npos);
  CHECK(body.find("Watched lists: 0 (0 user, 0 server, 0 room rules)") != std::string::npos);
  CHECK(body.find("Queues: inbox 3, outbox 4") != std::string::npos);
}

TEST_CASE("bot: rooms add queues a join, bad arguments get usage", "[bot]") {
  BotFixture f;
  auto a = f.handle(f.message("@op:hs", "!tyr rooms add #lobby:hs"));
  REQUIRE(a.size() == 1);
  CHECK(a[0]["kind"] == "join_protect");
  CHECK(a[0]["room"] == "#lobby:hs");
  CHECK(a[0]["requested_by"] == "@op:hs");
  auto b = f.handle(f.message("@op:hs", "!tyr rooms add lobby"));
  REQUIRE(b.size() == 1);
  CHECK(b[0]["body"] == "Usage: !tyr rooms add <room-id|#alias>");
}

TEST_CASE("bot: rooms lists and removes protected rooms, and removal is durable", "[bot]") {
  BotFixture f;
  {
    Batch b;
    b.put(Cf::kState, "room/!r1:hs", R"({"alias":"#one:hs"})");
    b.put(Cf::kState, "room/!r2:hs", "{}");
    REQUIRE(f.store->commit(b));
    f.bot->rooms().load(*f.store);
  }
  auto list = f.handle(f.message("@op:hs", "!tyr rooms"));
  REQUIRE(list.size() == 1);
  CHECK(list[0]["body"] == "Protected rooms (2):\n  !r1:hs (#one:hs)\n  !r2:hs");

  auto removed = f.handle(f.message("@op:hs", "!tyr rooms remove #one:hs"));
  REQUIRE(removed.size() == 1);
  CHECK(removed[0]["body"] == "No longer protecting !r1:hs.");
  CHECK_FALSE(f.store->get(Cf::kState, "room/!r1:hs").has_value());
  CHECK(f.bot->rooms().size() == 1);

  auto missing = f.handle(f.message("@op:hs", "!tyr rooms remove !nope:hs"));
  REQUIRE(missing.size() == 1);
  CHECK(missing[0]["body"] == "!nope:hs is not a protected room. See `!tyr rooms`.");

  auto again = f.handle(f.message("@op:hs", "!tyr rooms add !r2:hs"));
  REQUIRE(again.size() == 1);
  CHECK(again[0]["body"] == "!r2:hs is already protected.");
}
