// HomeserverWatch: an outage is reported once when it ends, with the time it began.

#include "engine/pipeline/homeserver_watch.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using tyr::engine::HomeserverWatch;

TEST_CASE("homeserver watch: reports the end of an outage once, with its start", "[watch]") {
  bool answering = true;
  std::vector<int64_t> backs;
  HomeserverWatch w([&] { return answering; }, [&](int64_t since) { backs.push_back(since); });
  w.check(1000);
  CHECK(w.up());
  answering = false;
  w.check(2000);
  w.check(3000);
  CHECK_FALSE(w.up());
  CHECK(backs.empty());
  answering = true;
  w.check(4000);
  w.check(5000);
  REQUIRE(backs.size() == 1);
  CHECK(backs[0] == 2000);
  CHECK(w.up());
  CHECK(w.outages() == 1);
}

TEST_CASE("homeserver watch: the thread probes every period and stops promptly", "[watch]") {
  std::atomic<int> probes{0};
  HomeserverWatch w([&] { return ++probes > 0; }, nullptr, std::chrono::milliseconds(5));
  w.start();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (probes < 3 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto before = std::chrono::steady_clock::now();
  w.stop();
  CHECK(probes >= 3);
  CHECK(std::chrono::steady_clock::now() - before < std::chrono::seconds(1));
}
