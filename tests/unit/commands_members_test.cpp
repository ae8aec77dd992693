// `kick`, `mute`, `unmute` and `lists shadow|enforce` against a fake host
// (tests/unit/commands_fixture.hpp): replies, refusals and the exact actions queued.

#include <catch2/catch.hpp>

#include "commands_fixture.hpp"

using namespace tyr::engine;
using tyr::test::FakeHost;

TEST_CASE("commands: kick queues a kick in the named room or in every protected room",
          "[commands]") {
  FakeHost host;
  host.protect("!r1:hs", "#one:hs");
  host.protect("!r2:hs");
  CHECK(host.reply("!tyr kick") == "Usage: !tyr kick <@user:server> [room] [reason]");
  CHECK(host.reply("!tyr kick spammer") == "Usage: !tyr kick <@user:server> [room] [reason]");
  host.exempt = {"@op:hs"};
  CHECK(host.reply("!tyr kick @op:hs") ==
        "Tyr will not kick @op:hs: operators, Tyr itself and allowlisted users are never acted "
        "on.");
  CHECK(host.reply("!tyr kick @x:evil #nope:hs") ==
        "#nope:hs is not a room Tyr protects. `!tyr rooms` lists them.");

  auto one = host.run("!tyr kick @x:evil #one:hs go away");
  REQUIRE(one.size() == 2);
  CHECK(one[0].action ==
        nlohmann::json{
            {"kind", "kick"}, {"room", "!r1:hs"}, {"user", "@x:evil"}, {"reason", "go away"}});
  CHECK(one[0].priority == Priority::kBan);
  CHECK(one[1].action == host.notice("Kicking @x:evil in !r1:hs (where they are a member)."));

  auto all = host.run("!tyr kick @x:evil");
  REQUIRE(all.size() == 3);
  CHECK(all[0].action == nlohmann::json{{"kind", "kick"}, {"room", "!r1:hs"}, {"user", "@x:evil"}});
  CHECK(all[1].action == nlohmann::json{{"kind", "kick"}, {"room", "!r2:hs"}, {"user", "@x:evil"}});
  CHECK(all[2].action == host.notice("Kicking @x:evil in 2 rooms (where they are a member)."));
}

TEST_CASE("commands: mute and unmute queue power-level changes", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr mute @x:evil") == "Tyr protects no rooms yet.");
  host.protect("!r1:hs");
  auto muted = host.run("!tyr mute @x:evil !r1:hs flooding");
  REQUIRE(muted.size() == 2);
  CHECK(muted[0].action ==
        nlohmann::json{
            {"kind", "mute"}, {"room", "!r1:hs"}, {"user", "@x:evil"}, {"reason", "flooding"}});
  CHECK(
      muted[1].action ==
      host.notice("Muting @x:evil in !r1:hs: they can send nothing until `!tyr unmute @x:evil`."));
  auto unmuted = host.run("!tyr unmute @x:evil");
  REQUIRE(unmuted.size() == 2);
  CHECK(
      unmuted[0].action ==
      nlohmann::json{{"kind", "mute"}, {"room", "!r1:hs"}, {"user", "@x:evil"}, {"unmute", true}});
  CHECK(unmuted[1].action == host.notice("Unmuting @x:evil in !r1:hs."));
  // Unmuting an exempt user is allowed (it only gives back a voice).
  host.exempt = {"@op2:hs"};
  CHECK(host.reply("!tyr mute @op2:hs").rfind("Tyr will not mute @op2:hs", 0) == 0);
  CHECK(host.run("!tyr unmute @op2:hs").size() == 2);
}

TEST_CASE("commands: lists shadow and enforce switch a watched list durably", "[commands]") {
  FakeHost host;
  host.watch(FakeHost::list("!l:hs", "#l:hs"));
  CHECK(host.reply("!tyr lists shadow") == "Usage: !tyr lists shadow <list>");
  CHECK(host.reply("!tyr lists shadow #nope:hs") ==
        "No list #nope:hs. `!tyr lists` shows the lists Tyr follows.");
  CHECK(host.reply("!tyr lists enforce #l:hs") == "#l:hs is already enforced.");
  CHECK(host.reply("!tyr lists shadow #l:hs") ==
        "#l:hs is now in shadow mode: its matches are reported, not acted on. Bans it already "
        "caused stay; lift one with `!tyr unban` in the list, or by hand.");
  CHECK(host.policy_book().is_shadow("!l:hs"));
  CHECK(nlohmann::json::parse(*host.state("list/!l:hs"))["shadow"] == true);
  CHECK(host.calls == std::vector<std::string>{"enqueue notice"});
  CHECK(host.reply("!tyr lists shadow !l:hs") == "#l:hs is already in shadow mode.");
  CHECK(host.reply("!tyr lists enforce #l:hs") ==
        "#l:hs is now enforced: its rules act from now on, and the protected rooms are being "
        "checked against it.");
  CHECK(host.calls == std::vector<std::string>{"schedule enforcement", "enqueue notice"});
  CHECK_FALSE(host.policy_book().is_shadow("!l:hs"));
  CHECK(nlohmann::json::parse(*host.state("list/!l:hs"))["shadow"] == false);
}
