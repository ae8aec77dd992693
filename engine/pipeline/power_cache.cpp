#include "engine/pipeline/power_cache.hpp"

namespace tyr::engine {

std::optional<nlohmann::json> PowerCache::create_event(const std::string& room_id) const {
  std::lock_guard lock(mu_);
  auto it = create_.find(room_id);
  if (it == create_.end()) return std::nullopt;
  return it->second;
}

void PowerCache::put_create_event(const std::string& room_id, const nlohmann::json& event) {
  std::lock_guard lock(mu_);
  // Full: forget one room (the next read of it costs one request).
  if (create_.size() >= kMaxRooms && !create_.count(room_id)) create_.erase(create_.begin());
  create_.insert_or_assign(room_id, event);
}

std::optional<nlohmann::json> PowerCache::power_levels(const std::string& room_id,
                                                       Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = levels_.find(room_id);
  if (it == levels_.end() || now - it->second.read_at > kMaxAge || now < it->second.read_at)
    return std::nullopt;
  return it->second.content;
}

uint64_t PowerCache::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void PowerCache::put_power_levels(const std::string& room_id, const nlohmann::json& content,
                                  uint64_t generation, Clock::time_point read_at) {
  std::lock_guard lock(mu_);
  if (generation != generation_) return;
  if (levels_.size() >= kMaxRooms && !levels_.count(room_id)) {
    // Full: drop what has expired, or else one room.
    std::erase_if(levels_, [&](const auto& e) { return read_at - e.second.read_at > kMaxAge; });
    if (levels_.size() >= kMaxRooms) levels_.erase(levels_.begin());
  }
  levels_.insert_or_assign(room_id, Levels{content, read_at});
}

void PowerCache::forget_power_levels(const std::string& room_id) {
  std::lock_guard lock(mu_);
  levels_.erase(room_id);
  ++generation_;
}

}  // namespace tyr::engine
