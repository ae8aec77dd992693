#pragma once
// What Tyr remembers of each room's power, so that a sweep banning many users in a room does
// not re-read it before every ban: the m.room.create event, which never changes, and the
// m.room.power_levels content, which does. Executor lanes of different rooms use it at once
// (every member takes the lock); both maps are bounded (kMaxRooms).
//
// Power levels are forgotten when an m.room.power_levels event of the room reaches Tyr, when
// Tyr sends one itself, when the homeserver refuses an action with M_FORBIDDEN, and kMaxAge
// after they were read, so that a missed event keeps a stale value for seconds at most. A read
// that was under way when levels were forgotten is not kept: it may predate the change.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tyr::engine {

class PowerCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kMaxAge{5};
  static constexpr size_t kMaxRooms = 4096;

  std::optional<nlohmann::json> create_event(const std::string& room_id) const;
  void put_create_event(const std::string& room_id, const nlohmann::json& event);

  // The room's power-levels content (null: the room has none), when read at most kMaxAge
  // before `now`.
  std::optional<nlohmann::json> power_levels(const std::string& room_id,
                                             Clock::time_point now) const;
  // Taken before reading power levels from the homeserver and handed to put_power_levels.
  uint64_t generation() const;
  // Keeps `content`, read at `read_at`, unless power levels were forgotten since `generation`.
  void put_power_levels(const std::string& room_id, const nlohmann::json& content,
                        uint64_t generation, Clock::time_point read_at);
  void forget_power_levels(const std::string& room_id);

 private:
  struct Levels {
    nlohmann::json content;
    Clock::time_point read_at;
  };

  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json, std::less<>> create_;
  std::map<std::string, Levels, std::less<>> levels_;
  uint64_t generation_ = 0;  // counts forget_power_levels calls
};

}  // namespace tyr::engine
