// `rooms …` and `lists …` commands against a fake host (tests/unit/commands_fixture.hpp):
// their replies, and the executor actions they queue instead of calling the homeserver.

#include <catch2/catch.hpp>

#include "commands_fixture.hpp"

using namespace tyr::engine;
using tyr::test::FakeHost;

TEST_CASE("commands: rooms lists the protected rooms with their aliases", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr rooms") ==
        "No protected rooms. Invite me to a room, then run `!tyr rooms add <room>`.");
  host.protect("!r2:hs");
  host.protect("!r1:hs", "#one:hs");
  CHECK(host.reply("!tyr rooms") == "Protected rooms (2):\n  !r1:hs (#one:hs)\n  !r2:hs");
}

TEST_CASE("commands: rooms add queues a join_protect, or says why not", "[commands]") {
  FakeHost host;
  for (const char* bad : {"!tyr rooms add", "!tyr rooms add lobby", "!tyr rooms add #a:hs #b:hs",
                          "!tyr rooms add @user:hs"}) {
    INFO(bad);
    CHECK(host.reply(bad) == "Usage: !tyr rooms add <room-id|#alias>");
  }
  host.protect("!r1:hs", "#one:hs");
  CHECK(host.reply("!tyr rooms add #one:hs") == "#one:hs is already protected.");
  CHECK(host.reply("!tyr rooms add !r1:hs") == "!r1:hs is already protected.");

  auto queued = host.run("!tyr rooms add #lobby:hs");
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].action == nlohmann::json{{"kind", "join_protect"},
                                           {"room", "#lobby:hs"},
                                           {"requested_by", "@op:hs"},
                                           {"reply_to", host.last_event["event_id"]}});
  CHECK(queued[0].priority == Priority::kControl);
  auto by_id = host.run("!tyr ROOMS ADD !new:hs", "@op2:hs");
  REQUIRE(by_id.size() == 1);
  CHECK(by_id[0].action["room"] == "!new:hs");
  CHECK(by_id[0].action["requested_by"] == "@op2:hs");
}

TEST_CASE("commands: rooms remove stops protecting a room by ID or alias", "[commands]") {
  FakeHost host;
  host.protect("!r1:hs", "#one:hs");
  host.protect("!r2:hs");
  CHECK(host.reply("!tyr rooms remove") == "Usage: !tyr rooms remove <room>");
  CHECK(host.reply("!tyr rooms remove !r1:hs !r2:hs") == "Usage: !tyr rooms remove <room>");
  CHECK(host.reply("!tyr rooms remove !nope:hs") ==
        "!nope:hs is not a protected room. See `!tyr rooms`.");
  CHECK(host.calls == std::vector<std::string>{"enqueue notice"});

  CHECK(host.reply("!tyr rooms remove #one:hs") == "No longer protecting !r1:hs.");
  CHECK(host.calls == std::vector<std::string>{"unprotect !r1:hs", "enqueue notice"});
  CHECK(host.reply("!tyr rooms remove !r2:hs") == "No longer protecting !r2:hs.");
  CHECK(host.rooms.empty());
}

TEST_CASE("commands: lists shows every list with its rule counts and flags", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr lists") ==
        "No lists. Watch one with `!tyr lists watch <#alias|!room>` or create one with "
        "`!tyr lists create <shortcode>`.");
  host.watch(FakeHost::list("!a:hs", "#bans:hs"),
             {FakeHost::rule_event("user", "@a:evil"), FakeHost::rule_event("user", "@b:evil"),
              FakeHost::rule_event("server", "evil.example"),
              FakeHost::rule_event("user", "@c:evil", "org.example.unknown")});
  host.watch(FakeHost::list("!b:hs", "", "ours", true, true),
             {FakeHost::rule_event("room", "!bad:evil", "m.takedown")});
  CHECK(
      host.reply("!tyr lists") ==
      "Lists (2):"
      "\n  !a:hs (#bans:hs): 2 user, 1 server, 0 room rules (+1 with a recommendation Tyr ignores)"
      "\n  !b:hs [ours] writable default shadow: 0 user, 0 server, 1 room rules");
}

TEST_CASE("commands: lists watch queues a watch_list, or says why not", "[commands]") {
  FakeHost host;
  for (const char* bad :
       {"!tyr lists watch", "!tyr lists watch bans", "!tyr lists watch #a:hs #b:hs"}) {
    INFO(bad);
    CHECK(host.reply(bad) == "Usage: !tyr lists watch <!room|#alias>");
  }
  host.watch(FakeHost::list("!a:hs", "#bans:hs"));
  CHECK(host.reply("!tyr lists watch #bans:hs") == "Already watching !a:hs.");
  CHECK(host.reply("!tyr lists watch !a:hs") == "Already watching !a:hs.");

  auto queued = host.run("!tyr lists watch #community-bans:example.org");
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].action == nlohmann::json{{"kind", "watch_list"},
                                           {"room", "#community-bans:example.org"},
                                           {"reply_to", host.last_event["event_id"]}});
  CHECK(queued[0].priority == Priority::kControl);
}

TEST_CASE("commands: lists unwatch forgets a list room and reacts to the rules it drops",
          "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr lists unwatch") == "Usage: !tyr lists unwatch <list>");
  CHECK(host.reply("!tyr lists unwatch !nope:hs") == "!nope:hs is not a watched list room.");
  (void)host.policy_book().replace_feed("community", {}, false);
  REQUIRE(host.policy_book().find("feed:community"));
  CHECK(host.reply("!tyr lists unwatch feed:community") ==
        "feed:community is not a watched list room.");

  host.watch(FakeHost::list("!a:hs", "#bans:hs"), {FakeHost::rule_event("user", "@a:evil"),
                                                   FakeHost::rule_event("server", "evil.example")});
  CHECK(host.reply("!tyr lists unwatch #bans:hs") ==
        "No longer watching !a:hs (2 rules dropped; bans made because of them will be lifted).");
  CHECK(host.calls == std::vector<std::string>{"rule diffs 2", "enqueue notice"});
  CHECK_FALSE(host.policy_book().find("!a:hs"));
  // Durable: a book reloaded from the store has forgotten it too.
  PolicyBook reloaded(host.store());
  reloaded.load();
  CHECK_FALSE(reloaded.find("!a:hs"));
}

TEST_CASE("commands: lists create queues a create_list for a valid new shortcode", "[commands]") {
  FakeHost host;
  const std::string usage =
      "Usage: !tyr lists create <shortcode> (lower-case letters, digits, '-' and '_')";
  for (const char* bad : {"!tyr lists create", "!tyr lists create Bans", "!tyr lists create a b",
                          "!tyr lists create ''", "!tyr lists create bans!",
                          "!tyr lists create abcdefghijklmnopqrstuvwxyz0123456"}) {
    INFO(bad);
    CHECK(host.reply(bad) == usage);
  }
  host.watch(FakeHost::list("!ours:hs", "", "ours", true));
  CHECK(host.reply("!tyr lists create ours") == "A list named ours exists already.");

  auto queued = host.run("!tyr lists create spam_2-x");
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].action == nlohmann::json{{"kind", "create_list"},
                                           {"shortcode", "spam_2-x"},
                                           {"reply_to", host.last_event["event_id"]}});
  CHECK(queued[0].priority == Priority::kControl);
  CHECK(host.run("!tyr lists create abcdefghijklmnopqrstuvwxyz012345").size() ==
        1);  // 32: the most
}
