// Executor against a real RocksDB store with a scripted ActionRunner: an unavailable homeserver
// makes actions wait (however many tries), while failures about the action itself are given up
// after max_attempts and recorded.

#include "engine/pipeline/pipeline.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/config/config.hpp"
#include "engine/store/store.hpp"
#include "tests/unit/temp_dir.hpp"

namespace fs = std::filesystem;
using tyr::engine::ActionOutcome;
using tyr::engine::ActionRunner;
using tyr::engine::Batch;
using tyr::engine::Executor;
using tyr::engine::Store;

namespace {

using tyr::test::TempDir;

// Answers each try with the next scripted outcome (the last one repeats) and records the
// actions it saw.
class ScriptedRunner : public ActionRunner {
 public:
  explicit ScriptedRunner(std::deque<ActionOutcome> script) : script_(std::move(script)) {}
  ActionOutcome run_action(uint64_t, const nlohmann::json& action, Batch&) override {
    std::lock_guard lock(mu_);
    ++tries_;
    seen_.push_back(action.value("name", ""));
    ActionOutcome out = script_.front();
    if (script_.size() > 1) script_.pop_front();
    return out;
  }
  int tries() {
    std::lock_guard lock(mu_);
    return tries_;
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::deque<ActionOutcome> script_;
  int tries_ = 0;
  std::vector<std::string> seen_;
};

ActionOutcome outage() {
  ActionOutcome o{ActionOutcome::Kind::kRetry, std::chrono::milliseconds(0),
                  "notice: TYR_NETWORK: Connection refused"};
  o.outage = true;
  return o;
}

ActionOutcome server_error() {
  return {ActionOutcome::Kind::kRetry, std::chrono::milliseconds(0),
          "redact: M_UNKNOWN (HTTP 500): boom"};
}

void enqueue(Store& store, const std::string& name) {
  Batch b;
  store.enqueue_action(b, nlohmann::json{{"kind", "test"}, {"name", name}}.dump());
  REQUIRE(store.commit(b));
}

template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

}  // namespace

TEST_CASE("executor: an unavailable homeserver makes actions wait past max_attempts, in order",
          "[executor]") {
  TempDir dir;
  Store store(dir.path());
  enqueue(store, "first");
  enqueue(store, "second");
  std::deque<ActionOutcome> script;
  for (int i = 0; i < 25; ++i) script.push_back(outage());
  script.push_back({});  // the homeserver answers again; everything succeeds from now on
  ScriptedRunner runner(script);
  Executor executor(store, runner);
  executor.max_attempts = 3;
  executor.outage_backoff_max = std::chrono::milliseconds(1);
  std::atomic<int64_t> back_since{0};
  executor.on_homeserver_back = [&](int64_t since) { back_since = since; };
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  executor.start();
  REQUIRE(wait_for([&] { return executor.done() == 2; }));
  executor.stop();
  CHECK(executor.failed() == 0);
  CHECK(runner.tries() == 27);  // 25 waits on the first action, then each once
  const auto seen = runner.seen();
  CHECK(seen.front() == "first");
  CHECK(seen.back() == "second");
  CHECK(seen[seen.size() - 2] == "first");
  CHECK(back_since >= before);
  CHECK_FALSE(executor.homeserver_unavailable());
  CHECK(store.outbox_depth() == 0);
}

TEST_CASE("executor: failures about the action are given up after max_attempts and recorded",
          "[executor]") {
  TempDir dir;
  Store store(dir.path());
  enqueue(store, "doomed");
  enqueue(store, "next");
  std::deque<ActionOutcome> script{server_error(), server_error(), server_error(), ActionOutcome{}};
  ScriptedRunner runner(script);
  Executor executor(store, runner);
  executor.max_attempts = 3;
  bool called_back = false;
  executor.on_homeserver_back = [&](int64_t) { called_back = true; };
  executor.start();
  REQUIRE(wait_for([&] { return executor.done() + executor.failed() == 2; }));
  executor.stop();
  CHECK(executor.failed() == 1);
  CHECK(executor.done() == 1);
  CHECK(runner.tries() == 4);
  CHECK_FALSE(called_back);
  size_t failed_records = 0;
  store.scan(tyr::engine::Cf::kState, "failed/", [&](std::string_view, std::string_view value) {
    ++failed_records;
    CHECK(nlohmann::json::parse(value)["action"]["name"] == "doomed");
  });
  CHECK(failed_records == 1);
}

TEST_CASE("executor: outage tries do not use up an action's own attempts", "[executor]") {
  TempDir dir;
  Store store(dir.path());
  enqueue(store, "flaky");
  // Two real failures, a long outage, then a third real failure: with max_attempts 3 the action
  // is given up only at that third failure, not during the outage.
  std::deque<ActionOutcome> script{server_error(), server_error()};
  for (int i = 0; i < 10; ++i) script.push_back(outage());
  script.push_back(server_error());
  ScriptedRunner runner(script);
  Executor executor(store, runner);
  executor.max_attempts = 3;
  executor.outage_backoff_max = std::chrono::milliseconds(1);
  executor.start();
  REQUIRE(wait_for([&] { return executor.failed() == 1; }));
  executor.stop();
  CHECK(runner.tries() == 13);
  CHECK(executor.done() == 0);
}

TEST_CASE("executor: retry_now ends an outage's backoff at once", "[executor]") {
  TempDir dir;
  Store store(dir.path());
  enqueue(store, "waiting");
  std::deque<ActionOutcome> script{outage(), outage(), outage(), ActionOutcome{}};
  ScriptedRunner runner(script);
  Executor executor(store, runner);
  executor.outage_backoff_max = std::chrono::milliseconds(60000);  // without retry_now: minutes
  executor.start();
  const auto started = std::chrono::steady_clock::now();
  for (int i = 1; i <= 3; ++i) {
    REQUIRE(wait_for([&] { return runner.tries() == i; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let it start waiting
    executor.retry_now();
  }
  // The three backoffs alone would take 0.5 + 1 + 2 s.
  REQUIRE(wait_for([&] { return executor.done() == 1; }, std::chrono::milliseconds(2000)));
  executor.stop();
  CHECK(runner.tries() == 4);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(3000));
}
