// The built-in protections, each through the suite (feature extraction, per-room config) with
// the default or a tightened configuration.

#include <catch2/catch.hpp>

#include "plugins/protections/common.hpp"
#include "plugins/registry.hpp"

using namespace tyr;
using namespace tyr::engine::protection;
using nlohmann::json;
using tyr::plugins::ProtectionResult;
using tyr::plugins::ProtectionSuite;

namespace {

const std::string kRoom = "!r:x";

json text(const std::string& sender, const std::string& body, const std::string& room = kRoom) {
  return {{"type", "m.room.message"},
          {"room_id", room},
          {"sender", sender},
          {"event_id", "$e"},
          {"content", {{"msgtype", "m.text"}, {"body", body}}}};
}
json image(const std::string& sender) {
  return {{"type", "m.room.message"},
          {"room_id", kRoom},
          {"sender", sender},
          {"event_id", "$i"},
          {"content", {{"msgtype", "m.image"}, {"body", "x.png"}, {"url", "mxc://x/y"}}}};
}
json member(const std::string& user, const std::string& membership, const std::string& prev = "",
            const std::string& name = "", const std::string& sender = "",
            const std::string& avatar = "") {
  json ev = {{"type", "m.room.member"},
             {"room_id", kRoom},
             {"state_key", user},
             {"sender", sender.empty() ? user : sender},
             {"content", {{"membership", membership}}}};
  if (!name.empty()) ev["content"]["displayname"] = name;
  if (!avatar.empty()) ev["content"]["avatar_url"] = avatar;
  if (!prev.empty()) ev["unsigned"] = {{"prev_content", {{"membership", prev}}}};
  return ev;
}

ProtectionResult event(ProtectionSuite& s, const json& ev, int64_t now) {
  return s.on_event(EventContext(ev, now));
}
ProtectionResult membership(ProtectionSuite& s, const json& ev, int64_t now) {
  return s.on_membership(MembershipContext(ev, now));
}

bool has(const ProtectionResult& r, const std::string& symbol) {
  return std::any_of(r.hits.begin(), r.hits.end(),
                     [&](const auto& h) { return h.symbol == symbol; });
}
// Whether an enforced (not shadow) request of this kind ("notify", "kick", "set_join_rule") was
// made.
bool requested(const ProtectionResult& r, std::string_view kind) {
  return std::any_of(r.requests.begin(), r.requests.end(),
                     [&](const auto& q) { return q.kind() == kind && !q.shadow; });
}

}  // namespace

// ProtectionSuite is not movable (it owns protections by pointer and caches); build in place.
#define SUITE(var, ...) \
  ProtectionSuite var;  \
  configure(var, __VA_ARGS__)

static void configure(ProtectionSuite& s, const std::string& name,
                      std::vector<std::pair<std::string, std::string>> config = {}) {
  REQUIRE(s.set_mode(name, Mode::kEnforce));
  for (const auto& [k, v] : config) REQUIRE(s.set_config(name, k, v));
}

TEST_CASE("protection: flooding counts messages per user per room in a window", "[protection]") {
  SUITE(s, "flooding", {{"max_messages", "3"}, {"window_seconds", "10"}, {"kick", "true"}});
  for (int i = 0; i < 3; ++i) CHECK(event(s, text("@a:x", "m"), 1000 * i).hits.empty());
  CHECK(event(s, text("@b:x", "m"), 3000).hits.empty());              // other user
  CHECK(event(s, text("@a:x", "m", "!other:x"), 3000).hits.empty());  // other room
  auto r = event(s, text("@a:x", "m"), 3000);
  CHECK(has(r, "FLOOD"));
  CHECK(requested(r, "kick"));
  auto again = event(s, text("@a:x", "m"), 3500);
  CHECK(has(again, "FLOOD"));
  CHECK_FALSE(requested(again, "kick"));                   // one kick request per window
  CHECK(event(s, text("@a:x", "m"), 60000).hits.empty());  // window passed
}

TEST_CASE("protection: mention_spam counts m.mentions and pills, per message and per window",
          "[protection]") {
  SUITE(s, "mention_spam", {{"max_mentions", "3"}, {"max_mentions_window", "5"}});
  json ev = text("@a:x", "hey");
  ev["content"]["m.mentions"] = {{"user_ids", {"@1:x", "@2:x", "@3:x", "@4:x"}}};
  auto r = event(s, ev, 0);
  CHECK(has(r, "MENTION_SPAM"));
  CHECK_FALSE(has(r, "MENTION_FLOOD"));

  json pills = text("@a:x", "a b");
  pills["content"]["format"] = "org.matrix.custom.html";
  pills["content"]["formatted_body"] =
      "<a href=\"https://matrix.to/#/@1:x\">1</a> <a href=\"https://matrix.to/#/@2:x\">2</a>";
  auto p = event(s, pills, 1000);
  CHECK_FALSE(has(p, "MENTION_SPAM"));
  CHECK(has(p, "MENTION_FLOOD"));  // 4 + 2 > 5 within the minute
  CHECK(event(s, pills, 600000).hits.empty());
}

TEST_CASE("protection: link_spam counts links, blocks domains, flags shorteners, allows domains",
          "[protection]") {
  SUITE(s, "link_spam",
        {{"max_links", "2"}, {"blocked_domains", "evil.test"}, {"allowed_domains", "good.org"}});
  CHECK(event(s, text("@a:x", "https://good.org/1 https://a.good.org/2 https://x.com"), 0)
            .hits.empty());
  auto r = event(s, text("@a:x", "https://a.com https://b.com https://c.com"), 0);
  CHECK(has(r, "LINK_SPAM"));
  auto b = event(s, text("@a:x", "go to https://www.evil.test/x now"), 0);
  REQUIRE(has(b, "BLOCKED_DOMAIN"));
  CHECK(b.hits[0].match == "www.evil.test");
  CHECK(has(event(s, text("@a:x", "bit.ly/xyz"), 0), "URL_SHORTENER"));
  CHECK(event(s, text("@a:x", "see file.txt e.g. this"), 0).hits.empty());
}

TEST_CASE("protection: first_message flags a new member's first media or link", "[protection]") {
  SUITE(s, "first_message", {{"new_member_seconds", "600"}});
  membership(s, member("@new:x", "join", "leave"), 0);
  auto r = event(s, image("@new:x"), 1000);
  CHECK(has(r, "FIRST_MESSAGE_MEDIA"));
  CHECK(event(s, image("@new:x"), 2000).hits.empty());  // only the first message
  // Join time from the caller; an old member is not new.
  const json old_ev = text("@old:x", "https://x.com");
  EventContext old(old_ev, 1000000);
  old.member_since_ms = 0;
  CHECK(s.on_event(old).hits.empty());
  const json fresh_ev = text("@fresh:x", "https://x.com");
  EventContext fresh(fresh_ev, 1000000);
  fresh.member_since_ms = 999000;
  CHECK(has(s.on_event(fresh), "FIRST_MESSAGE_LINK"));
  // Unknown join time: not judged.
  CHECK(event(s, image("@unknown:x"), 0).hits.empty());
}

TEST_CASE("protection: low_power_media uses the power level the caller supplies", "[protection]") {
  SUITE(s, "low_power_media", {{"min_power", "10"}});
  const json low_ev = image("@a:x");
  EventContext low(low_ev, 0);
  low.power_known = true;
  low.sender_power = 0;
  CHECK(has(s.on_event(low), "LOW_POWER_MEDIA"));
  const json high_ev = image("@a:x");
  EventContext high(high_ev, 0);
  high.power_known = true;
  high.sender_power = 50;
  CHECK(s.on_event(high).hits.empty());
  CHECK(event(s, text("@a:x", "just text"), 0).hits.empty());
  // Power unknown (the room's state could not be read): never counted as low.
  const json unknown_ev = image("@a:x");
  CHECK(s.on_event(EventContext(unknown_ev, 0)).hits.empty());
}

TEST_CASE("protection: join_wave notifies, raises the join rule and restores it when calm",
          "[protection]") {
  SUITE(s, "join_wave", {{"max_joins", "3"}, {"window_seconds", "60"}, {"calm_seconds", "100"}});
  CHECK(membership(s, member("@1:x", "join"), 0).requests.empty());
  CHECK(membership(s, member("@2:x", "join"), 1000).requests.empty());
  auto r = membership(s, member("@3:x", "join"), 2000);
  REQUIRE(requested(r, "set_join_rule"));
  CHECK(requested(r, "notify"));
  const auto* raise = std::get_if<engine::actions::SetJoinRule>(r.requests[0].action());
  REQUIRE(raise != nullptr);
  CHECK(raise->join_rule == "invite");
  CHECK(raise->why.protection == "join_wave");
  CHECK(r.requests[0].protection == "join_wave");
  CHECK(membership(s, member("@4:x", "join"), 3000).requests.empty());  // already raised
  CHECK(has(event(s, text("@4:x", "hello"), 4000), "JOIN_DURING_WAVE"));
  CHECK(s.on_timer(50000).requests.empty());  // not calm yet

  // The raised state survives a restart and the restore still happens.
  const json state = s.save_state();
  SUITE(after, "join_wave");
  REQUIRE(after.load_state(state));
  auto t = after.on_timer(103000);
  CHECK(requested(t, "restore_join_rule"));
  CHECK(requested(t, "notify"));
  CHECK(after.on_timer(200000).requests.empty());
  CHECK(event(after, text("@4:x", "hello"), 200000).hits.empty());
}

TEST_CASE("protection: join_wave in shadow mode only records what it would do", "[protection]") {
  ProtectionSuite s;
  REQUIRE(s.set_mode("join_wave", Mode::kShadow));
  REQUIRE(s.set_config("join_wave", "max_joins", "2"));
  membership(s, member("@1:x", "join"), 0);
  auto r = membership(s, member("@2:x", "join"), 10);
  REQUIRE(r.requests.size() == 2);
  CHECK(r.requests[0].shadow);
  CHECK(r.requests[1].shadow);
  CHECK(s.status()[5].shadow_requests == 2);
}

TEST_CASE("protection: invite_spam counts one user's invites across rooms", "[protection]") {
  SUITE(s, "invite_spam", {{"max_invites", "2"}, {"ban", "true"}});
  CHECK(membership(s, member("@1:x", "invite", "", "", "@spam:x"), 0).hits.empty());
  CHECK(membership(s, member("@2:x", "invite", "", "", "@spam:x"), 1).hits.empty());
  auto r = membership(s, member("@3:x", "invite", "", "", "@spam:x"), 2);
  CHECK(has(r, "INVITE_SPAM"));
  CHECK(requested(r, "rule_ban"));
  CHECK(requested(r, "notify"));
  CHECK(membership(s, member("@4:x", "invite", "", "", "@spam:x"), 3).requests.empty());
}

TEST_CASE("protection: name_abuse catches look-alike moderator names, avatars and banned words",
          "[protection]") {
  CHECK(plugins::protections::fold_confusables("Моderat0r") == "moderator");  // Cyrillic М, о
  CHECK(plugins::protections::fold_confusables("Ｍｏｄ  Team!") == "modteam");
  SUITE(s, "name_abuse", {{"banned_words", "scam"}, {"kick", "true"}});
  const Moderator mods[] = {{"@mod:x", "Moderator", "mxc://x/mod"}};
  const json join_ev = member("@evil:x", "join", "", "Моderat0r");
  MembershipContext join(join_ev, 0);
  join.moderators = mods;
  auto r = s.on_membership(join);
  CHECK(has(r, "IMPERSONATION"));
  CHECK(requested(r, "notify"));
  CHECK(requested(r, "kick"));

  const json similar_ev = member("@evil:x", "join", "join", "Moderatorr", "", "mxc://x/mod");
  MembershipContext similar(similar_ev, 0);
  similar.moderators = mods;
  auto sr = s.on_membership(similar);
  CHECK(has(sr, "IMPERSONATION"));
  CHECK(has(sr, "AVATAR_IMPERSONATION"));

  const json self_ev = member("@mod:x", "join", "", "Moderator", "", "mxc://x/mod");
  MembershipContext self(self_ev, 0);
  self.moderators = mods;
  CHECK(s.on_membership(self).hits.empty());
  const json fine_ev = member("@bob:x", "join", "", "Bob");
  MembershipContext fine(fine_ev, 0);
  fine.moderators = mods;
  CHECK(s.on_membership(fine).hits.empty());
  CHECK(has(membership(s, member("@c:x", "join", "", "free SCAM coins"), 0), "BANNED_NAME_WORD"));

  const json msg_ev = text("@evil:x", "hello");
  EventContext msg(msg_ev, 0);
  msg.display_name = "Moderator";
  msg.operators = mods;
  CHECK(has(s.on_event(msg), "IMPERSONATION"));
}

TEST_CASE("protection: cross_room_repeat flags the same text in several rooms", "[protection]") {
  SUITE(s, "cross_room_repeat", {{"min_rooms", "3"}, {"window_seconds", "60"}});
  const std::string spam = "Buy cheap   followers NOW";
  CHECK(event(s, text("@a:x", spam, "!1:x"), 0).hits.empty());
  CHECK(event(s, text("@a:x", spam, "!1:x"), 1).hits.empty());  // same room again
  CHECK(event(s, text("@a:x", "buy cheap followers now", "!2:x"), 2).hits.empty());
  CHECK(has(event(s, text("@a:x", spam, "!3:x"), 3), "CROSS_ROOM_REPEAT"));
  CHECK(event(s, text("@b:x", spam, "!3:x"), 4).hits.empty());       // other sender
  CHECK(event(s, text("@a:x", "hi", "!4:x"), 4).hits.empty());       // too short
  CHECK(event(s, text("@a:x", spam, "!4:x"), 200000).hits.empty());  // window passed
}

TEST_CASE("protection: new_member_grace adds a symbol and multiplies the combined score",
          "[protection]") {
  SUITE(s, "new_member_grace", {{"grace_seconds", "3600"}, {"multiplier", "2"}});
  membership(s, member("@new:x", "join", "leave"), 0);
  auto r = event(s, text("@new:x", "hello"), 60000);
  CHECK(has(r, "NEW_MEMBER"));
  CHECK(r.multiplier == 2);
  EventVerdict rules_verdict;
  rules_verdict.score = 2;  // below notify (3) alone
  const auto v = s.merge(rules_verdict, r);
  CHECK(v.score == 6);  // (2 + 1) × 2
  CHECK(v.action == Action::kRedact);
  // A profile change (join → join) keeps the join time; leaving forgets it.
  membership(s, member("@new:x", "join", "join", "New Name"), 50000);
  membership(s, member("@new:x", "leave", "join"), 61000);
  CHECK(event(s, text("@new:x", "hello"), 62000).hits.empty());
  CHECK(event(s, text("@old:x", "hello"), 5000000).hits.empty());
}
