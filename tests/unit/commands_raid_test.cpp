// `verify`, `since`, `import`, `lists default`, a ban without a list, and the admin API commands
// (`suspend`, `unsuspend`, `deactivate`, `shutdown room`) against a fake host
// (tests/unit/commands_fixture.hpp): replies, refusals and the exact actions queued.

#include <catch2/catch.hpp>

#include "commands_fixture.hpp"
#include "engine/core/clock.hpp"

using namespace tyr::engine;
using tyr::now_ms;
using tyr::test::FakeHost;

TEST_CASE("commands: verify asks the executor to check every protected room", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr verify") ==
        "Tyr protects no rooms yet. Add one with `!tyr rooms add <room>`.");
  host.protect("!r1:hs");
  CHECK(host.reply("!tyr verify now") ==
        "Unknown command 'verify now'. Did you mean `!tyr verify`?");
  auto queued = host.run("!tyr verify");
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].action ==
        nlohmann::json{{"kind", "verify"}, {"reply_to", host.last_event["event_id"]}});
  CHECK(queued[0].priority == Priority::kControl);
}

TEST_CASE("commands: since reads a duration and an action, and queues one pass per room",
          "[commands]") {
  FakeHost host;
  const std::string usage =
      "Usage: !tyr since <duration> kick|ban|redact|mute [room] [reason] (duration: 30m, 2h, "
      "1d, up to 7d)";
  CHECK(host.reply("!tyr since 10m") == usage);
  CHECK(host.reply("!tyr since soon kick") == "soon is not a duration Tyr reads. " + usage);
  CHECK(host.reply("!tyr since 8d kick") == "8d is not a duration Tyr reads. " + usage);
  CHECK(host.reply("!tyr since 10m hug") == "hug is not an action `since` takes. " + usage);
  CHECK(host.reply("!tyr since 10m kick") == "Tyr protects no rooms yet.");
  host.protect("!r1:hs", "#one:hs");
  host.protect("!r2:hs");
  CHECK(host.reply("!tyr since 10m kick #nope:hs") ==
        "#nope:hs is not a room Tyr protects. `!tyr rooms` lists them.");

  const int64_t before = now_ms();
  auto one = host.run("!tyr since 2h BAN #one:hs raid of the 7th");
  const int64_t after = now_ms();
  REQUIRE(one.size() == 2);
  const auto& a = one[0].action;
  CHECK(a["kind"] == "since");
  CHECK(a["room"] == "!r1:hs");
  CHECK(a["verb"] == "ban");
  CHECK(a["reason"] == "raid of the 7th");
  CHECK(a["since_ms"].get<int64_t>() >= before - 2 * 3'600'000);
  CHECK(a["since_ms"].get<int64_t>() <= after - 2 * 3'600'000);
  CHECK(one[1].action ==
        host.notice("Looking for everyone who joined or spoke in the last 2h in !r1:hs; each "
                    "room's answer follows."));

  auto all = host.run("!tyr since 30 redact");
  REQUIRE(all.size() == 3);
  CHECK(all[0].action["room"] == "!r1:hs");
  CHECK(all[1].action["room"] == "!r2:hs");
  CHECK(all[1].action["verb"] == "redact");
  CHECK(all[2].action ==
        host.notice("Looking for everyone who joined or spoke in the last 30 in 2 rooms; each "
                    "room's answer follows."));
}

TEST_CASE("commands: lists default chooses the list a ban without a list writes to", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr lists default") ==
        "No default list: name one with `!tyr lists default <list>` (a list Tyr writes; `!tyr "
        "lists create <shortcode>` makes one).");
  CHECK(host.reply("!tyr ban @x:evil spam") ==
        "Which list? Name one (`!tyr ban <list> @x:evil`), or set a default with `!tyr lists "
        "default <list>`.");
  host.watch(FakeHost::list("!bans:hs", "", "bans", true));
  // The only list Tyr writes is the default until one is chosen.
  CHECK(host.reply("!tyr lists default") == "The default list is bans (!bans:hs).");
  auto banned = host.run("!tyr ban @x:evil spam");
  REQUIRE(banned.size() == 1);
  CHECK(banned[0].action["kind"] == "set_rule");
  CHECK(banned[0].action["list"] == "!bans:hs");
  CHECK(banned[0].action["state_key"] == "rule:@x:evil");
  CHECK(banned[0].action["content"] ==
        nlohmann::json{{"entity", "@x:evil"}, {"recommendation", "m.ban"}, {"reason", "spam"}});
  CHECK(banned[0].action["summary"] == "Banned @x:evil (user) in bans.");
  // A kind word also works without a list.
  auto server = host.run("!tyr ban server evil.example");
  REQUIRE(server.size() == 1);
  CHECK(server[0].action["type"] == "m.policy.rule.server");

  host.watch(FakeHost::list("!more:hs", "", "more", true));
  CHECK(host.reply("!tyr lists default") ==
        "No default list: name one with `!tyr lists default <list>` (a list Tyr writes; `!tyr "
        "lists create <shortcode>` makes one).");
  host.watch(FakeHost::list("!theirs:hs", "#theirs:hs"));
  CHECK(host.reply("!tyr lists default #theirs:hs") ==
        "#theirs:hs is not a list Tyr can write. Create one with `!tyr lists create "
        "<shortcode>`.");
  CHECK(host.reply("!tyr lists default more") ==
        "The default list is now more (was none): `!tyr ban <entity>` writes there.");
  CHECK(host.state("defaultlist") == "!more:hs");
  auto queued = host.run("!tyr ban @y:evil");
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].action["list"] == "!more:hs");
  // A word that names neither a list nor an entity is an unknown list, not an entity.
  CHECK(host.reply("!tyr ban nolist @y:evil") ==
        "nolist is not a list Tyr can write. Create one with `!tyr lists create <shortcode>`.");
  // Operators are never banned.
  CHECK(host.reply("!tyr ban @op2:hs") ==
        "Tyr will not ban @op2:hs: operators are never acted on.");
}

TEST_CASE("commands: import queues a room's bans into a list", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr import") ==
        "Usage: !tyr import <room> [list] (the default list when none)");
  CHECK(host.reply("!tyr import !r1:hs") ==
        "!r1:hs is not a room Tyr protects (by room ID, or the alias it was added with). `!tyr "
        "rooms` lists them.");
  host.protect("!r1:hs", "#one:hs");
  CHECK(host.reply("!tyr import #one:hs") ==
        "No default list: name the list, or set one with `!tyr lists default <list>`.");
  host.watch(FakeHost::list("!theirs:hs", "#theirs:hs"));
  CHECK(host.reply("!tyr import #one:hs #theirs:hs") == "#theirs:hs is not a list Tyr can write.");
  host.watch(FakeHost::list("!bans:hs", "", "bans", true));
  auto queued = host.run("!tyr import #one:hs");
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].action == nlohmann::json{{"kind", "import_bans"},
                                           {"room", "!r1:hs"},
                                           {"list", "!bans:hs"},
                                           {"reply_to", host.last_event["event_id"]}});
}

TEST_CASE("commands: the admin API commands need the token, a local user and no operator",
          "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr suspend") == "Usage: !tyr suspend <@user:server> [reason]");
  CHECK(host.reply("!tyr unsuspend x") == "Usage: !tyr unsuspend <@user:server>");
  CHECK(host.reply("!tyr suspend @x:evil") ==
        "Cannot suspend @x:evil: only users of this homeserver (hs) can be; for others use `!tyr "
        "ban`.");
  host.exempt = {"@op:hs"};
  CHECK(host.reply("!tyr deactivate @op:hs") ==
        "Tyr will not deactivate @op:hs: operators, Tyr itself and allowlisted users are never "
        "acted on.");
  CHECK(host.reply("!tyr suspend @x:hs") ==
        "Cannot suspend @x:hs: homeserver.admin_token is not configured. Put a server admin's "
        "access token there (docs/configuration.md) and restart Tyr.");
  CHECK(host.reply("!tyr shutdown room !bad:hs") ==
        "Cannot shut down !bad:hs: homeserver.admin_token is not configured. Put a server "
        "admin's access token there (docs/configuration.md) and restart Tyr.");
  CHECK(host.reply("!tyr shutdown room") == "Usage: !tyr shutdown room <room-id|#alias> [reason]");

  host.cfg.homeserver.admin_token = "secret";
  CHECK(host.reply("!tyr shutdown room !mgmt:hs") ==
        "Tyr will not shut down its own management room.");
  auto suspended = host.run("!tyr suspend @x:hs spam wave");
  REQUIRE(suspended.size() == 1);
  CHECK(suspended[0].action == nlohmann::json{{"kind", "admin_user"},
                                              {"user", "@x:hs"},
                                              {"op", "suspend"},
                                              {"reason", "spam wave"},
                                              {"reply_to", host.last_event["event_id"]}});
  CHECK(suspended[0].priority == Priority::kBan);
  auto gone = host.run("!tyr shutdown room #bad:hs abuse");
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].action == nlohmann::json{{"kind", "shutdown_room"},
                                         {"room", "#bad:hs"},
                                         {"reason", "abuse"},
                                         {"reply_to", host.last_event["event_id"]}});
}
