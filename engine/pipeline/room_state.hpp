#pragma once
// What protections need to know about a protected room, kept from its state events: the
// sender's power level and display name, when they joined, and who the moderators are (with
// their names and avatars, so impersonation can be seen). Loaded once per room from the
// homeserver's /state and then kept current from the state events the appservice receives.
//
// Memory is bounded: at most kMaxMembers members are remembered per room (beyond that, newly
// seen members are not tracked and their facts are "unknown": power from the power levels,
// no name, no join time).

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/verdict.hpp"
#include "engine/pipeline/power.hpp"

namespace tyr::engine {

class RoomStateCache {
 public:
  static constexpr size_t kMaxMembers = 200000;

  explicit RoomStateCache(std::vector<std::string> operators) : operators_(std::move(operators)) {}

  bool has(const std::string& room) const { return rooms_.count(room) > 0; }
  // Replaces what is known of `room` with the events of a /state answer (an array).
  void load(const std::string& room, const nlohmann::json& state_events);
  // Applies one state event of a known room (m.room.create, m.room.power_levels,
  // m.room.member); other events and unknown rooms are ignored.
  void apply(const nlohmann::json& event);
  void forget(const std::string& room) { rooms_.erase(room); }

  // Facts about `sender` in `room`; the views stay valid until the next load/apply/forget.
  RoomFacts facts(const std::string& room, const std::string& sender);
  size_t member_count(const std::string& room) const;

 private:
  struct Member {
    std::string display_name, avatar_url;
    int64_t joined_ms = 0;  // 0: not known
    bool joined = false;
  };
  struct Room {
    nlohmann::json create;        // the whole m.room.create event
    nlohmann::json power_levels;  // content, or null
    std::unordered_map<std::string, Member> members;
    std::vector<MemberFacts> moderators, operators;
    std::optional<PowerLevels> power;  // from create + power_levels, made by recompute()
    bool dirty = true;                 // moderators/operators need recomputing
  };
  void apply_to(Room& room, const nlohmann::json& event);
  void recompute(Room& room);

  std::vector<std::string> operators_;
  std::unordered_map<std::string, Room> rooms_;
};

}  // namespace tyr::engine
