// `ban`, `unban`, `takedown`, `allow`, `allow remove` and `redact` against a fake host
// (tests/unit/commands_fixture.hpp): replies, state written, and the exact actions queued.

#include <catch2/catch.hpp>

#include "commands_fixture.hpp"

using namespace tyr::engine;
using tyr::test::FakeHost;

namespace {

// A host with a list Tyr writes ("ours") and one it only follows.
struct ListsHost : FakeHost {
  ListsHost() {
    watch(list("!ours:hs", "", "ours", true),
          {rule_event("user", "@spam:evil"), rule_event("server", "evil.example")});
    watch(list("!theirs:hs", "#theirs:hs"));
  }
  nlohmann::json set_rule(const std::string& type, const std::string& state_key,
                          const nlohmann::json& content, const std::string& summary) const {
    // As the outbox stores it: fields at their defaults (an empty summary) are left out.
    nlohmann::json j = {{"kind", "set_rule"}, {"list", "!ours:hs"},
                        {"type", type},       {"state_key", state_key},
                        {"content", content}, {"reply_to", last_event["event_id"]}};
    if (!summary.empty()) j["summary"] = summary;
    return j;
  }
};

}  // namespace

TEST_CASE("commands: ban needs a list Tyr writes and an entity, and never bans Tyr", "[commands]") {
  ListsHost host;
  const std::string usage =
      "Usage: !tyr ban [list] [user|room|server] <entity> [reason] (the default list when none "
      "is named)";
  CHECK(host.reply("!tyr ban") == usage);
  CHECK(host.reply("!tyr ban ours") == usage);
  CHECK(host.reply("!tyr ban #theirs:hs @x:evil") ==
        "#theirs:hs is not a list Tyr can write. Create one with `!tyr lists create <shortcode>`.");
  CHECK(host.reply("!tyr ban nope @x:evil") ==
        "nope is not a list Tyr can write. Create one with `!tyr lists create <shortcode>`.");
  CHECK(host.reply("!tyr ban ours @tyr:hs") == "Tyr will not ban itself.");
  CHECK(host.reply("!tyr ban ours user @tyr:hs go away") == "Tyr will not ban itself.");
}

TEST_CASE("commands: ban queues a set_rule with the inferred or named kind and the reason",
          "[commands]") {
  ListsHost host;
  auto user = host.run("!tyr ban ours @troll:evil");
  REQUIRE(user.size() == 1);
  CHECK(user[0].action ==
        host.set_rule(
            "m.policy.rule.user", "rule:@troll:evil",
            {{"entity", "@troll:evil"}, {"recommendation", "m.ban"}, {"reason", "banned by Tyr"}},
            "Banned @troll:evil (user) in ours."));
  CHECK(user[0].priority == Priority::kControl);

  auto server = host.run("!tyr ban !ours:hs server *.evil.example \"too much\" spam");
  REQUIRE(server.size() == 1);
  CHECK(server[0].action == host.set_rule("m.policy.rule.server", "rule:*.evil.example",
                                          {{"entity", "*.evil.example"},
                                           {"recommendation", "m.ban"},
                                           {"reason", "too much spam"}},
                                          "Banned *.evil.example (server) in !ours:hs."));

  auto room = host.run("!tyr ban ours #bad:evil");
  REQUIRE(room.size() == 1);
  CHECK(room[0].action["type"] == "m.policy.rule.room");
  CHECK(room[0].action["summary"] == "Banned #bad:evil (room) in ours.");
  // A bare word is a server.
  auto bare = host.run("!tyr ban ours evil.example");
  REQUIRE(bare.size() == 1);
  CHECK(bare[0].action["type"] == "m.policy.rule.server");
}

TEST_CASE("commands: takedown queues an m.takedown rule, with a reason only when given",
          "[commands]") {
  ListsHost host;
  CHECK(host.reply("!tyr takedown ours") ==
        "Usage: !tyr takedown [list] [user|room|server] <entity> [reason] (the default list when "
        "none is named)");
  auto plain = host.run("!tyr takedown ours #bad:evil");
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].action ==
        host.set_rule("m.policy.rule.room", "rule:#bad:evil",
                      {{"entity", "#bad:evil"}, {"recommendation", "m.takedown"}},
                      "Took down #bad:evil (room) in ours."));
  CHECK(plain[0].priority == Priority::kControl);
  auto reasoned = host.run("!tyr takedown ours user @x:evil abuse material");
  REQUIRE(reasoned.size() == 1);
  CHECK(reasoned[0].action ==
        host.set_rule(
            "m.policy.rule.user", "rule:@x:evil",
            {{"entity", "@x:evil"}, {"recommendation", "m.takedown"}, {"reason", "abuse material"}},
            "Took down @x:evil (user) in ours."));
}

TEST_CASE("commands: unban clears the entity's rule in every rule family", "[commands]") {
  ListsHost host;
  const std::string usage =
      "Usage: !tyr unban [list] [user|room|server] <entity> (the default list when none is named)";
  CHECK(host.reply("!tyr unban") == usage);
  CHECK(host.reply("!tyr unban ours") == usage);
  CHECK(host.reply("!tyr unban theirs @spam:evil") ==
        "theirs is not a list Tyr can write. Create one with `!tyr lists create <shortcode>`.");
  CHECK(host.reply("!tyr unban ours @nobody:evil") == "No rule for @nobody:evil in ours.");

  auto queued = host.run("!tyr unban ours @SPAM:evil");
  REQUIRE(queued.size() == 3);
  const nlohmann::json empty = nlohmann::json::object();
  CHECK(queued[0].action == host.set_rule("m.policy.rule.user", "rule:@spam:evil", empty,
                                          "Removed the rule for @SPAM:evil from ours."));
  CHECK(queued[1].action == host.set_rule("m.room.rule.user", "rule:@spam:evil", empty, ""));
  CHECK(queued[2].action ==
        host.set_rule("org.matrix.mjolnir.rule.user", "rule:@spam:evil", empty, ""));
  for (const auto& q : queued) CHECK(q.priority == Priority::kControl);

  auto server = host.run("!tyr unban ours server evil.example");
  REQUIRE(server.size() == 3);
  CHECK(server[0].action["type"] == "m.policy.rule.server");
  CHECK(server[0].action["summary"] == "Removed the rule for evil.example from ours.");
}

TEST_CASE("commands: allow shows the allowlist and adds an entity durably", "[commands]") {
  FakeHost host;
  CHECK(host.reply("!tyr allow") == "Allowlist (never acted on):");
  host.cfg.policy.allow = {"@friend:hs", "*.partner.example"};
  CHECK(host.reply("!tyr allow @a:hs @b:hs") == "Usage: !tyr allow <entity>");

  CHECK(host.reply("!tyr allow @guest:other") ==
        "Allowlisted @guest:other: no list will make Tyr act on it.");
  CHECK(host.calls == std::vector<std::string>{"enqueue notice"});
  auto stored = host.state("allow/@guest:other");
  REQUIRE(stored);
  CHECK(std::stoll(*stored) > 0);
  CHECK(host.reply("!tyr allow other.example") ==
        "Allowlisted other.example: no list will make Tyr act on it.");
  CHECK(host.reply("!tyr allow") ==
        "Allowlist (never acted on):\n  @friend:hs (config)\n  *.partner.example (config)"
        "\n  @guest:other\n  other.example");
}

TEST_CASE("commands: allow remove forgets an entity, then every room is enforced again",
          "[commands]") {
  FakeHost host;
  host.put_state("allow/@guest:other", "1");
  CHECK(host.reply("!tyr allow remove") == "Usage: !tyr allow remove <entity>");
  CHECK(host.reply("!tyr allow remove a b") == "Usage: !tyr allow remove <entity>");
  CHECK(host.state("allow/@guest:other"));

  CHECK(host.reply("!tyr allow remove @guest:other") == "Removed @guest:other from the allowlist.");
  CHECK(host.calls == std::vector<std::string>{"enqueue notice", "schedule enforcement"});
  CHECK_FALSE(host.state("allow/@guest:other"));
}

TEST_CASE("commands: redact queues a redact_user per protected room, or in the one named",
          "[commands]") {
  FakeHost host;
  const std::string usage = "Usage: !tyr redact <@user:server> [room]";
  CHECK(host.reply("!tyr redact") == usage);
  CHECK(host.reply("!tyr redact evil.example") == usage);
  CHECK(host.reply("!tyr redact @x:evil !r1:hs extra") == usage);
  CHECK(host.reply("!tyr redact @x:evil") == "Redacting recent messages of @x:evil in 0 room(s).");
  host.protect("!r1:hs", "#one:hs");
  host.protect("!r2:hs");
  CHECK(host.reply("!tyr redact @x:evil !nope:hs") == "!nope:hs is not a protected room.");

  auto redact_user = [](const std::string& room, int64_t window, bool shadow) {
    nlohmann::json j = {{"kind", "redact_user"},
                        {"room", room},
                        {"user", "@x:evil"},
                        {"window_s", window},
                        {"report", true}};
    if (shadow) j["shadow"] = true;  // left out at its default, false
    return j;
  };
  auto all = host.run("!tyr redact @x:evil");
  REQUIRE(all.size() == 3);
  CHECK(all[0].action == redact_user("!r1:hs", 86400, false));
  CHECK(all[1].action == redact_user("!r2:hs", 86400, false));
  CHECK(all[0].priority == Priority::kRedact);
  CHECK(all[1].priority == Priority::kRedact);
  CHECK(all[2].action == host.notice("Redacting recent messages of @x:evil in 2 room(s)."));

  host.cfg.policy.dry_run = true;
  host.cfg.policy.takedown_redact_window = std::chrono::hours(2);
  auto one = host.run("!tyr redact @x:evil #one:hs");
  REQUIRE(one.size() == 2);
  CHECK(one[0].action == redact_user("!r1:hs", 7200, true));
  CHECK(one[0].priority == Priority::kRedact);
  CHECK(one[1].action == host.notice("Redacting recent messages of @x:evil in 1 room(s)."));
}
