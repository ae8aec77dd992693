#pragma once
// The engine's view of a scored event: what custom rules and protections concluded, and why.
// Scorers (rules, protections) live outside the engine and are wired in by the composition
// root; the engine acts on their verdicts.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/result.hpp"

namespace tyr {

// Ordered by strength: a verdict's action is the strongest one whose threshold was reached.
enum class Action : uint8_t { kAllow = 0, kNotify = 1, kRedact = 2, kKick = 3, kBan = 4 };

inline const char* action_name(Action a) {
  switch (a) {
    case Action::kAllow: return "allow";
    case Action::kNotify: return "notify";
    case Action::kRedact: return "redact";
    case Action::kKick: return "kick";
    case Action::kBan: return "ban";
  }
  return "allow";
}

struct EventVerdict {
  double score = 0;                      // enforced score: what `action` was decided on
  Action action = Action::kAllow;
  Action shadow_action = Action::kAllow;  // what shadow rules would have led to
  bool reject = false;                    // at or above the reject threshold (inline veto)
  std::string explanation;               // rule ids, scores and matched text, for moderators
  std::vector<std::string> rules;        // ids of the rules that hit (enforced and shadow)
  std::vector<bool> shadow;              // parallel to `rules` where known: a shadow hit
};

// A room member as protections see them (moderators, operators).
struct MemberFacts {
  std::string user_id, display_name, avatar_url;
};

// What the pipeline knows about the room an event was sent in, from the room state it tracks.
// Views point into the pipeline's room-state cache and are valid for one call only.
struct RoomFacts {
  bool known = false;  // false: the room's state could not be read; the rest is defaults
  int64_t sender_power = 0;
  std::string_view sender_display_name;
  std::optional<int64_t> member_since_ms;  // when the sender last joined, when known
  std::span<const MemberFacts> moderators;  // power >= kick (creators included)
  std::span<const MemberFacts> operators;   // Tyr's operators, with their names in this room
};

class EventScorer {
 public:
  virtual ~EventScorer() = default;
  // Scores one client-format event at `now_ms` (rate windows advance).
  virtual EventVerdict score(const nlohmann::json& event, int64_t now_ms) = 0;
  // The same with what the pipeline knows of the room (power, names, moderators).
  virtual EventVerdict score_in_room(const nlohmann::json& event, int64_t now_ms, const RoomFacts&) {
    return score(event, now_ms);
  }
  // Scores without advancing any state, evaluating every rule (for `rules test`).
  virtual EventVerdict explain(const nlohmann::json& event) = 0;
  // Reloads the rules atomically; on error the old rules stay and the message says where.
  virtual Result<void> reload() = 0;
  // A short description of what is loaded, one line per rule group or rule.
  virtual std::vector<std::string> describe() const = 0;
  virtual size_t rules_loaded() const { return 0; }

  // Protections: membership changes and periodic work in protected rooms.
  virtual void on_membership(const nlohmann::json& /*event*/, int64_t /*now_ms*/,
                             const RoomFacts& /*room*/) {}
  virtual void on_timer(int64_t /*now_ms*/) {}
  // Actions requested since the last call, as executor JSON: {"kind": notify | redact_event |
  // kick | ban | set_join_rule | restore_join_rule, "room", "user", "event_id", "join_rule",
  // "reason", "protection", "shadow"}.
  virtual std::vector<nlohmann::json> take_actions() { return {}; }
  // `protections …` management commands: the reply, and whether settings changed.
  virtual std::pair<std::string, bool> protections_command(const std::vector<std::string>& /*args*/) {
    return {"No protections are available.", false};
  }
  // Settings and state to persist, and to restore at start (errors are reported, not fatal).
  virtual nlohmann::json save_settings() const { return nullptr; }
  virtual nlohmann::json save_state() const { return nullptr; }
  virtual Result<void> restore(const nlohmann::json& /*settings*/, const nlohmann::json& /*state*/) {
    return {};
  }
};

}  // namespace tyr
