#include "engine/pipeline/homeserver_watch.hpp"

#include <string>

#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"

namespace tyr::engine {

HomeserverWatch::HomeserverWatch(std::function<bool()> probe, std::function<void(int64_t)> on_back,
                                 std::chrono::milliseconds period)
    : probe_(std::move(probe)), on_back_(std::move(on_back)), period_(period) {}

HomeserverWatch::~HomeserverWatch() { stop(); }

void HomeserverWatch::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (cv_.wait_for(lock, period_, [this] { return stopping_; })) break;
      lock.unlock();
      check(now_ms());
      lock.lock();
    }
  });
}

void HomeserverWatch::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HomeserverWatch::check(int64_t now) {
  const bool answered = probe_();
  const int64_t since = down_since_ms_.load();
  if (!answered) {
    if (since == 0) {
      down_since_ms_ = now;
      ++outages_;
      log::warn("watch", "the homeserver does not answer");
    }
    return;
  }
  if (since == 0) return;
  down_since_ms_ = 0;
  log::info("watch",
            "the homeserver answers again after " + std::to_string((now - since) / 1000) + " s");
  if (on_back_) on_back_(since);
}

}  // namespace tyr::engine
