#pragma once
// The policy-list model: one rule of a moderation policy list (a Matrix policy room or an HTTP
// feed), parsed strictly from `m.policy.rule.*` state events and their legacy families.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/entity.hpp"

namespace tyr::engine::policy {

using tyr::EntityKind;  // engine/core/entity.hpp, shared with the rules library
using tyr::kEntityKinds;

enum class Recommendation : uint8_t {
  kBan = 0,       // m.ban, org.matrix.mjolnir.ban
  kTakedown = 1,  // m.takedown, org.matrix.msc4204.takedown: ban and redact history
  kUnknown = 2,   // kept, counted, never acted on
};

// Families in precedence order: for one (list, kind, state_key) the first one present wins.
enum class Family : uint8_t { kStable = 0, kLegacyRoom = 1, kMjolnir = 2 };

struct PolicyRule {
  std::string list;  // room ID of the policy room, or "feed:<name>"
  EntityKind kind = EntityKind::kUser;
  Family family = Family::kStable;
  std::string state_key;
  std::string entity;  // literal or glob; empty when the rule is hashed
  std::string sha256;  // standard padded base64 of SHA-256 of the entity (MSC4205); or empty
  Recommendation recommendation = Recommendation::kBan;
  std::string recommendation_raw;  // as written in the event
  std::string reason;
  std::string event_id;  // the state event that set this rule (empty for feeds)
};

// The outcome of reading one state event of a policy room.
struct PolicyEvent {
  EntityKind kind;
  Family family;
  std::string state_key;
  std::optional<PolicyRule> rule;  // nullopt: the rule under this key is removed
  std::string problem;  // non-empty when the content was invalid (then treated as a removal)
};

std::string_view kind_name(EntityKind kind);             // "user" | "room" | "server"
std::string_view recommendation_name(Recommendation r);  // "ban" | "takedown" | "unknown"
std::optional<EntityKind> kind_from_name(std::string_view name);

// Classifies an event type: "m.policy.rule.user" -> (kUser, kStable); "m.room.rule.server" ->
// (kServer, kLegacyRoom); "org.matrix.mjolnir.rule.room" -> (kRoom, kMjolnir); others nullopt.
std::optional<std::pair<EntityKind, Family>> classify_policy_type(std::string_view type);

Recommendation parse_recommendation(std::string_view raw);

// Reads a client-format state event. Returns nullopt when it is not a policy rule event (wrong
// type or no state_key). Empty or redacted content -> removal; content with a bad shape ->
// removal with `problem` saying what is wrong (e.g. "'entity' is not a string").
std::optional<PolicyEvent> parse_policy_event(const nlohmann::json& event, const std::string& list);

// The state event type for a kind in the stable family ("m.policy.rule.user", …).
std::string stable_type(EntityKind kind);

}  // namespace tyr::engine::policy
