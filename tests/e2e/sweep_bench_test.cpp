// Benchmark (hidden from ctest: run by tag) of a ban-list sweep against a real Synapse: one new
// rule names every member of a group of users who sit in every protected room; measured is the
// time from the rule's event to the last ban Tyr sends, both by Synapse's clock (the events'
// origin_server_ts), once per executor concurrency.
//
//   TYR_SYNAPSE_PYTHON=/work/main/.venv/bin/python build/tests/tyr_e2e_tests "[.bench-sweep]"
//
// Sizes from the environment: TYR_SWEEP_USERS (default 100), TYR_SWEEP_ROOMS (10),
// TYR_SWEEP_CONCURRENCY (a comma-separated list, default "1,4,8"). Pacing between bans is off
// (policy.ban_pacing_ms: 0), so the executor and the homeserver set the pace.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

std::vector<int> env_list(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  std::stringstream in(v ? v : fallback);
  std::vector<int> out;
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

int64_t ts_of(const nlohmann::json& event) { return event.value("origin_server_ts", int64_t{0}); }

}  // namespace

TEST_CASE("e2e bench: a list rule sweeps many rooms, serial and concurrent", "[.bench-sweep]") {
  const int users = env_int("TYR_SWEEP_USERS", 100);
  const int room_count = env_int("TYR_SWEEP_ROOMS", 10);
  const auto lanes = env_list("TYR_SWEEP_CONCURRENCY", "1,4,8");
  auto config = [](int concurrency) {
    return "executor:\n  concurrency: " + std::to_string(concurrency) +
           "\npolicy:\n  ban_pacing_ms: 0\ncatch_up:\n  enabled: false\n";
  };
  Harness h(config(lanes.front()));
  std::vector<std::string> rooms;
  for (int r = 0; r < room_count; ++r)
    rooms.push_back(h.create_room_with_tyr("sweep" + std::to_string(r)));
  h.start_tyr();
  for (const auto& room : rooms) h.protect(room);
  auto list = h.op().create_room(
      {{"preset", "public_chat"}, {"room_alias_name", "sweep-bans"}, {"room_version", "12"}});
  REQUIRE(list);
  h.say(h.op(), h.management_room(), "!tyr lists watch #sweep-bans:localhost");
  REQUIRE_FALSE(h.wait_reply("Watching " + *list).empty());

  for (size_t run = 0; run < lanes.size(); ++run) {
    const int concurrency = lanes[run];
    if (run > 0) {
      h.set_extra_config(config(concurrency));
      h.stop_tyr();
      h.start_tyr();
    }
    // A fresh group of users per run, each joined to every protected room.
    const std::string group = "g" + std::to_string(run) + "-";
    std::vector<engine::HomeserverClient*> clients;
    for (int i = 0; i < users; ++i) clients.push_back(&h.add_user(group + std::to_string(i)));
    const auto joins_started = std::chrono::steady_clock::now();
    std::atomic<size_t> next{0};
    std::atomic<int> failed_joins{0};
    std::vector<std::thread> joiners;
    for (int t = 0; t < 8; ++t) {
      joiners.emplace_back([&] {
        for (size_t k = next++; k < clients.size() * rooms.size(); k = next++) {
          if (!clients[k / rooms.size()]->join(rooms[k % rooms.size()])) ++failed_joins;
        }
      });
    }
    for (auto& t : joiners) t.join();
    REQUIRE(failed_joins == 0);
    const double join_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - joins_started).count();
    // Tyr has seen every join before the rule comes (a command is answered after them).
    h.say(h.op(), h.management_room(), "!tyr ping joined-" + group);
    REQUIRE_FALSE(h.wait_reply("pong joined-" + group, 120s).empty());

    const std::string entity = "@" + group + "*:" + h.server_name();
    auto rule =
        h.op().send_state(*list, "m.policy.rule.user", "sweep-" + group,
                          {{"entity", entity}, {"recommendation", "m.ban"}, {"reason", "bench"}});
    REQUIRE(rule);
    const auto started = std::chrono::steady_clock::now();
    auto banned_in = [&](const std::string& room) {
      std::vector<nlohmann::json> out;
      auto m = h.op().members(room, "ban");
      if (!m) return out;
      for (const auto& ev : *m) {
        if (ev.value("state_key", "").rfind("@" + group, 0) == 0) out.push_back(ev);
      }
      return out;
    };
    const size_t expected = static_cast<size_t>(users) * rooms.size();
    REQUIRE(wait_until(
        [&] {
          size_t n = 0;
          for (const auto& room : rooms) n += banned_in(room).size();
          return n == expected;
        },
        1800s));
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    engine::HttpRequest get_rule{"GET",
                                 "/_matrix/client/v3/rooms/" +
                                     engine::HomeserverClient::encode_segment(*list) + "/event/" +
                                     engine::HomeserverClient::encode_segment(*rule),
                                 {},
                                 std::nullopt,
                                 {},
                                 {}};
    auto rule_event = h.op().call(get_rule);
    REQUIRE(rule_event);
    int64_t first = INT64_MAX, last = 0;
    for (const auto& room : rooms) {
      for (const auto& ev : banned_in(room)) {
        first = std::min(first, ts_of(ev));
        last = std::max(last, ts_of(ev));
      }
    }
    const double sweep_s = static_cast<double>(last - ts_of(*rule_event)) / 1000.0;
    std::cout << "sweep: concurrency " << concurrency << ", " << users << " users x "
              << rooms.size() << " rooms = " << expected << " bans; rule to last ban " << sweep_s
              << " s (" << static_cast<double>(expected) / sweep_s << " bans/s; first ban after "
              << static_cast<double>(first - ts_of(*rule_event)) / 1000.0
              << " s; seen by polling after " << wall_s << " s; joins took " << join_s << " s)"
              << std::endl;
  }
}
