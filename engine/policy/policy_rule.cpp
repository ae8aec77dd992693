#include "engine/policy/policy_rule.hpp"

namespace tyr::engine::policy {

namespace {

constexpr std::string_view kStablePrefix = "m.policy.rule.";
constexpr std::string_view kLegacyRoomPrefix = "m.room.rule.";
constexpr std::string_view kMjolnirPrefix = "org.matrix.mjolnir.rule.";

}  // namespace

std::string_view kind_name(EntityKind kind) {
  switch (kind) {
    case EntityKind::kUser: return "user";
    case EntityKind::kRoom: return "room";
    case EntityKind::kServer: return "server";
  }
  return "user";
}

std::string_view recommendation_name(Recommendation r) {
  switch (r) {
    case Recommendation::kBan: return "ban";
    case Recommendation::kTakedown: return "takedown";
    case Recommendation::kUnknown: return "unknown";
  }
  return "unknown";
}

std::optional<EntityKind> kind_from_name(std::string_view name) {
  if (name == "user") return EntityKind::kUser;
  if (name == "room") return EntityKind::kRoom;
  if (name == "server") return EntityKind::kServer;
  return std::nullopt;
}

std::optional<std::pair<EntityKind, Family>> classify_policy_type(std::string_view type) {
  Family family;
  if (type.starts_with(kStablePrefix)) {
    family = Family::kStable;
    type.remove_prefix(kStablePrefix.size());
  } else if (type.starts_with(kLegacyRoomPrefix)) {
    family = Family::kLegacyRoom;
    type.remove_prefix(kLegacyRoomPrefix.size());
  } else if (type.starts_with(kMjolnirPrefix)) {
    family = Family::kMjolnir;
    type.remove_prefix(kMjolnirPrefix.size());
  } else {
    return std::nullopt;
  }
  auto kind = kind_from_name(type);
  if (!kind) return std::nullopt;
  return std::pair{*kind, family};
}

Recommendation parse_recommendation(std::string_view raw) {
  if (raw == "m.ban" || raw == "org.matrix.mjolnir.ban") return Recommendation::kBan;
  if (raw == "m.takedown" || raw == "org.matrix.msc4204.takedown") return Recommendation::kTakedown;
  return Recommendation::kUnknown;
}

std::string stable_type(EntityKind kind) {
  return std::string(kStablePrefix) + std::string(kind_name(kind));
}

// parse_policy_event is defined in policy_event_facts.cpp: it shares one reading of an event
// with the streaming reader (state_stream.hpp).

}  // namespace tyr::engine::policy
