#pragma once
// Two workers on Boost.Asio:
//  - Pipeline drains the inbox in sequence order on one thread; each event's effects (actions,
//    state) and the removal of the event from the inbox commit in one batch.
//  - Executor drains the outbox in queue order (priority, then age). One scheduling thread
//    decides what may start; up to `concurrency` actions run at once, each on a lane thread.
//    Actions of one room run one at a time in queue order; an action that concerns no single
//    room (ActionRunner::lane_of) runs alone, after everything queued before it. An action's
//    completion, its follow-ups and its removal from the outbox commit in one batch, so an
//    action in flight at a crash is simply run again after the restart. Retryable failures
//    wait on a timer and keep their place in their room's order.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
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
  // With an Executor of concurrency > 1, called from several lane threads at once, for actions
  // with different lanes (lane_of): what the runner shares between actions must be thread-safe.
  virtual ActionOutcome run_action(uint64_t seq, const nlohmann::json& action, Batch& batch) = 0;
  // The lane that orders `action` (the stored JSON, possibly malformed), on the executor's
  // scheduling thread. Actions of one lane run one at a time, in queue order; actions of
  // different lanes may run at once. The empty lane is global: such an action starts only
  // when everything queued before it is done and nothing else runs, and nothing queued after
  // it starts until it is done. A runner returns a room ID for actions whose effects stay in
  // that room. Default: everything global (one action at a time).
  virtual std::string lane_of(const nlohmann::json& /*action*/) const { return {}; }
};

class Worker {
 public:
  virtual ~Worker();
  void start();
  virtual void stop();
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
  // The last inbox sequence whose removal committed (pipeline thread). Nothing is ever added
  // below it: the store numbers inbox entries in increasing order and commits them in that
  // order under one lock (Store::accept_transaction). A failed commit leaves it, so the same
  // events are read again.
  uint64_t drained_through_ = 0;
  std::atomic<uint64_t> processed_{0};
  std::atomic<uint64_t> dead_{0};
};

class Executor : public Worker {
 public:
  using Clock = std::chrono::steady_clock;
  // `concurrency`: how many actions may run at once (lanes); 1 runs one action at a time in
  // queue order, every action treated as global.
  Executor(Store& store, ActionRunner& runner, int concurrency = 1);
  ~Executor() override { stop(); }
  // Stops scheduling, then waits for the actions in flight (their completions still commit).
  void stop() override;
  int concurrency() const { return lanes_; }
  uint64_t done() const { return done_; }
  uint64_t failed() const { return failed_; }
  bool homeserver_unavailable() const { return outage_since_ms_ != 0; }
  // Thread-safe: the homeserver is known to answer again (HomeserverWatch); actions waiting
  // out an outage are tried now instead of at the end of its backoff.
  void retry_now();
  // Tries per action for failures that concern the action (5xx other than 502-504, …).
  int max_attempts = 8;
  // Longest wait between tries while the homeserver is unavailable.
  std::chrono::milliseconds outage_backoff_max{30000};
  // Called on the executor's scheduling thread when an action succeeds after the homeserver
  // was unavailable, with the wall-clock time (ms) the outage was first seen.
  std::function<void(int64_t outage_started_ms)> on_homeserver_back;

 private:
  // What a lane hands back to the scheduling thread.
  struct Finished {
    std::string key;   // outbox key
    uint64_t seq = 0;  // outbox sequence
    std::string lane;
    int attempts = 0;           // tries counted against max_attempts before this one
    Clock::time_point started;  // when the scheduler handed it to a lane
    ActionOutcome outcome;
    bool settled = false;    // done or failed for good: its completion was committed (or tried)
    bool committed = false;  // settled and the batch is durable
  };

  void drain() override;
  // On a lane thread: runs the action, commits its completion when it is settled.
  void run_on_lane(OutboxEntry entry, std::string lane, int attempts, Clock::time_point started);
  void on_finished(Finished f);  // scheduling thread
  void wake_at(Clock::time_point at);
  const std::string& lane_for(std::string_view key, std::string_view json);

  Store& store_;
  ActionRunner& runner_;
  const int lanes_;
  boost::asio::thread_pool pool_;  // lane threads; at most lanes_ actions are ever posted
  boost::asio::steady_timer timer_;

  // Scheduling thread only.
  std::map<std::string, std::string> running_;           // outbox key -> lane, in flight
  std::set<std::string> busy_lanes_;                     // lanes with an action in flight
  std::map<std::string, Clock::time_point> not_before_;  // lane -> retry wait or pacing
  std::map<uint64_t, int> attempts_;  // seq -> tries counted against max_attempts
  std::unordered_map<std::string, std::string> lane_cache_;  // outbox key -> lane
  Clock::time_point paused_until_{};  // outage or rate limit: no action starts before this
  bool timer_armed_ = false;
  Clock::time_point timer_at_{};
  uint64_t timer_gen_ = 0;
  int outage_tries_ = 0;
  int64_t outage_logged_ms_ = 0;
  Clock::time_point outage_seen_{};  // when the current outage was first reported

  std::atomic<int64_t> outage_since_ms_{0};
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace tyr::engine
