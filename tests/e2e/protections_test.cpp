// End-to-end: built-in protections switched on from the management room, acting in a protected
// room of a real Synapse, with settings that survive a restart.

#include <catch2/catch.hpp>

#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;

TEST_CASE("e2e: mention spam is redacted once the protection is enabled and tuned",
          "[e2e][protections]") {
  Harness h;
  auto& sender = h.add_user("pinger");
  const std::string room = h.create_room_with_tyr("pinged");
  REQUIRE(sender.join(room));
  h.start_tyr();
  h.protect(room);
  h.say(h.op(), h.management_room(), "!tyr protections config mention_spam max_mentions x");
  CHECK_FALSE(
      h.wait_reply("protection mention_spam: key 'max_mentions': expected an integer").empty());
  h.say(h.op(), h.management_room(), "!tyr protections enable mention_spam");
  REQUIRE_FALSE(
      h.wait_reply("Protection mention_spam is now on (acting) everywhere (was off).").empty());
  h.say(h.op(), h.management_room(), "!tyr protections config mention_spam max_mentions 3");
  REQUIRE_FALSE(h.wait_reply("Protection mention_spam everywhere: max_mentions = 3 (was ").empty());

  nlohmann::json content = {
      {"msgtype", "m.text"},
      {"body", "hey a b c d"},
      {"m.mentions",
       {{"user_ids", {"@a:localhost", "@b:localhost", "@c:localhost", "@d:localhost"}}}}};
  auto sent = sender.send_event(room, "m.room.message", content, "mention-spam-1");
  REQUIRE(sent);
  REQUIRE(wait_until(
      [&] {
        for (const auto& ev : h.messages(room)) {
          if (ev.value("event_id", "") == *sent) return ev["content"].empty();
        }
        return false;
      },
      30s));
  const std::string why = h.wait_reply("Acting: redact");
  CHECK(why.find("mention_spam/MENTION_SPAM") != std::string::npos);

  // A normal message passes.
  const std::string fine = h.say(sender, room, "just saying hello to @a");
  h.say(h.op(), h.management_room(), "!tyr ping after-fine");
  REQUIRE_FALSE(h.wait_reply("pong after-fine").empty());
  bool fine_kept = false;
  for (const auto& ev : h.messages(room)) {
    if (ev.value("event_id", "") == fine) fine_kept = !ev["content"].empty();
  }
  CHECK(fine_kept);

  // Settings survive a restart.
  h.stop_tyr();
  h.start_tyr();
  h.say(h.op(), h.management_room(), "!tyr protections");
  const std::string list = h.wait_reply("Protections:");
  REQUIRE_FALSE(list.empty());
  CHECK(list.find("mention_spam: on") != std::string::npos);
  CHECK(list.find("flooding: off") != std::string::npos);
}

TEST_CASE("e2e: a join wave raises the join rule to invite and then restores it",
          "[e2e][protections]") {
  Harness h;
  std::vector<engine::HomeserverClient*> joiners;
  for (const char* name : {"wave1", "wave2", "wave3"}) joiners.push_back(&h.add_user(name));
  const std::string room = h.create_room_with_tyr("waved");
  h.start_tyr();
  h.protect(room);
  h.say(h.op(), h.management_room(), "!tyr protections config join_wave max_joins 3 " + room);
  REQUIRE_FALSE(h.wait_reply("Protection join_wave in " + room + ": max_joins = 3 (was ").empty());
  h.say(h.op(), h.management_room(), "!tyr protections config join_wave calm_seconds 10 " + room);
  REQUIRE_FALSE(
      h.wait_reply("Protection join_wave in " + room + ": calm_seconds = 10 (was ").empty());
  h.say(h.op(), h.management_room(), "!tyr protections enable join_wave " + room);
  REQUIRE_FALSE(h.wait_reply("Protection join_wave is now on (acting) in " + room).empty());
  CHECK(h.state(room, "m.room.join_rules").value("join_rule", "") == "public");

  for (auto* j : joiners) REQUIRE(j->join(room));
  REQUIRE(wait_until(
      [&] { return h.state(room, "m.room.join_rules").value("join_rule", "") == "invite"; }, 30s));
  CHECK_FALSE(h.wait_reply("Join wave in " + room).empty());
  // Calm for 10 s; Tyr's timer runs every 5 s.
  REQUIRE(wait_until(
      [&] { return h.state(room, "m.room.join_rules").value("join_rule", "") == "public"; }, 60s));
}
