#include "engine/pipeline/notice_throttle.hpp"

namespace tyr::engine {

void NoticeThrottle::set_category_limit(const std::string& category, int per_window) {
  std::lock_guard lock(mu_);
  if (per_window < 0) {
    category_limit_.erase(category);
  } else {
    category_limit_[category] = per_window;
  }
}

void NoticeThrottle::roll(int64_t now_ms) {
  if (now_ms - window_start_ < window_ms_) return;
  window_start_ = now_ms;
  posted_ = 0;
  category_posted_.clear();
}

bool NoticeThrottle::admit(const std::string& category, int64_t now_ms) {
  std::lock_guard lock(mu_);
  roll(now_ms);
  bool ok = posted_ < per_window_;
  if (ok) {
    if (auto it = category_limit_.find(category); it != category_limit_.end()) {
      ok = category_posted_[category] < it->second;
    }
  }
  if (ok) {
    ++posted_;
    ++category_posted_[category];
    return true;
  }
  if (suppressed_.empty()) suppressed_since_ = window_start_;
  ++suppressed_[category];
  ++suppressed_total_;
  return false;
}

std::optional<std::string> NoticeThrottle::summary(int64_t now_ms, bool force) {
  std::lock_guard lock(mu_);
  if (suppressed_.empty()) return std::nullopt;
  if (!force && now_ms - suppressed_since_ < window_ms_) return std::nullopt;
  uint64_t total = 0;
  std::string parts;
  for (const auto& [category, n] : suppressed_) {
    total += n;
    parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " + category;
  }
  suppressed_.clear();
  const int64_t seconds = (now_ms - suppressed_since_ + 999) / 1000;
  return std::to_string(total) + " more notice" + (total == 1 ? "" : "s") + " in the last " +
         std::to_string(seconds) + " s were not posted (" + parts + ")";
}

}  // namespace tyr::engine
