// The pipeline worker's drain on a real store: each drain goes on from the last committed
// inbox entry (not from the inbox's start), so events accepted between drains, and drains that
// span several commit groups, must still all be handled, once and in order.

#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/pipeline/pipeline.hpp"
#include "engine/store/store.hpp"
#include "temp_dir.hpp"

using namespace tyr::engine;

namespace {

class Recorder : public EventHandler {
 public:
  void handle_event(const nlohmann::json& event, Batch&) override {
    std::lock_guard lock(mu_);
    seen_.push_back(event.value("event_id", ""));
  }
  std::vector<std::string> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> seen_;
};

// Accepts events "$<from>" … "$<to - 1>" as one transaction.
void accept(Store& store, const std::string& txn, int from, int to) {
  std::vector<std::string> ids, json;
  for (int i = from; i < to; ++i) {
    ids.push_back("$" + std::to_string(i));
    json.push_back(R"({"event_id":")" + ids.back() + R"("})");
  }
  std::vector<std::string_view> views(ids.begin(), ids.end());
  REQUIRE(store.accept_transaction(txn, views, json));
}

bool wait_for_processed(const Pipeline& pipeline, uint64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (pipeline.processed() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace

TEST_CASE("pipeline: events accepted after earlier drains are all handled once, in order",
          "[pipeline]") {
  tyr::test::TempDir dir;
  Store store(dir.path());
  Recorder handler;
  Pipeline pipeline(store, handler);
  accept(store, "1", 0, 150);  // more than two commit groups
  pipeline.start();
  pipeline.notify();
  REQUIRE(wait_for_processed(pipeline, 150));
  accept(store, "2", 150, 151);
  pipeline.notify();
  REQUIRE(wait_for_processed(pipeline, 151));
  accept(store, "3", 151, 300);
  pipeline.notify();
  REQUIRE(wait_for_processed(pipeline, 300));
  pipeline.stop();

  std::vector<std::string> expected;
  for (int i = 0; i < 300; ++i) expected.push_back("$" + std::to_string(i));
  CHECK(handler.seen() == expected);
  CHECK(store.inbox_depth() == 0);
  CHECK(pipeline.dead_lettered() == 0);
}

TEST_CASE("pipeline: a new worker on the same store handles what an earlier one left",
          "[pipeline]") {
  tyr::test::TempDir dir;
  Store store(dir.path());
  Recorder first;
  {
    Pipeline pipeline(store, first);
    accept(store, "1", 0, 70);
    pipeline.start();
    pipeline.notify();
    REQUIRE(wait_for_processed(pipeline, 70));
    pipeline.stop();
  }
  accept(store, "2", 70, 80);
  Recorder second;
  Pipeline pipeline(store, second);
  pipeline.start();
  pipeline.notify();
  REQUIRE(wait_for_processed(pipeline, 10));
  pipeline.stop();
  std::vector<std::string> expected;
  for (int i = 70; i < 80; ++i) expected.push_back("$" + std::to_string(i));
  CHECK(second.seen() == expected);
  CHECK(store.inbox_depth() == 0);
}
