#include <catch2/catch.hpp>

#include <limits>

#include "engine/pipeline/power.hpp"

using nlohmann::json;
using tyr::engine::PowerLevels;

namespace {
json create(const std::string& version, const std::string& sender = "@creator:hs",
            json extra = json::object()) {
  json content = {{"room_version", version}};
  for (auto& [k, v] : extra.items()) content[k] = v;
  return {{"type", "m.room.create"}, {"sender", sender}, {"content", content}};
}
}  // namespace

TEST_CASE("power: levels, defaults and thresholds from m.room.power_levels", "[power]") {
  PowerLevels p(create("11"), {{"users", {{"@tyr:hs", 100}, {"@mod:hs", "50"}}},
                               {"users_default", 0},
                               {"ban", 60},
                               {"events", {{"m.room.server_acl", 100}}}});
  CHECK(p.level("@tyr:hs") == 100);
  CHECK(p.level("@mod:hs") == 50);  // old rooms may hold numeric strings
  CHECK(p.level("@nobody:hs") == 0);
  CHECK(p.ban_level() == 60);
  CHECK(p.kick_level() == 50);
  CHECK(p.state_level("m.room.server_acl") == 100);
  CHECK(p.state_level("m.room.topic") == 50);
  CHECK(p.event_level("m.room.redaction") == 0);
  CHECK(p.why_cannot_ban("@tyr:hs", "@nobody:hs").empty());
  CHECK(p.why_cannot_ban("@mod:hs", "@nobody:hs") == "banning needs power 60, Tyr has 50");
  CHECK(p.why_cannot_ban("@tyr:hs", "@tyr:hs") == "@tyr:hs has power 100, not below Tyr's 100");
  CHECK(p.why_cannot_set_state("@mod:hs", "m.room.server_acl") ==
        "setting m.room.server_acl needs power 100, Tyr has 50");
  CHECK(p.why_cannot_redact("@mod:hs", "@nobody:hs").empty());
  CHECK(p.why_cannot_unban("@mod:hs", "@nobody:hs") == "unbanning needs power 60, Tyr has 50");
}

TEST_CASE("power: room v12 creators have unbounded power and cannot be banned", "[power]") {
  PowerLevels p(create("12", "@creator:hs", {{"additional_creators", {"@co:hs"}}}),
                {{"users", {{"@tyr:hs", 100}}}});
  CHECK(p.level("@creator:hs") == std::numeric_limits<int64_t>::max());
  CHECK(p.level("@co:hs") == std::numeric_limits<int64_t>::max());
  CHECK(p.is_creator("@co:hs"));
  CHECK(p.why_cannot_ban("@tyr:hs", "@co:hs") == "@co:hs is a room creator and cannot be banned");
  CHECK(p.why_cannot_ban("@tyr:hs", "@someone:hs").empty());
  // A creator acting is always allowed.
  CHECK(p.why_cannot_set_state("@creator:hs", "m.room.server_acl").empty());
}

TEST_CASE("power: without power levels the creator has 100 and others 0", "[power]") {
  PowerLevels p(create("10", "@c:hs", {{"creator", "@c:hs"}}), json());
  CHECK(p.level("@c:hs") == 100);
  CHECK(p.level("@x:hs") == 0);
  CHECK(p.why_cannot_ban("@x:hs", "@y:hs") == "banning needs power 50, Tyr has 0");
  CHECK(p.why_cannot_ban("@c:hs", "@y:hs").empty());
}

TEST_CASE("power: redacting others' events needs the redact level", "[power]") {
  PowerLevels p(
      create("11"),
      {{"users", {{"@tyr:hs", 40}}}, {"redact", 50}, {"events", {{"m.room.redaction", 10}}}});
  CHECK(p.why_cannot_redact("@tyr:hs", "@tyr:hs").empty());
  CHECK(p.why_cannot_redact("@tyr:hs", "@x:hs") ==
        "redacting others' events needs power 50, Tyr has 40");
  PowerLevels q(create("11"),
                {{"users", {{"@tyr:hs", 5}}}, {"events", {{"m.room.redaction", 10}}}});
  CHECK(q.why_cannot_redact("@tyr:hs", "@tyr:hs") ==
        "sending redactions needs power 10, Tyr has 5");
}
