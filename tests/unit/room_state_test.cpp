// The room-state cache that gives protections power levels, names, join times and moderators.

#include <catch2/catch.hpp>

#include "engine/pipeline/room_state.hpp"

using tyr::engine::RoomStateCache;
using json = nlohmann::json;

namespace {

json create(const std::string& sender, const std::string& version) {
  return {{"type", "m.room.create"},
          {"state_key", ""},
          {"room_id", "!r:x"},
          {"sender", sender},
          {"content", {{"room_version", version}}}};
}

json power(json users, int kick = 50) {
  return {{"type", "m.room.power_levels"},
          {"state_key", ""},
          {"room_id", "!r:x"},
          {"content", {{"users", users}, {"kick", kick}, {"users_default", 0}}}};
}

json member(const std::string& user, const std::string& membership, const std::string& name,
            int64_t ts, const std::string& prev = "") {
  json ev = {
      {"type", "m.room.member"},
      {"state_key", user},
      {"room_id", "!r:x"},
      {"sender", user},
      {"origin_server_ts", ts},
      {"content",
       {{"membership", membership}, {"displayname", name}, {"avatar_url", "mxc://x/" + name}}}};
  if (!prev.empty()) ev["unsigned"] = {{"prev_content", {{"membership", prev}}}};
  return ev;
}

}  // namespace

TEST_CASE("room state: power, names, join times and moderators from /state and later events",
          "[room_state]") {
  RoomStateCache cache({"@op:x"});
  CHECK_FALSE(cache.facts("!r:x", "@a:x").known);
  cache.load(
      "!r:x",
      json::array({create("@owner:x", "10"), power({{"@mod:x", 50}, {"@owner:x", 100}}),
                   member("@owner:x", "join", "Owner", 10),
                   member("@mod:x", "join", "Mod Alice", 20),
                   member("@a:x", "join", "A", 30, "join"), member("@gone:x", "leave", "", 40)}));
  auto f = cache.facts("!r:x", "@a:x");
  CHECK(f.known);
  CHECK(f.sender_power == 0);
  CHECK(f.sender_display_name == "A");
  CHECK_FALSE(f.member_since_ms);  // a profile change says nothing about when they joined
  REQUIRE(f.moderators.size() == 2);
  CHECK(f.moderators[0].user_id == "@mod:x");
  CHECK(f.moderators[0].display_name == "Mod Alice");
  CHECK(f.moderators[1].user_id == "@owner:x");
  REQUIRE(f.operators.size() == 1);
  CHECK(f.operators[0].display_name.empty());  // not in any known room

  // A new join, a power change and a rename arrive as events.
  cache.apply(member("@b:x", "join", "B", 1000, "invite"));
  CHECK(*cache.facts("!r:x", "@b:x").member_since_ms == 1000);
  cache.apply(member("@b:x", "join", "B2", 2000, "join"));
  f = cache.facts("!r:x", "@b:x");
  CHECK(*f.member_since_ms == 1000);  // a rename keeps the join time
  CHECK(f.sender_display_name == "B2");
  cache.apply(power({{"@b:x", 60}, {"@owner:x", 100}}));
  f = cache.facts("!r:x", "@b:x");
  CHECK(f.sender_power == 60);
  REQUIRE(f.moderators.size() == 2);
  CHECK(f.moderators[0].user_id == "@b:x");  // @mod:x lost their power
  cache.apply(member("@b:x", "leave", "", 3000, "join"));
  CHECK(cache.facts("!r:x", "@b:x").moderators.size() == 1);
  CHECK_FALSE(cache.facts("!r:x", "@b:x").member_since_ms);

  // Events of rooms not loaded are ignored; forgetting a room drops what is known.
  json other = member("@c:x", "join", "C", 1, "");
  other["room_id"] = "!other:x";
  cache.apply(other);
  CHECK_FALSE(cache.has("!other:x"));
  cache.forget("!r:x");
  CHECK_FALSE(cache.facts("!r:x", "@a:x").known);
}

TEST_CASE("room state: room v12 creators are moderators with unbounded power", "[room_state]") {
  RoomStateCache cache({"@owner:x"});
  cache.load("!r:x", json::array({create("@owner:x", "12"), power(json::object()),
                                  member("@owner:x", "join", "The Owner", 1)}));
  auto f = cache.facts("!r:x", "@owner:x");
  CHECK(f.sender_power == std::numeric_limits<int64_t>::max());
  REQUIRE(f.moderators.size() == 1);
  CHECK(f.moderators[0].avatar_url == "mxc://x/The Owner");
  REQUIRE(f.operators.size() == 1);
  CHECK(f.operators[0].display_name == "The Owner");
}
