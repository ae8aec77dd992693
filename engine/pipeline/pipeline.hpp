#pragma once
// Two single-threaded workers on Boost.Asio:
//  - Pipeline drains the inbox in sequence order; each event's effects (actions, state) and the
//    removal of the event from the inbox commit in one batch.
//  - Executor drains the outbox in sequence order; an action's completion and its follow-ups
//    commit in one batch. Retryable failures wait on a timer and keep their place.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "engine/store/store.hpp"

namespace tyr::engine {

class EventHandler {
 public:
  virtual ~EventHandler() = default;
  // Adds the event's effects to `batch` (enqueue actions, state changes). Must not block on
  // the network. Throwing marks the event dead-lettered; it is never retried.
  virtual void handle_event(const nlohmann::json& event, Batch& batch) = 0;
  // Told about an item some worker set aside because handling it threw (`worker`: pipeline,
  // reports, feeds; `item`: the event or report, null when unreadable; `what`: "event at seq 7",
  // "report 12"), with the batch that sets it aside. Records what an operator should see.
  virtual void on_poisoned(std::string_view /*worker*/, const nlohmann::json& /*item*/,
                           std::string_view /*what*/, std::string_view /*error*/,
                           Batch& /*batch*/) {}
};

struct ActionOutcome {
  enum class Kind { kDone, kRetry, kFailed };
  Kind kind = Kind::kDone;
  std::chrono::milliseconds retry_after{0};  // kRetry: wait before retrying; kDone: pacing
  std::string detail;  // for failures: "<what>: <errcode> …" (the errcode is counted in metrics)
  // kRetry because the homeserver could not be reached or asked Tyr to slow down (transport
  // failure, 502/503/504, rate limit). Says nothing about the action itself: the executor waits
  // for the homeserver as long as it takes and does not count the try against max_attempts.
  bool outage = false;
  // kDone: the `result` label of tyr_actions_total when not "ok", e.g. "skipped" when there was
  // nothing left to do (the user had already left) or the errcode of a refusal that was reported.
  std::string result = {};
};

class ActionRunner {
 public:
  virtual ~ActionRunner() = default;
  // Performs one action; follow-ups (replies, state) go into `batch`, committed together with
  // the action's removal from the outbox when the outcome is kDone or kFailed.
  virtual ActionOutcome run_action(uint64_t seq, const nlohmann::json& action, Batch& batch) = 0;
};

class Worker {
 public:
  virtual ~Worker();
  void start();
  void stop();
  void notify();                          // thread-safe: schedule a drain
  void post(std::function<void()> task);  // thread-safe: run `task` on the worker's thread

 protected:
  virtual void drain() = 0;
  boost::asio::io_context io_;

 private:
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::atomic<bool> scheduled_{false};
};

class Pipeline : public Worker {
 public:
  Pipeline(Store& store, EventHandler& handler) : store_(store), handler_(handler) {}
  ~Pipeline() override { stop(); }
  uint64_t processed() const { return processed_; }
  uint64_t dead_lettered() const { return dead_; }
  std::function<void()> on_committed;  // e.g. wake the executor for newly queued actions

 private:
  void drain() override;
  Store& store_;
  EventHandler& handler_;
  std::atomic<uint64_t> processed_{0};
  std::atomic<uint64_t> dead_{0};
};

class Executor : public Worker {
 public:
  Executor(Store& store, ActionRunner& runner) : store_(store), runner_(runner), timer_(io_) {}
  ~Executor() override { stop(); }
  uint64_t done() const { return done_; }
  uint64_t failed() const { return failed_; }
  bool homeserver_unavailable() const { return outage_since_ms_ != 0; }
  // Thread-safe: the homeserver is known to answer again (HomeserverWatch); an action waiting
  // out an outage is tried now instead of at the end of its backoff.
  void retry_now();
  // Tries per action for failures that concern the action (5xx other than 502-504, …).
  int max_attempts = 8;
  // Longest wait between tries while the homeserver is unavailable.
  std::chrono::milliseconds outage_backoff_max{30000};
  // Called on the executor's thread when an action succeeds after the homeserver was
  // unavailable, with the wall-clock time (ms) the outage was first seen.
  std::function<void(int64_t outage_started_ms)> on_homeserver_back;

 private:
  void drain() override;
  void wait_then_drain(std::chrono::milliseconds delay);
  Store& store_;
  ActionRunner& runner_;
  boost::asio::steady_timer timer_;
  bool waiting_ = false;
  uint64_t head_seq_ = 0;
  int head_attempts_ = 0;
  int outage_tries_ = 0;
  std::atomic<int64_t> outage_since_ms_{0};
  int64_t outage_logged_ms_ = 0;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace tyr::engine
