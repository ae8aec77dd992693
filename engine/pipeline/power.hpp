#pragma once
// Power-level arithmetic for "can Tyr act here?" checks, from a room's m.room.create event and
// m.room.power_levels content (matrix-protocol digest §2), including room v12 creators, who
// have unbounded power and can never be kicked or banned.

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace tyr::engine {

class PowerLevels {
 public:
  // `create_event` is the whole m.room.create event (sender and content are needed);
  // `power_levels` the content of m.room.power_levels, or null when the room has none.
  PowerLevels(const nlohmann::json& create_event, const nlohmann::json& power_levels);

  // The user's level; creators of rooms with creator power have INT64_MAX.
  int64_t level(const std::string& user_id) const;
  int64_t ban_level() const { return ban_; }
  int64_t kick_level() const { return kick_; }
  int64_t redact_level() const { return redact_; }
  int64_t state_level(const std::string& type) const;
  int64_t event_level(const std::string& type) const;
  bool is_creator(const std::string& user_id) const { return creators_.count(user_id) > 0; }

  // Empty when `actor` may do it; otherwise the reason, for the management room.
  std::string why_cannot_ban(const std::string& actor, const std::string& target) const;
  std::string why_cannot_unban(const std::string& actor, const std::string& target) const;
  std::string why_cannot_redact(const std::string& actor, const std::string& sender) const;
  std::string why_cannot_set_state(const std::string& actor, const std::string& type) const;

 private:
  bool creator_power_ = false;  // room versions 12+: creators have infinite power
  std::set<std::string> creators_;
  std::string legacy_creator_;  // creator in rooms without creator power
  nlohmann::json pl_;
  bool has_pl_ = false;
  int64_t ban_ = 50, kick_ = 50, redact_ = 50, users_default_ = 0, state_default_ = 50,
          events_default_ = 0;
};

}  // namespace tyr::engine
