// CatchUpSchedule: one pass once the homeserver's resending has gone quiet, then follow-ups.

#include "engine/pipeline/catch_up_schedule.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

using tyr::engine::CatchUpSchedule;
using namespace std::chrono_literals;

namespace {

std::vector<int64_t> sinces(const std::vector<CatchUpSchedule::Pass>& passes) {
  std::vector<int64_t> out;
  for (const auto& p : passes) out.push_back(p.since_ms);
  return out;
}

}  // namespace

TEST_CASE("catch-up schedule: a pass once transactions stop, then the follow-ups, each once",
          "[catch_up]") {
  CatchUpSchedule s(2000ms, {5000ms, 15000ms});
  CHECK(s.settled());
  CHECK(s.due(1000).empty());  // nothing unsettled it
  s.unsettle(10'000, "start");
  CHECK_FALSE(s.settled());
  CHECK(s.due(11'000).empty());
  s.on_transaction(11'500);  // the homeserver resends: wait on
  s.on_transaction(12'900);
  CHECK(s.due(14'800).empty());
  auto settled = s.due(14'900);  // 2 s without a transaction
  REQUIRE(settled.size() == 1);
  CHECK(settled[0].since_ms == 10'000);  // from the start, not from the last transaction
  CHECK(settled[0].why == "start: transactions settled");
  CHECK(s.due(14'950).empty());
  s.on_transaction(15'000);  // settled: an ordinary transaction changes nothing
  CHECK(s.due(19'899).empty());
  auto five = s.due(19'900);
  REQUIRE(five.size() == 1);
  CHECK(five[0].why == "start: 5 s after the transactions settled");
  CHECK(sinces(s.due(40'000)) == std::vector<int64_t>{10'000});
  CHECK(s.due(100'000).empty());
  CHECK(s.settled());
}

TEST_CASE("catch-up schedule: reasons while unsettled keep the earliest start", "[catch_up]") {
  CatchUpSchedule s(2000ms, {});
  s.unsettle(1000, "homeserver answering again");
  s.unsettle(2500, "transactions resent");  // extends the wait like a transaction
  CHECK(s.due(4000).empty());
  auto p = s.due(4500);
  REQUIRE(p.size() == 1);
  CHECK(p[0].since_ms == 1000);
  CHECK(p[0].why == "homeserver answering again: transactions settled");
  CHECK(s.settled());
  s.unsettle(9000, "transactions resent");  // a new window
  CHECK(sinces(s.due(11'000)) == std::vector<int64_t>{9000});
}

TEST_CASE("catch-up schedule: a steady stream of transactions ends the wait after max_wait",
          "[catch_up]") {
  CatchUpSchedule s(2000ms, {}, 60'000ms);
  s.unsettle(0, "start");
  for (int64_t t = 1000; t < 60'000; t += 1000) {
    s.on_transaction(t);
    CHECK(s.due(t).empty());
  }
  auto p = s.due(60'000);
  REQUIRE(p.size() == 1);
  CHECK(p[0].why == "start: still arriving");
}

TEST_CASE("catch-up schedule: settle 0 disables it", "[catch_up]") {
  CatchUpSchedule s(0ms, {5000ms});
  s.unsettle(0, "start");
  s.on_transaction(10);
  CHECK(s.due(100'000).empty());
  CHECK(s.settled());
}
