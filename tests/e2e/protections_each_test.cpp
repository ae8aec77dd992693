// End-to-end: each built-in protection (beyond mention_spam and join_wave, tested in
// protections_test.cpp) enabled and tuned from the management room, catching what it is for in
// a protected room of a real Synapse, and leaving ordinary traffic alone.

#include <catch2/catch.hpp>

#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;

namespace {

using Settings = std::vector<std::pair<std::string, std::string>>;

// Configures a protection in `room` (all rooms when empty) and switches it on, waiting for each
// confirmation.
void enable(Harness& h, const std::string& name, const std::string& room,
            const Settings& settings = {}) {
  const std::string where = room.empty() ? "" : " " + room;
  for (const auto& [key, value] : settings) {
    h.say(h.op(), h.management_room(),
          "!tyr protections config " + name + " " + key + " " + value + where);
    REQUIRE_FALSE(h.wait_reply("Protection " + name +
                               (room.empty() ? " everywhere" : " in " + room) + ": " + key + " = ")
                      .empty());
  }
  h.say(h.op(), h.management_room(), "!tyr protections enable " + name + where);
  REQUIRE_FALSE(h.wait_reply("Protection " + name + " is now on (acting)" +
                             (room.empty() ? " everywhere" : " in " + room))
                    .empty());
}

// Waits until Tyr has processed everything sent before: a ping goes through the same queue.
void barrier(Harness& h, const std::string& tag) {
  h.say(h.op(), h.management_room(), "!tyr ping " + tag);
  REQUIRE_FALSE(h.wait_reply("pong " + tag).empty());
}

bool wait_redacted(Harness& h, const std::string& room, const std::string& event_id) {
  return wait_until([&] { return h.redacted(room, event_id); }, 30s);
}

std::string send(engine::HomeserverClient& who, const std::string& room,
                 const nlohmann::json& content, const std::string& txn) {
  auto r = who.send_event(room, "m.room.message", content, txn);
  REQUIRE(r);
  return *r;
}

nlohmann::json text(const std::string& body) { return {{"msgtype", "m.text"}, {"body", body}}; }

nlohmann::json image() {
  return {{"msgtype", "m.image"},
          {"body", "photo.png"},
          {"url", "mxc://localhost/abcdefgh"},
          {"info", {{"mimetype", "image/png"}, {"size", 1024}}}};
}

size_t replies_containing(Harness& h, const std::string& needle) {
  size_t n = 0;
  for (const auto& r : h.tyr_replies()) n += r.find(needle) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("e2e: flooding kicks the flooder and removes the whole burst, with one notice",
          "[e2e][protections]") {
  Harness h;
  auto& flooder = h.add_user("flooder");
  auto& calm = h.add_user("calm");
  const std::string room = h.create_room_with_tyr("flooded");
  REQUIRE(flooder.join(room));
  REQUIRE(calm.join(room));
  h.start_tyr();
  h.protect(room);
  enable(h, "flooding", room, {{"max_messages", "3"}, {"window_seconds", "60"}, {"kick", "true"}});

  const std::string calm_msg = h.say(calm, room, "a calm message");
  std::vector<std::string> sent;
  for (int i = 0; i < 5; ++i)
    sent.push_back(
        send(flooder, room, text("flood " + std::to_string(i)), "flood-" + std::to_string(i)));
  REQUIRE(wait_until([&] { return h.membership(room, "@flooder:localhost") == "leave"; }, 30s));
  // The kick is one incident: the whole burst goes, also the messages within the limit.
  for (const auto& id : sent) CHECK(wait_redacted(h, room, id));
  const std::string why = h.wait_reply("[flooding] Kicking @flooder:localhost from " + room);
  CHECK(why.find("flooding: more than 3 messages in 60 s") != std::string::npos);
  CHECK(why.find("\nRemoved ") != std::string::npos);
  barrier(h, "after-flood");
  size_t notices = 0;
  for (const auto& body : h.tyr_replies())
    notices += body.find("@flooder:localhost") != std::string::npos;
  CHECK(notices == 1);
  CHECK(h.is_redacted(room, calm_msg) == false);
  CHECK(h.membership(room, "@calm:localhost") == "join");
}

TEST_CASE("e2e: link_spam redacts links to blocked domains and keeps allowed ones",
          "[e2e][protections]") {
  Harness h;
  auto& linker = h.add_user("linker");
  const std::string room = h.create_room_with_tyr("linked");
  REQUIRE(linker.join(room));
  h.start_tyr();
  h.protect(room);
  h.say(h.op(), h.management_room(), "!tyr protections config link_spam max_links many " + room);
  CHECK_FALSE(h.wait_reply("protection link_spam: key 'max_links': expected an integer").empty());
  enable(h, "link_spam", room, {{"blocked_domains", "spam.example,casino.example"}});

  const std::string bad =
      send(linker, room, text("cheap pills at https://shop.spam.example/deal"), "link-bad");
  REQUIRE(wait_redacted(h, room, bad));
  const std::string why = h.wait_reply("link_spam/BLOCKED_DOMAIN");
  CHECK(why.find("shop.spam.example") != std::string::npos);
  const std::string good =
      send(linker, room, text("the spec: https://spec.matrix.org/latest/"), "link-good");
  barrier(h, "after-links");
  CHECK(h.is_redacted(room, good) == false);
}

TEST_CASE("e2e: first_message reports a new member whose first message is a link",
          "[e2e][protections]") {
  Harness h;
  auto& newcomer = h.add_user("newcomer");
  const std::string room = h.create_room_with_tyr("welcome");
  h.start_tyr();
  h.protect(room);
  enable(h, "first_message", room);
  REQUIRE(newcomer.join(room));  // after Tyr watches the room: the join time is known

  const std::string first =
      send(newcomer, room, text("hi all, see https://example.com/offer"), "first-1");
  const std::string notice = h.wait_reply("first_message/FIRST_MESSAGE_LINK");
  REQUIRE_FALSE(notice.empty());
  CHECK(notice.find("Notice: notify") != std::string::npos);
  send(newcomer, room, text("and again https://example.com/offer2"), "first-2");
  barrier(h, "after-first");
  CHECK(replies_containing(h, "first_message/FIRST_MESSAGE_LINK") == 1);  // only the first message
  CHECK(h.is_redacted(room, first) == false);  // a notice, not a redaction, at the default score
}

TEST_CASE("e2e: low_power_media redacts images from members below the power level",
          "[e2e][protections]") {
  Harness h;
  auto& member = h.add_user("painter");
  const std::string room = h.create_room_with_tyr("gallery");
  REQUIRE(member.join(room));
  h.start_tyr();
  h.protect(room);
  enable(h, "low_power_media", room, {{"min_power", "10"}});

  const std::string low = send(member, room, image(), "img-1");
  REQUIRE(wait_redacted(h, room, low));
  CHECK(h.wait_reply("low_power_media/LOW_POWER_MEDIA").find("at power 0") != std::string::npos);

  // Raised to 10 by a moderator: Tyr follows the power-level change from the event stream.
  auto pl = h.state(room, "m.room.power_levels");
  pl["users"]["@painter:localhost"] = 10;
  REQUIRE(h.op().send_state(room, "m.room.power_levels", "", pl));
  const std::string trusted = send(member, room, image(), "img-2");
  barrier(h, "after-media");
  CHECK(h.is_redacted(room, trusted) == false);
}

TEST_CASE("e2e: invite_spam bans a member who mass-invites", "[e2e][protections]") {
  Harness h;
  auto& spammer = h.add_user("inviter");
  std::vector<std::string> targets;
  for (const char* name : {"target1", "target2", "target3"}) {
    h.add_user(name);
    targets.push_back(std::string("@") + name + ":localhost");
  }
  const std::string room = h.create_room_with_tyr("invited");
  auto pl = h.state(room, "m.room.power_levels");
  pl["invite"] = 0;  // any member may invite (Synapse's default is 50)
  REQUIRE(h.op().send_state(room, "m.room.power_levels", "", pl));
  REQUIRE(spammer.join(room));
  h.start_tyr();
  h.protect(room);
  enable(h, "invite_spam", room, {{"max_invites", "2"}, {"ban", "true"}});

  for (const auto& t : targets) REQUIRE(spammer.invite(room, t));
  REQUIRE(wait_until([&] { return h.membership(room, "@inviter:localhost") == "ban"; }, 30s));
  CHECK(h.wait_reply("Invite spam: @inviter:localhost").find("3+ invites") != std::string::npos);
}

TEST_CASE("e2e: name_abuse kicks a member who takes a moderator's name", "[e2e][protections]") {
  Harness h;
  auto& impostor = h.add_user("impostor");
  auto& honest = h.add_user("honest");
  const std::string room = h.create_room_with_tyr("named");
  h.start_tyr();
  h.protect(room);
  // The operator (the room's creator: a moderator) has a display name in the room.
  REQUIRE(h.op().send_state(room, "m.room.member", h.operator_user(),
                            {{"membership", "join"}, {"displayname", "Alice Moderator"}}));
  enable(h, "name_abuse", room, {{"kick", "true"}});

  REQUIRE(honest.join(room));
  REQUIRE(impostor.join(room));
  REQUIRE(impostor.send_state(room, "m.room.member", "@impostor:localhost",
                              {{"membership", "join"}, {"displayname", "Alice Moderat0r"}}));
  REQUIRE(wait_until([&] { return h.membership(room, "@impostor:localhost") == "leave"; }, 30s));
  const std::string notice = h.wait_reply("Name abuse by @impostor:localhost");
  CHECK(notice.find("IMPERSONATION") != std::string::npos);
  CHECK(notice.find(h.operator_user()) != std::string::npos);
  barrier(h, "after-names");
  CHECK(h.membership(room, "@honest:localhost") == "join");
}

TEST_CASE("e2e: cross_room_repeat redacts the same text posted across rooms",
          "[e2e][protections]") {
  Harness h;
  auto& spammer = h.add_user("repeater");
  std::vector<std::string> rooms;
  for (const char* alias : {"repeat-a", "repeat-b", "repeat-c"})
    rooms.push_back(h.create_room_with_tyr(alias));
  for (const auto& r : rooms) REQUIRE(spammer.join(r));
  h.start_tyr();
  for (const auto& r : rooms) h.protect(r);
  enable(h, "cross_room_repeat", "");

  const std::string spam = "Join my crypto signals group, DM me for the link";
  std::vector<std::string> sent;
  for (size_t i = 0; i < rooms.size(); ++i)
    sent.push_back(send(spammer, rooms[i], text(spam), "repeat-" + std::to_string(i)));
  REQUIRE(wait_redacted(h, rooms[2], sent[2]));
  CHECK(h.wait_reply("cross_room_repeat/CROSS_ROOM_REPEAT").find("same text in 3 rooms") !=
        std::string::npos);
  barrier(h, "after-repeat");
  CHECK(h.is_redacted(rooms[0], sent[0]) == false);  // the first two were not yet a pattern
}

TEST_CASE("e2e: new_member_grace turns a newcomer's notice into a redaction",
          "[e2e][protections]") {
  Harness h;
  auto& newcomer = h.add_user("fresh");
  const std::string room = h.create_room_with_tyr("graced");
  h.start_tyr();
  h.protect(room);
  enable(h, "first_message", room);
  enable(h, "new_member_grace", room, {{"multiplier", "1.5"}});
  REQUIRE(newcomer.join(room));

  // FIRST_MESSAGE_LINK (4) + NEW_MEMBER (1), times 1.5: 7.5, past the redaction threshold (6).
  const std::string first = send(newcomer, room, text("hello https://example.com/free"), "grace-1");
  REQUIRE(wait_redacted(h, room, first));
  const std::string why = h.wait_reply("new_member_grace/NEW_MEMBER");
  CHECK(why.find("Acting: redact") != std::string::npos);
  CHECK(why.find("first_message/FIRST_MESSAGE_LINK") != std::string::npos);
}
