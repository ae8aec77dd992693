#pragma once
// The first stop of every event the pipeline handles: decides which stages see it and hands it
// to them. Management-room messages go to the commands; state events of watched list rooms to
// list enforcement; events in protected rooms to the room-state cache, to list enforcement
// (memberships) and to scoring (memberships for protections, messages for rules). Tyr's own
// events and events outside any room Tyr cares about go nowhere. The router keeps no state;
// each stage is its own class (engine/commands, list_enforcement, scoring_stage).

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/store/store.hpp"

namespace tyr::engine {

// An event with the fields routing needs, read once.
struct RoutedEvent {
  const nlohmann::json& json;
  const std::string& sender;
  const std::string& room;
  const std::string& type;
  bool state = false;      // has a state_key
  bool recovered = false;  // read back from history by a catch-up pass (older than what Tyr knows)
};

class EventRouter {
 public:
  // Where events go. Every target must be set; `scoring_active` says whether rules or
  // protections are configured (without them, scoring targets are never called).
  struct Targets {
    std::function<bool(const std::string& room)> is_list_room;
    std::function<bool(const std::string& room)> is_protected;
    std::function<bool()> scoring_active;
    std::function<void(const nlohmann::json& event, Batch&)> command;
    std::function<void(const nlohmann::json& event, Batch&)> list_state;
    // A protected room's event is about to be handled: its state should be known.
    std::function<void(const std::string& room, Batch&)> room_seen;
    std::function<void(const nlohmann::json& event)> room_state;  // state event into the cache
    std::function<void(const nlohmann::json& event, Batch&)> list_membership;
    std::function<void(const nlohmann::json& event, Batch&)> scored_membership;
    std::function<void(const nlohmann::json& event, Batch&)> scored_message;
    // A redaction in a protected room, Tyr's own included (`by_tyr`), for the classifier.
    // Optional.
    std::function<void(const nlohmann::json& event, bool by_tyr, Batch&)> redaction;
    // An m.room.power_levels state event in any room, Tyr's own included: what Tyr remembers
    // of the room's power is stale. Optional.
    std::function<void(const std::string& room)> power_levels;
  };

  EventRouter(std::string bot_user, Targets targets)
      : bot_user_(std::move(bot_user)), targets_(std::move(targets)) {}
  void set_management_room(std::string room) { management_room_ = std::move(room); }

  // Reads the routing fields; false when the event lacks them (not a room event Tyr can act on).
  static bool read(const nlohmann::json& event,
                   const std::function<void(const RoutedEvent&)>& then);

  void route(const RoutedEvent& e, Batch& batch) const;

 private:
  std::string bot_user_;
  std::string management_room_;
  Targets targets_;
};

}  // namespace tyr::engine
