#pragma once
// The engine's view of a scored event: what custom rules and protections concluded, and why,
// and the thresholds that turn a score into an action. The scoring interfaces are in
// engine/core/scorer.hpp; the engine acts on their verdicts.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

inline constexpr int kActions = 5;

// Score at or above which an action is taken; an action without a threshold is never taken.
// Without a `thresholds:` section: notify at 3, redact at 6, never kick or ban (removing users
// needs an explicit decision). A `thresholds:` section replaces these defaults as a whole; a
// room override changes only the actions it names.
struct Thresholds {
  static constexpr double kNever = 1e300;
  double at[kActions] = {0, 3, 6, kNever, kNever};  // indexed by Action; kAllow = 0
  // Inline veto: events scoring at least this are refused before the homeserver stores them.
  // 0 means "the redact threshold": what would be redacted is refused at the door.
  double reject = 0;
  Action action_for(double score) const {
    for (int a = kActions - 1; a > 0; --a) {
      if (at[a] < kNever && score >= at[a]) return static_cast<Action>(a);
    }
    return Action::kAllow;
  }
  double reject_at() const { return reject > 0 ? reject : at[static_cast<int>(Action::kRedact)]; }
  bool rejects(double score) const { return reject_at() < kNever && score >= reject_at(); }
  static Thresholds none() { return {{0, kNever, kNever, kNever, kNever}}; }
};

// Matched text an explanation quotes is cut to this many bytes (escape_untrusted).
inline constexpr size_t kMaxMatchBytes = 80;

struct EventVerdict {
  double score = 0;  // enforced score: what `action` was decided on
  Action action = Action::kAllow;
  Action shadow_action = Action::kAllow;  // what shadow rules would have led to
  bool reject = false;                    // at or above the reject threshold (inline veto)
  std::string explanation;                // rule ids, scores and matched text, for moderators
  std::vector<std::string> rules;         // ids of the rules that hit (enforced and shadow)
  std::vector<bool> shadow;               // parallel to `rules` where known: a shadow hit
  std::vector<double> scores;             // parallel to `rules` where known: each hit's score
};

// What decided a verdict: its enforced hits with a positive score, largest first (ties in hit
// order), at most `max` of them.
struct Decider {
  std::string rule;  // rule id, or "protection/SYMBOL"
  double score = 0;
};
std::vector<Decider> decided_by(const EventVerdict& v, size_t max = 3);
// "flooding/FLOOD +9, links.web-address +1": for notices, the audit trail and public reasons.
std::string decided_text(const EventVerdict& v, size_t max = 3);

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
  std::optional<int64_t> member_since_ms;   // when the sender last joined, when known
  std::span<const MemberFacts> moderators;  // power >= kick (creators included)
  std::span<const MemberFacts> operators;   // Tyr's operators, with their names in this room
};

}  // namespace tyr
