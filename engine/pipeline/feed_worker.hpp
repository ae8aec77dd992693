#pragma once
// Polls the configured HTTP feeds on their intervals (one Boost.Asio thread), persists each
// feed's last good contents in the store ("feed/<name>" in the state family) and hands changes
// to the bot. A failing feed keeps its last good contents; status() says so. A poll whose
// handling throws is set aside the same way (tyr_poisoned_items_total{worker="feeds"}) and the
// feed is polled again at its interval: one bad document never stops the worker.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/pipeline.hpp"
#include "engine/policy/feed.hpp"

namespace tyr::engine {

class FeedWorker : public Worker {
 public:
  FeedWorker(const Config& config, Store& store, Bot& bot);
  ~FeedWorker() override { stop(); }

  // Loads every feed's last good contents from the store into the bot (call before start()).
  void restore();
  // One line per feed for `status`.
  std::vector<std::string> status() const;
  // When feed `index` (config order) was last fetched successfully (ms since the epoch; 0: never).
  int64_t last_success_ms(size_t index) const {
    std::lock_guard lock(mu_);
    return index < states_.size() ? states_[index].last_success_ms : 0;
  }
  std::function<void()> on_change;  // e.g. wake the executor

 private:
  void drain() override;
  void poll_one(size_t index);
  // A poll that threw (a bug, not a bad feed: those are errors in the state): counted, logged,
  // audited, and `st` goes back to the last good contents with the error in last_error.
  void set_aside(size_t index, policy::FeedState& st, std::string_view error);
  void schedule(size_t index, std::chrono::seconds delay);

  const Config& config_;
  Store& store_;
  Bot& bot_;
  std::vector<policy::FeedPoller> pollers_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> timers_;
  mutable std::mutex mu_;
  std::vector<policy::FeedState> states_;
  bool started_ = false;
};

}  // namespace tyr::engine
