#pragma once
// Budget for Tyr's unsolicited notices in the management room (what it did, would do or
// refused). Under a spam wave one notice per event would flood the room and, queued like any
// action, delay the redactions behind them; past the budget Tyr counts instead of posting and
// posts one summary per window. Replies to commands are never throttled.
//
// A fixed window (default one minute). Each category may have its own, smaller limit (the
// veto's `notices_per_minute`); every category also counts against the overall limit.
// Thread-safe: the pipeline, the veto listener and the executor all post notices.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace tyr::engine {

class NoticeThrottle {
 public:
  explicit NoticeThrottle(int per_window = 30, int64_t window_ms = 60'000)
      : per_window_(per_window), window_ms_(window_ms) {}

  void set_limit(int per_window) {
    std::lock_guard lock(mu_);
    per_window_ = per_window;
  }
  // Caps one category below the overall limit (negative: no cap of its own).
  void set_category_limit(const std::string& category, int per_window);

  // True when a notice of `category` may be posted now; false counts it as suppressed.
  bool admit(const std::string& category, int64_t now_ms);

  // Once the window in which notices were suppressed has ended (or at once with `force`): the
  // text of one summary ("N more notices …: 3 acting, 2 refused"), and the counts start over.
  std::optional<std::string> summary(int64_t now_ms, bool force = false);

  uint64_t suppressed_total() const {
    std::lock_guard lock(mu_);
    return suppressed_total_;
  }

 private:
  void roll(int64_t now_ms);  // starts a new window when the current one is over

  mutable std::mutex mu_;
  int per_window_;
  int64_t window_ms_;
  int64_t window_start_ = 0;
  int posted_ = 0;
  std::map<std::string, int> category_limit_;
  std::map<std::string, int> category_posted_;
  std::map<std::string, uint64_t> suppressed_;  // this window and earlier, until summarised
  int64_t suppressed_since_ = 0;                // window in which the oldest unsummarised one fell
  uint64_t suppressed_total_ = 0;
};

}  // namespace tyr::engine
