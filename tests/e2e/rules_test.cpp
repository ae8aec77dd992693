// End-to-end: custom rules scoring live events in a protected room of a real Synapse.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;
namespace fs = std::filesystem;

namespace {

std::string rules_config() { return "rules:\n  dir: rules\n"; }

}  // namespace

TEST_CASE("e2e: rules redact spam with an explanation, notify on low scores, count shadow hits",
          "[e2e][rules]") {
  Harness h(rules_config());
  h.copy_rules();
  auto& sender = h.add_user("sender");
  const std::string room = h.create_room_with_tyr("scored");
  REQUIRE(sender.join(room));
  h.start_tyr();
  h.protect(room);

  const std::string spam = h.say(sender, room, "buy cheap   pills here");
  REQUIRE(wait_until([&] { return h.redacted(room, spam); }, 30s));
  const std::string why = h.wait_reply("Acting: redact (score 6.0) for @sender:localhost");
  REQUIRE_FALSE(why.empty());
  CHECK(why.find("test.spam-phrase") != std::string::npos);
  CHECK(why.find("cheap   pills") != std::string::npos);  // the matched text span

  const std::string mild = h.say(sender, room, "this is mildly-suspicious, nothing more");
  CHECK_FALSE(h.wait_reply("Notice: notify (score 2.0) for @sender:localhost").empty());
  const std::string shadow = h.say(sender, room, "a shadowword appears");
  h.say(h.op(), h.management_room(), "!tyr rules");
  const std::string rules = h.wait_reply("shadow rules would have acted 1 times");
  REQUIRE_FALSE(rules.empty());
  CHECK(rules.find("4 rules (3 enforced, 1 shadow)") != std::string::npos);
  CHECK_FALSE(h.redacted(room, mild));
  CHECK_FALSE(h.redacted(room, shadow));
  CHECK(h.membership(room, "@sender:localhost") == "join");

  h.say(h.op(), h.management_room(), "!tyr rules test where are the cheap pills");
  CHECK_FALSE(h.wait_reply("Verdict: redact, score 6.0").empty());
}

TEST_CASE("e2e: a flood is one incident: the flooder is kicked, the burst removed, one notice",
          "[e2e][rules]") {
  Harness h(rules_config());
  h.copy_rules();
  auto& flooder = h.add_user("flooder");
  auto& bystander = h.add_user("bystander");
  const std::string room = h.create_room_with_tyr("flooded");
  REQUIRE(flooder.join(room));
  REQUIRE(bystander.join(room));
  h.start_tyr();
  h.protect(room);
  const std::string kept = h.say(bystander, room, "a bystander says hello");
  std::vector<std::string> burst;
  for (int i = 0; i < 8; ++i) {
    auto sent = flooder.send_event(room, "m.room.message",
                                   {{"msgtype", "m.text"}, {"body", "flood " + std::to_string(i)}},
                                   "flood-" + std::to_string(i));
    if (!sent) break;  // kicked: the homeserver refuses the rest
    burst.push_back(*sent);
  }
  REQUIRE(burst.size() >= 4);
  REQUIRE(wait_until([&] { return h.membership(room, "@flooder:localhost") == "leave"; }, 30s));
  const std::string notice = h.wait_reply("Acting: kick (score 9.0) for @flooder:localhost");
  REQUIRE_FALSE(notice.empty());
  CHECK(notice.find("\nRemoved ") != std::string::npos);
  // Every message of the burst is gone, the bystander's stays.
  for (const auto& id : burst) CHECK(wait_until([&] { return h.redacted(room, id); }, 30s));
  CHECK_FALSE(h.redacted(room, kept));
  // One notice for the incident, not one per message.
  size_t acting = 0;
  for (const auto& body : h.tyr_replies())
    if (body.find("@flooder:localhost") != std::string::npos && body.rfind("Acting: ", 0) == 0)
      ++acting;
  CHECK(acting == 1);
}

TEST_CASE("e2e: a broken rule file is reported and the old rules keep running", "[e2e][rules]") {
  Harness h(rules_config());
  const fs::path dir = h.copy_rules();
  auto& sender = h.add_user("sender");
  const std::string room = h.create_room_with_tyr("reloaded");
  REQUIRE(sender.join(room));
  h.start_tyr();
  h.protect(room);
  std::ofstream(dir / "zz-broken.yaml") << "rules:\n  - id: broken\n    score: lots\n";
  h.say(h.op(), h.management_room(), "!tyr rules reload");
  const std::string report = h.wait_reply("Rules NOT reloaded");
  REQUIRE_FALSE(report.empty());
  CHECK(report.find("zz-broken.yaml:3:") != std::string::npos);
  const std::string spam = h.say(sender, room, "cheap pills again");
  REQUIRE(wait_until([&] { return h.redacted(room, spam); }, 30s));

  // Fixed file, reload by SIGHUP: the new rule is live.
  std::ofstream(dir / "zz-broken.yaml")
      << "rules:\n  - id: test.new\n    score: 6\n    when:\n      keywords: [brandnewspam]\n";
  h.kill_tyr_signal(SIGHUP);
  REQUIRE_FALSE(h.wait_reply("Rules reloaded: 5 rules").empty());
  const std::string fresh = h.say(sender, room, "some brandnewspam here");
  REQUIRE(wait_until([&] { return h.redacted(room, fresh); }, 30s));
}
