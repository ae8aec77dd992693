// The action vocabulary and its outbox codec (engine/actions): every action survives a round
// trip, entries in the encoding earlier versions wrote still decode, and a missing or mistyped
// field is an error naming the action and the field.

#include <set>
#include <type_traits>
#include <utility>
#include <variant>

#include <catch2/catch.hpp>

#include "engine/actions/codec.hpp"

using namespace tyr;
using namespace tyr::engine;
using nlohmann::json;

namespace {

// One of each action, with every field set to something other than its default.
std::vector<actions::Action> every_action() {
  actions::Why why{{"spam.link", "flood.burst"}, 7.5, "flooding"};
  return {
      actions::Notice{"!m:hs", "hello", "$reply"},
      actions::JoinProtect{"#room:hs", "@op:hs", "$cmd"},
      actions::LoadRoomState{"!r:hs"},
      actions::CatchUp{"!r:hs", 1700000000000, "restart"},
      actions::WatchList{"#list:hs", "$cmd", true},
      actions::CreateList{"spam", "$cmd"},
      actions::SetRule{"!l:hs", "m.policy.rule.user", "rule:@x:hs",
                       json{{"entity", "@x:hs"}, {"recommendation", "m.ban"}}, "$cmd",
                       "Banned @x:hs"},
      actions::Sweep{"!r:hs"},
      actions::ListBan{"!r:hs", "@x:hs", "spam", "!l:hs", "rule:@x:hs", "rule rule:@x:hs of !l:hs",
                       true},
      actions::UnbanCheck{"!l:hs", "rule:@x:hs"},
      actions::Unban{"!r:hs", "@x:hs", "rule removed"},
      actions::Acl{"!r:hs"},
      actions::RedactUser{"!r:hs", "@x:hs", 3600, true, true, "Kicking @x:hs"},
      actions::RedactEvent{"!r:hs", "$e", "@x:hs", "spam", why},
      actions::Kick{"!r:hs", "@x:hs", "flood", why},
      actions::Ban{"!r:hs", "@x:hs", "spam", why},
      actions::SetJoinRule{"!r:hs", "knock", why},
      actions::RestoreJoinRule{"!r:hs", why},
      actions::Mute{"!r:hs", "@x:hs", "flood", true, why},
      actions::Verify{"$asked"},
      actions::Since{"!r:hs", 1700000000000, "kick", "raid", "$asked"},
      actions::ImportBans{"!r:hs", "!list:hs", "$asked"},
      actions::AdminUser{"@x:hs", "suspend", "spam", "$asked"},
      actions::ShutdownRoom{"!bad:hs", "abuse", "$asked"},
      actions::SetPolicyServer{"!r:hs", false, "hs", "PUBKEY", "$asked"},
      actions::Learn{"!r:hs", "$ev", "spam", "command", "$asked"},
  };
}

actions::Action decoded(std::string_view text) {
  auto a = actions::decode(json::parse(text));
  INFO(text);
  REQUIRE(a);
  return *a;
}

std::string error_of(std::string_view text) {
  auto a = actions::decode(json::parse(text));
  REQUIRE_FALSE(a);
  return a.error().message;
}

}  // namespace

TEST_CASE("actions: every action survives a round trip through the outbox encoding", "[actions]") {
  const auto all = every_action();
  REQUIRE(all.size() == std::variant_size_v<actions::Action>);
  std::set<std::string_view> names;
  for (const auto& a : all) {
    INFO(actions::name_of(a));
    CHECK(names.insert(actions::name_of(a)).second);  // wire names are unique
    const json j = actions::encode(a);
    CHECK(j["kind"] == actions::name_of(a));
    auto back = actions::decode(json::parse(j.dump()));
    REQUIRE(back);
    CHECK(*back == a);
  }
}

TEST_CASE("actions: defaults are left out of the encoding", "[actions]") {
  CHECK(actions::encode(actions::Notice{"!m:hs", "hi", {}}) ==
        json{{"kind", "notice"}, {"room", "!m:hs"}, {"body", "hi"}});
  CHECK(actions::encode(actions::Kick{"!r:hs", "@x:hs", {}, {}}) ==
        json{{"kind", "kick"}, {"room", "!r:hs"}, {"user", "@x:hs"}});
  CHECK(actions::encode(actions::WatchList{.room = "!l:hs", .reply_to = {}, .quiet = true}) ==
        json{{"kind", "watch_list"}, {"room", "!l:hs"}, {"quiet", true}});
}

TEST_CASE("actions: entries written by earlier versions decode", "[actions]") {
  // As queued by the list path, the verdict path, protections and reports before actions
  // were typed (fields in their order then, extra fields ignored).
  CHECK(decoded(R"({"kind":"ban","room":"!r:hs","user":"@x:hs","reason":"spam","list":"!l:hs",
                    "state_key":"k","rule":"r","shadow":false})") ==
        actions::Action{actions::ListBan{"!r:hs", "@x:hs", "spam", "!l:hs", "k", "r", false}});
  CHECK(decoded(R"({"kind":"rule_ban","room":"!r:hs","user":"@x:hs","reason":"Tyr rules",
                    "rules":["a","b"],"score":9.5})") ==
        actions::Action{actions::Ban{"!r:hs", "@x:hs", "Tyr rules", {{"a", "b"}, 9.5, ""}}});
  CHECK(decoded(R"({"kind":"kick","room":"!r:hs","user":"@x:hs","reason":"flood",
                    "protection":"flooding","shadow":false})") ==
        actions::Action{actions::Kick{"!r:hs", "@x:hs", "flood", {{}, std::nullopt, "flooding"}}});
  CHECK(decoded(R"({"kind":"redact_event","room":"!r:hs","event_id":"$e","user":"@x:hs",
                    "sender":"@x:hs","reason":"Reported by trusted reporters"})") ==
        actions::Action{
            actions::RedactEvent{"!r:hs", "$e", "@x:hs", "Reported by trusted reporters", {}}});
  CHECK(decoded(R"({"kind":"redact_user","room":"!r:hs","user":"@x:hs","window_s":86400,
                    "shadow":false,"report":true})") ==
        actions::Action{actions::RedactUser{"!r:hs", "@x:hs", 86400, false, true, {}}});
  CHECK(
      decoded(
          R"({"kind":"set_join_rule","room":"!r:hs","join_rule":"invite","protection":"join_wave"})") ==
      actions::Action{actions::SetJoinRule{"!r:hs", "invite", {{}, std::nullopt, "join_wave"}}});
  CHECK(decoded(R"({"kind":"catch_up","room":"!r:hs","since":12,"why":"gap"})") ==
        actions::Action{actions::CatchUp{"!r:hs", 12, "gap"}});
  CHECK(decoded(R"({"kind":"set_rule","list":"!l:hs","type":"m.policy.rule.user","state_key":"k",
                    "content":{},"reply_to":"$c","summary":""})") ==
        actions::Action{
            actions::SetRule{"!l:hs", "m.policy.rule.user", "k", json::object(), "$c", ""}});
}

TEST_CASE("actions: a missing or mistyped field is an error naming the action and the field",
          "[actions]") {
  CHECK(error_of(R"({"kind":"kick","room":"!r:hs"})") == "action 'kick': field 'user' is missing");
  CHECK(error_of(R"({"kind":"ban","room":"!r:hs","user":"@x:hs","state_key":"k"})") ==
        "action 'ban': field 'list' is missing");
  CHECK(error_of(R"({"kind":"notice","room":7,"body":"x"})") ==
        "action 'notice': field 'room' must be a string");
  CHECK(error_of(R"({"kind":"catch_up","room":"!r:hs","since":"yesterday"})") ==
        "action 'catch_up': field 'since' must be an integer");
  CHECK(error_of(R"({"kind":"redact_user","room":"!r:hs","user":"@x:hs","shadow":"no"})") ==
        "action 'redact_user': field 'shadow' must be true or false");
  CHECK(error_of(R"({"kind":"rule_ban","room":"!r:hs","user":"@x:hs","rules":"a"})") ==
        "action 'rule_ban': field 'rules' must be a list of strings");
  CHECK(error_of(R"({"kind":"set_rule","list":"!l","type":"t","state_key":"k","content":[]})") ==
        "action 'set_rule': field 'content' must be an object");
  CHECK(error_of(R"({"kind":"launch_rockets"})") == "unknown action kind 'launch_rockets'");
  CHECK(error_of(R"({"room":"!r:hs"})") == "action has no 'kind'");
  CHECK(error_of(R"([1,2])") == "action is not a JSON object");
}

TEST_CASE("actions: bans run before ACLs, ACLs before redactions, catch-up last", "[actions]") {
  CHECK(actions::priority_of(actions::ListBan{}) == Priority::kBan);
  CHECK(actions::priority_of(actions::Ban{}) == Priority::kBan);
  CHECK(actions::priority_of(actions::Kick{}) == Priority::kBan);
  CHECK(actions::priority_of(actions::Acl{}) == Priority::kAcl);
  CHECK(actions::priority_of(actions::RedactEvent{}) == Priority::kRedact);
  CHECK(actions::priority_of(actions::RedactUser{}) == Priority::kRedact);
  CHECK(actions::priority_of(actions::CatchUp{}) == Priority::kBackground);
  CHECK(actions::priority_of(actions::Notice{}) == Priority::kControl);
  CHECK(actions::room_of(actions::UnbanCheck{"!l:hs", "k"}).empty());
  CHECK(actions::room_of(actions::Kick{"!r:hs", "@x:hs", {}, {}}) == "!r:hs");
}

namespace {

// Every action type states whether it runs in its room's lane; one that does names its room in
// the outbox encoding (the executor reads the lane from there).
template <size_t... I>
void check_lanes(std::index_sequence<I...>) {
  (
      [] {
        using T = std::variant_alternative_t<I, actions::Action>;
        static_assert(std::is_same_v<decltype(T::kPerRoom), const bool>,
                      "every action declares kPerRoom");
        static_assert(
            !T::kPerRoom || requires(T t) { t.room; }, "a per-room action has a room");
        INFO(T::kName);
        CHECK(actions::is_per_room(T::kName) == T::kPerRoom);
        if constexpr (T::kPerRoom) {
          T t{};
          t.room = "!lane:hs";
          CHECK(actions::encode(t).value("room", "") == "!lane:hs");
        }
      }(),
      ...);
}

}  // namespace

TEST_CASE("actions: every action declares whether it runs in its room's lane", "[actions]") {
  check_lanes(std::make_index_sequence<std::variant_size_v<actions::Action>>{});
  // The actions that ran per room before kPerRoom existed still do; the rest stay global.
  std::set<std::string_view> per_room;
  for (const auto& a : every_action()) {
    if (actions::is_per_room(actions::name_of(a))) per_room.insert(actions::name_of(a));
  }
  CHECK(per_room == std::set<std::string_view>{"notice", "load_room_state", "catch_up", "sweep",
                                               "ban", "unban", "acl", "redact_user", "redact_event",
                                               "kick", "rule_ban", "set_join_rule",
                                               "restore_join_rule", "mute"});
  CHECK_FALSE(actions::is_per_room("no_such_action"));
}
