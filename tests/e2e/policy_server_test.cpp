// End-to-end: Tyr as a room's policy server (MSC4284) across the federation. Two Synapses on
// loopback (tests/e2e/federation.hpp): A, where Tyr is, behind nginx that routes
// /_matrix/policy/ to Tyr's listener, and B, whose users join A's room. B asks Tyr to sign each
// event its users send; Tyr refuses spam and listed users, and signs the rest.

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>

#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;
namespace fs = std::filesystem;

namespace {

bool has_body(const std::vector<nlohmann::json>& events, const std::string& body) {
  for (const auto& ev : events) {
    if (ev.value("type", "") == "m.room.message" && ev["content"].value("body", "") == body)
      return true;
  }
  return false;
}

// The signatures B stored with one event (B's SQLite database, read with the venv's Python).
nlohmann::json stored_signatures(Harness& h, const std::string& event_id) {
  const fs::path db = h.federation().remote().dir() / "homeserver.db";
  const std::string script =
      "import json,sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
      "r=c.execute('select json from event_json where event_id=?',(sys.argv[2],)).fetchone(); "
      "print(json.dumps(json.loads(r[0]).get('signatures',{})) if r else '{}')";
  const std::string out =
      command_output(cli::sandbox::default_synapse_python().string() + " -c \"" + script + "\" " +
                     db.string() + " '" + event_id + "'");
  return nlohmann::json::parse(out, nullptr, false);
}

}  // namespace

TEST_CASE(
    "e2e: as the policy server, Tyr refuses a remote member's spam before any server "
    "stores it",
    "[e2e][federation][policyserver]") {
  HarnessOptions options;
  options.federation = true;
  Harness h(options);
  h.set_extra_config(
      "rules:\n  dir: rules\npolicy_server:\n  port: " + std::to_string(h.policy_port()) +
      "\n  verify_tls: false\n  deadline_ms: 2000\n");
  h.copy_rules();
  const std::string room = h.create_room_with_tyr("policed");
  // Tyr keeps its power to act on lists but not to ban: a listed member stays, so that what
  // refuses their messages below is the policy server, not a ban.
  auto pl = h.state(room, "m.room.power_levels");
  pl["ban"] = 100;
  pl["users"][h.bot_user()] = 90;
  REQUIRE(h.op().send_state(room, "m.room.power_levels", "", pl));
  h.start_tyr();
  h.protect(room);

  auto& mallory = h.remote_user("mallory");
  auto& listed = h.remote_user("listed");
  const std::string alias = "#policed:" + h.server_name();
  REQUIRE(mallory.join(alias));
  REQUIRE(listed.join(alias));
  REQUIRE(
      wait_until([&] { return h.membership(room, h.remote_user_id("listed")) == "join"; }, 30s));

  h.say(h.op(), h.management_room(), "!tyr policyserver enable " + room);
  REQUIRE_FALSE(h.wait_reply("Policy server of " + room + " is now " + h.server_name()).empty());
  const auto policy = h.state(room, "m.room.policy");
  CHECK(policy["via"] == h.server_name());
  REQUIRE(policy["public_keys"]["ed25519"].is_string());
  // B applies the policy once the state event has reached it.
  REQUIRE(wait_until(
      [&] {
        auto s = mallory.state_event(room, "m.room.policy");
        return s && s->value("via", "") == h.server_name();
      },
      30s));

  // Spam from B's user: refused by Tyr, the sender gets Tyr's reason, nobody stores it.
  auto spam = mallory.send_event(room, "m.room.message",
                                 {{"msgtype", "m.text"}, {"body", "cheap pills here"}}, "ps-spam");
  REQUIRE_FALSE(spam);
  CHECK(spam.error().code == "M_FORBIDDEN");
  CHECK(spam.error().message == "This message was refused by the server's spam filter.");
  const std::string notice = h.wait_reply("Refused at the policy server (never stored)");
  CHECK(notice.find("test.spam-phrase") != std::string::npos);

  // A normal message is signed by Tyr, stored with that signature, and reaches A.
  auto fine = mallory.send_event(room, "m.room.message",
                                 {{"msgtype", "m.text"}, {"body", "hello from afar"}}, "ps-fine");
  REQUIRE(fine);
  CHECK(wait_until([&] { return has_body(h.messages(room), "hello from afar"); }, 30s));
  const auto sigs = stored_signatures(h, fine.value());
  INFO(sigs.dump());
  CHECK(sigs.contains(h.server_name()));
  CHECK(sigs[h.server_name()].contains("ed25519:policy_server"));
  CHECK_FALSE(has_body(h.messages(room), "cheap pills here"));
  CHECK_FALSE(has_body(h.messages(room, mallory), "cheap pills here"));

  // A remote user on a ban list: their messages are refused (Tyr may not ban them here).
  h.say(h.op(), h.management_room(), "!tyr lists create pslist");
  REQUIRE_FALSE(h.wait_reply("Created policy list pslist: ").empty());
  h.say(h.op(), h.management_room(), "!tyr ban pslist " + h.remote_user_id("listed") + " spam");
  REQUIRE_FALSE(h.wait_reply("Banned " + h.remote_user_id("listed")).empty());
  auto listed_msg = listed.send_event(
      room, "m.room.message", {{"msgtype", "m.text"}, {"body", "an innocent line"}}, "ps-listed");
  REQUIRE_FALSE(listed_msg);
  CHECK(listed_msg.error().code == "M_FORBIDDEN");
  CHECK(listed_msg.error().message == "You are banned from this room by its moderation policy.");
  CHECK_FALSE(h.wait_reply("Refused a message from " + h.remote_user_id("listed")).empty());

  h.say(h.op(), h.management_room(), "!tyr policyserver status");
  const std::string status = h.wait_reply("Policy server for " + h.server_name());
  CHECK(status.find("2 refused") != std::string::npos);

  // Tyr stopped: B cannot get a signature, so its users' sends fail (docs/policy-server.md).
  h.stop_tyr();
  auto while_down = mallory.send_event(
      room, "m.room.message", {{"msgtype", "m.text"}, {"body", "anyone there?"}}, "ps-down");
  CHECK_FALSE(while_down);
  CHECK_FALSE(has_body(h.messages(room), "anyone there?"));
}
