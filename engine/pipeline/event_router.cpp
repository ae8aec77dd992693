#include "engine/pipeline/event_router.hpp"

#include "engine/core/json_fields.hpp"

namespace tyr::engine {

bool EventRouter::read(const nlohmann::json& event,
                       const std::function<void(const RoutedEvent&)>& then) {
  if (!event.is_object()) return false;
  const std::string* sender = string_field(event, "sender");
  const std::string* room = string_field(event, "room_id");
  const std::string* type = string_field(event, "type");
  if (!sender || !room || !type) return false;
  then(RoutedEvent{event, *sender, *room, *type, event.contains("state_key"),
                   event.contains("org.tyr.recovered")});
  return true;
}

void EventRouter::route(const RoutedEvent& e, Batch& batch) const {
  // Redactions teach the classifier, Tyr's own included (what Tyr removed is never ham).
  if (e.type == "m.room.redaction" && targets_.redaction && targets_.is_protected(e.room))
    targets_.redaction(e.json, e.sender == bot_user_, batch);
  if (e.state && e.type == "m.room.power_levels" && targets_.power_levels)
    targets_.power_levels(e.room);
  // Tyr's own notices, bans, rules and redactions come back through transactions; their
  // effects were applied when Tyr made them.
  if (e.sender == bot_user_) return;
  if (e.room == management_room_ && e.type == "m.room.message") {
    targets_.command(e.json, batch);
    return;
  }
  // Read back from history: judged and scored like any event, but its state is older than
  // what Tyr knows, so it changes neither a list's rules nor the room-state cache.
  if (e.state && !e.recovered && targets_.is_list_room(e.room)) targets_.list_state(e.json, batch);
  if (!targets_.is_protected(e.room)) return;
  const bool scoring = targets_.scoring_active();
  if (scoring) targets_.room_seen(e.room, batch);
  if (e.state && !e.recovered) targets_.room_state(e.json);
  if (e.type == "m.room.member") {
    targets_.list_membership(e.json, batch);
    if (scoring) targets_.scored_membership(e.json, batch);
    return;
  }
  if (scoring && !e.state) targets_.scored_message(e.json, batch);
}

}  // namespace tyr::engine
