#include "engine/pipeline/catch_up_schedule.hpp"

#include <algorithm>

namespace tyr::engine {

CatchUpSchedule::CatchUpSchedule(std::chrono::milliseconds settle,
                                 std::vector<std::chrono::milliseconds> follow_ups,
                                 std::chrono::milliseconds max_wait)
    : settle_(settle), follow_ups_(std::move(follow_ups)), max_wait_(max_wait) {}

void CatchUpSchedule::unsettle(int64_t now_ms, std::string_view why) {
  if (settle_.count() <= 0) return;
  std::lock_guard lock(mu_);
  if (window_) {
    window_->last_ms = std::max(window_->last_ms, now_ms);
    return;
  }
  window_ = Window{now_ms, now_ms, std::string(why)};
}

void CatchUpSchedule::on_transaction(int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (window_) window_->last_ms = std::max(window_->last_ms, now_ms);
}

std::vector<CatchUpSchedule::Pass> CatchUpSchedule::due(int64_t now_ms) {
  std::lock_guard lock(mu_);
  std::vector<Pass> out;
  if (window_ && (now_ms - window_->last_ms >= settle_.count() ||
                  now_ms - window_->opened_ms >= max_wait_.count())) {
    // The stranded transaction, if any, was made as the recovery ended, after the window
    // opened: reading from the opening suffices (request_catch_up reads a margin earlier).
    const bool quiet = now_ms - window_->last_ms >= settle_.count();
    out.push_back({window_->opened_ms,
                   window_->why + (quiet ? ": transactions settled" : ": still arriving")});
    for (auto d : follow_ups_) {
      const std::string why = window_->why + ": " + std::to_string(d.count() / 1000) +
                              " s after the transactions settled";
      pending_.push_back({now_ms + d.count(), {window_->opened_ms, why}});
    }
    window_.reset();
  }
  std::stable_sort(pending_.begin(), pending_.end(),
                   [](const FollowUp& a, const FollowUp& b) { return a.at_ms < b.at_ms; });
  auto first_later = std::find_if(pending_.begin(), pending_.end(),
                                  [now_ms](const FollowUp& f) { return f.at_ms > now_ms; });
  for (auto it = pending_.begin(); it != first_later; ++it) out.push_back(std::move(it->pass));
  pending_.erase(pending_.begin(), first_later);
  return out;
}

bool CatchUpSchedule::settled() const {
  std::lock_guard lock(mu_);
  return !window_ && pending_.empty();
}

}  // namespace tyr::engine
