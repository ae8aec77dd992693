// End-to-end: the moderator's wider commands against a real Synapse: `verify`, `since` after a
// raid, the offer to put a ban made by hand into a list, `import`, and the admin API commands
// (`suspend`, `unsuspend`, `shutdown room`) with the operator's admin token.

#include <catch2/catch.hpp>

#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;

TEST_CASE("e2e: verify, since after a raid, a ban by hand offered to a list, and import",
          "[e2e][commands]") {
  Harness h;
  auto& raider1 = h.add_user("raider1");
  auto& raider2 = h.add_user("raider2");
  auto& troll = h.add_user("troll");
  const std::string room = h.create_room_with_tyr("raided");
  h.start_tyr();
  h.protect(room);

  h.say(h.op(), h.management_room(), "!tyr verify");
  const std::string verified = h.wait_reply("Tyr has the power it needs in all 1 protected");
  REQUIRE_FALSE(verified.empty());
  CHECK(verified.find("\n- " + room) != std::string::npos);
  CHECK(verified.find(": ready (power 100)") != std::string::npos);

  // A raid: two accounts join and post; `since` kicks both and leaves the operator alone.
  REQUIRE(raider1.join(room));
  REQUIRE(raider2.join(room));
  REQUIRE(troll.join(room));
  h.say(raider1, room, "raid message one");
  h.say(h.op(), h.management_room(), "!tyr since 10m kick " + room + " raid");
  const std::string queued = h.wait_reply("Queued: kick ");
  REQUIRE_FALSE(queued.empty());
  CHECK(queued.find("@raider1:localhost") != std::string::npos);
  CHECK(queued.find("@raider2:localhost") != std::string::npos);
  CHECK(queued.find(h.operator_user()) == std::string::npos);
  REQUIRE(wait_until([&] { return h.membership(room, "@raider1:localhost") == "leave"; }, 30s));
  REQUIRE(wait_until([&] { return h.membership(room, "@raider2:localhost") == "leave"; }, 30s));
  CHECK(h.membership(room, h.operator_user()) == "join");

  // A moderator bans by hand: Tyr offers the command that puts the ban in a list.
  REQUIRE(h.op().ban(room, "@troll:localhost", "slurs"));
  const std::string offer = h.wait_reply("banned @troll:localhost in " + room);
  REQUIRE_FALSE(offer.empty());
  CHECK(offer.find("`!tyr ban <list> @troll:localhost slurs`") != std::string::npos);

  // With a list, `import` copies the room's bans into it (the only list Tyr writes is the
  // default), and the list then holds the troll.
  h.say(h.op(), h.management_room(), "!tyr lists create raids");
  REQUIRE_FALSE(h.wait_reply("Created policy list raids").empty());
  h.say(h.op(), h.management_room(), "!tyr import " + room);
  REQUIRE_FALSE(h.wait_reply("Importing 1 ban(s) from " + room).empty());
  h.say(h.op(), h.management_room(), "!tyr lists");
  const std::string lists = h.wait_reply("[raids] writable default: 1 user");
  CHECK_FALSE(lists.empty());
}

TEST_CASE("e2e: suspend, unsuspend and shutdown room go through Synapse's admin API",
          "[e2e][commands]") {
  Harness h;
  auto& spammer = h.add_user("spammer");
  const std::string room = h.create_room_with_tyr("suspended");
  REQUIRE(spammer.join(room));
  h.start_tyr();
  h.protect(room);

  h.say(h.op(), h.management_room(), "!tyr suspend @spammer:evil.example");
  CHECK_FALSE(
      h.wait_reply("Cannot suspend @spammer:evil.example: only users of this homeserver").empty());

  h.say(h.op(), h.management_room(), "!tyr suspend @spammer:localhost spam wave");
  REQUIRE_FALSE(h.wait_reply("Suspended @spammer:localhost").empty());
  auto refused = spammer.send_event(room, "m.room.message", {{"msgtype", "m.text"}, {"body", "x"}},
                                    "while-suspended");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "M_USER_SUSPENDED");
  h.say(h.op(), h.management_room(), "!tyr unsuspend @spammer:localhost");
  REQUIRE_FALSE(h.wait_reply("Unsuspended @spammer:localhost.").empty());
  CHECK(spammer.send_event(room, "m.room.message", {{"msgtype", "m.text"}, {"body", "y"}},
                           "after-unsuspend"));

  // A room somebody else made for abuse: shut down, its members removed.
  auto doomed = h.stranger().create_room({{"preset", "public_chat"}});
  REQUIRE(doomed);
  h.say(h.op(), h.management_room(), "!tyr shutdown room " + *doomed + " abuse");
  REQUIRE_FALSE(h.wait_reply("Shutting down " + *doomed).empty());
  CHECK(wait_until(
      [&] {
        return !h.stranger().send_event(*doomed, "m.room.message",
                                        {{"msgtype", "m.text"}, {"body", "z"}}, "after-shutdown");
      },
      30s));
}
