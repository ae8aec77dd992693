// The event router (engine/pipeline/event_router): which stages each kind of event reaches.

#include <catch2/catch.hpp>

#include "engine/pipeline/event_router.hpp"

using namespace tyr::engine;
using nlohmann::json;

namespace {

struct Recorder {
  std::vector<std::string> calls;
  bool scoring = true;
  EventRouter router{"@tyr:hs", targets()};

  Recorder() { router.set_management_room("!mgmt:hs"); }

  EventRouter::Targets targets() {
    auto record = [this](std::string what) {
      return [this, what](const json& e, Batch&) {
        calls.push_back(what + " " + e.value("event_id", ""));
      };
    };
    return {
        .is_list_room = [](const std::string& room) { return room == "!list:hs"; },
        .is_protected =
            [](const std::string& room) { return room == "!room:hs" || room == "!list:hs"; },
        .scoring_active = [this] { return scoring; },
        .command = record("command"),
        .list_state = record("list_state"),
        .room_seen = [this](const std::string& room,
                            Batch&) { calls.push_back("room_seen " + room); },
        .room_state =
            [this](const json& e) { calls.push_back("room_state " + e.value("event_id", "")); },
        .list_membership = record("list_membership"),
        .scored_membership = record("scored_membership"),
        .scored_message = record("scored_message"),
        .redaction =
            [this](const json& e, bool by_tyr, Batch&) {
              calls.push_back(std::string(by_tyr ? "tyr_redaction " : "redaction ") +
                              e.value("event_id", ""));
            },
        .power_levels = [this](const std::string& room) { calls.push_back("power " + room); },
    };
  }

  std::vector<std::string> route(json event) {
    calls.clear();
    Batch batch;
    if (!EventRouter::read(event, [&](const RoutedEvent& e) { router.route(e, batch); })) {
      calls.push_back("unreadable");
    }
    return calls;
  }
};

json event(const std::string& room, const std::string& sender, const std::string& type) {
  return {{"event_id", "$e"},
          {"room_id", room},
          {"sender", sender},
          {"type", type},
          {"content", json::object()}};
}

json state(json e, const std::string& key) {
  e["state_key"] = key;
  return e;
}

using Calls = std::vector<std::string>;

}  // namespace

TEST_CASE("event router: management-room messages go to the commands only", "[router]") {
  Recorder r;
  CHECK(r.route(event("!mgmt:hs", "@op:hs", "m.room.message")) == Calls{"command $e"});
  // Other events of the management room concern nobody.
  CHECK(r.route(state(event("!mgmt:hs", "@op:hs", "m.room.member"), "@op:hs")).empty());
}

TEST_CASE("event router: a protected room's message is scored, its state cached", "[router]") {
  Recorder r;
  CHECK(r.route(event("!room:hs", "@u:hs", "m.room.message")) ==
        Calls{"room_seen !room:hs", "scored_message $e"});
  CHECK(r.route(state(event("!room:hs", "@u:hs", "m.room.name"), "")) ==
        Calls{"room_seen !room:hs", "room_state $e"});
  CHECK(r.route(state(event("!room:hs", "@u:hs", "m.room.member"), "@u:hs")) ==
        Calls{"room_seen !room:hs", "room_state $e", "list_membership $e", "scored_membership $e"});
}

TEST_CASE("event router: without rules or protections only the lists see a protected room",
          "[router]") {
  Recorder r;
  r.scoring = false;
  CHECK(r.route(event("!room:hs", "@u:hs", "m.room.message")).empty());
  CHECK(r.route(state(event("!room:hs", "@u:hs", "m.room.member"), "@u:hs")) ==
        Calls{"room_state $e", "list_membership $e"});
}

TEST_CASE("event router: list rooms' state goes to the lists, except when read back from history",
          "[router]") {
  Recorder r;
  CHECK(r.route(state(event("!list:hs", "@mod:hs", "m.policy.rule.user"), "rule:x"))[0] ==
        "list_state $e");
  auto recovered = state(event("!list:hs", "@mod:hs", "m.policy.rule.user"), "rule:x");
  recovered["org.tyr.recovered"] = true;
  CHECK(r.route(recovered) == Calls{"room_seen !list:hs"});
  auto member = state(event("!room:hs", "@u:hs", "m.room.member"), "@u:hs");
  member["org.tyr.recovered"] = true;
  CHECK(r.route(member) ==
        Calls{"room_seen !room:hs", "list_membership $e", "scored_membership $e"});
}

TEST_CASE("event router: Tyr's own events, other rooms and unreadable events go nowhere",
          "[router]") {
  Recorder r;
  CHECK(r.route(event("!room:hs", "@tyr:hs", "m.room.message")).empty());
  CHECK(r.route(event("!mgmt:hs", "@tyr:hs", "m.room.message")).empty());
  CHECK(r.route(event("!elsewhere:hs", "@u:hs", "m.room.message")).empty());
  CHECK(r.route(json{{"room_id", "!room:hs"}, {"type", "m.room.message"}}) == Calls{"unreadable"});
  CHECK(r.route(json{{"room_id", "!room:hs"}, {"sender", 7}, {"type", "m.room.message"}}) ==
        Calls{"unreadable"});
  CHECK(r.route(json::array()) == Calls{"unreadable"});
}

TEST_CASE("event router: redactions in protected rooms reach the classifier, Tyr's own too",
          "[router]") {
  Recorder r;
  CHECK(r.route(event("!room:hs", "@mod:hs", "m.room.redaction")) ==
        Calls{"redaction $e", "room_seen !room:hs", "scored_message $e"});
  CHECK(r.route(event("!room:hs", "@tyr:hs", "m.room.redaction")) == Calls{"tyr_redaction $e"});
  CHECK(r.route(event("!elsewhere:hs", "@mod:hs", "m.room.redaction")).empty());
}

TEST_CASE("event router: power-level changes reach the power cache, Tyr's own included",
          "[router]") {
  Recorder r;
  CHECK(r.route(state(event("!room:hs", "@op:hs", "m.room.power_levels"), "")) ==
        Calls{"power !room:hs", "room_seen !room:hs", "room_state $e"});
  CHECK(r.route(state(event("!room:hs", "@tyr:hs", "m.room.power_levels"), "")) ==
        Calls{"power !room:hs"});
  // Also outside protected rooms (a list room) and from history: forgetting is always safe.
  CHECK(r.route(state(event("!other:hs", "@op:hs", "m.room.power_levels"), "")) ==
        Calls{"power !other:hs"});
  // Not a state event: no change of power.
  CHECK(r.route(event("!room:hs", "@op:hs", "m.room.power_levels")) ==
        Calls{"room_seen !room:hs", "scored_message $e"});
}
