// What the executor remembers of rooms' power (engine/pipeline/power_cache): create events for
// good, power levels until they change, are refused, or grow old; a read under way when they
// changed is not kept; both maps stay bounded.

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "engine/pipeline/power_cache.hpp"

using nlohmann::json;
using tyr::engine::PowerCache;

TEST_CASE("power cache: power levels are kept until they grow old or are forgotten",
          "[power_cache]") {
  PowerCache cache;
  const auto t0 = PowerCache::Clock::now();
  CHECK_FALSE(cache.power_levels("!r:hs", t0));
  cache.put_power_levels("!r:hs", json{{"ban", 50}}, cache.generation(), t0);
  REQUIRE(cache.power_levels("!r:hs", t0 + std::chrono::seconds(1)));
  CHECK((*cache.power_levels("!r:hs", t0 + std::chrono::seconds(1)))["ban"] == 50);
  CHECK(cache.power_levels("!r:hs", t0 + PowerCache::kMaxAge));
  CHECK_FALSE(cache.power_levels("!r:hs", t0 + PowerCache::kMaxAge + std::chrono::seconds(1)));
  CHECK_FALSE(cache.power_levels("!other:hs", t0));
  // A room without power levels is remembered as such (null), not as unknown.
  cache.put_power_levels("!bare:hs", json(), cache.generation(), t0);
  REQUIRE(cache.power_levels("!bare:hs", t0));
  CHECK(cache.power_levels("!bare:hs", t0)->is_null());
  cache.forget_power_levels("!r:hs");
  CHECK_FALSE(cache.power_levels("!r:hs", t0));
  CHECK(cache.power_levels("!bare:hs", t0));
}

TEST_CASE("power cache: a read that was under way when levels were forgotten is not kept",
          "[power_cache]") {
  PowerCache cache;
  const auto t0 = PowerCache::Clock::now();
  const uint64_t before = cache.generation();
  // The m.room.power_levels event arrives while the read is on its way back.
  cache.forget_power_levels("!r:hs");
  cache.put_power_levels("!r:hs", json{{"ban", 100}}, before, t0);
  CHECK_FALSE(cache.power_levels("!r:hs", t0));
  cache.put_power_levels("!r:hs", json{{"ban", 50}}, cache.generation(), t0);
  CHECK(cache.power_levels("!r:hs", t0));
}

TEST_CASE("power cache: create events are kept for good and both maps are bounded",
          "[power_cache]") {
  PowerCache cache;
  const auto t0 = PowerCache::Clock::now();
  CHECK_FALSE(cache.create_event("!r:hs"));
  cache.put_create_event("!r:hs", json{{"sender", "@c:hs"}});
  cache.forget_power_levels("!r:hs");  // power changes leave the create event alone
  REQUIRE(cache.create_event("!r:hs"));
  CHECK((*cache.create_event("!r:hs"))["sender"] == "@c:hs");

  PowerCache full;
  for (size_t i = 0; i < PowerCache::kMaxRooms + 10; ++i) {
    const std::string room = "!" + std::to_string(i) + ":hs";
    full.put_create_event(room, json::object());
    full.put_power_levels(room, json::object(), full.generation(), t0);
  }
  size_t creates = 0, levels = 0;
  for (size_t i = 0; i < PowerCache::kMaxRooms + 10; ++i) {
    const std::string room = "!" + std::to_string(i) + ":hs";
    creates += full.create_event(room).has_value();
    levels += full.power_levels(room, t0).has_value();
  }
  CHECK(creates == PowerCache::kMaxRooms);
  CHECK(levels == PowerCache::kMaxRooms);
  // The newest room is always kept.
  const std::string last = "!" + std::to_string(PowerCache::kMaxRooms + 9) + ":hs";
  CHECK(full.create_event(last));
  CHECK(full.power_levels(last, t0));
}

TEST_CASE("power cache: lanes of different rooms use it at once", "[power_cache]") {
  PowerCache cache;
  const auto t0 = PowerCache::Clock::now();
  std::vector<std::thread> lanes;
  for (int t = 0; t < 4; ++t) {
    lanes.emplace_back([&cache, t0, t] {
      const std::string room = "!" + std::to_string(t) + ":hs";
      for (int i = 0; i < 2000; ++i) {
        cache.put_create_event(room, json{{"i", i}});
        cache.put_power_levels(room, json{{"i", i}}, cache.generation(), t0);
        (void)cache.power_levels(room, t0);
        if (i % 7 == 0) cache.forget_power_levels(room);
      }
    });
  }
  for (auto& l : lanes) l.join();
  for (int t = 0; t < 4; ++t) {
    const std::string room = "!" + std::to_string(t) + ":hs";
    REQUIRE(cache.create_event(room));
    CHECK((*cache.create_event(room))["i"] == 1999);
  }
}
