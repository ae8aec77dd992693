#include "engine/policy/policy_rule.hpp"

#include "engine/core/digest.hpp"

namespace tyr::engine::policy {

namespace {

constexpr std::string_view kStablePrefix = "m.policy.rule.";
constexpr std::string_view kLegacyRoomPrefix = "m.room.rule.";
constexpr std::string_view kMjolnirPrefix = "org.matrix.mjolnir.rule.";

// MSC4205 keeps the hashes under an unstable key; the stable name is what the MSC proposes.
// The first key present decides: a broken unstable object is not rescued by a stable one.
constexpr std::string_view kHashKeys[] = {"org.matrix.msc4205.hashes", "hashes"};

// Sets `event.problem` and leaves `event.rule` empty: a malformed rule counts as a removal.
PolicyEvent reject(PolicyEvent event, std::string problem) {
  event.problem = std::move(problem);
  return event;
}

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

std::optional<PolicyEvent> parse_policy_event(const nlohmann::json& event,
                                              const std::string& list) {
  if (!event.is_object()) return std::nullopt;
  auto type = event.find("type");
  if (type == event.end() || !type->is_string()) return std::nullopt;
  auto classified = classify_policy_type(type->get_ref<const std::string&>());
  if (!classified) return std::nullopt;
  auto state_key = event.find("state_key");
  if (state_key == event.end() || !state_key->is_string()) return std::nullopt;

  PolicyEvent out{
      classified->first, classified->second, state_key->get<std::string>(), std::nullopt, {}};

  // Removals: no content, `{}` (how Mjolnir unbans), or a redacted event (whose content the
  // server has emptied; a redaction removes the rule even if a broken server left fields).
  auto content = event.find("content");
  if (content == event.end() || content->is_null()) return out;
  if (auto unsigned_ = event.find("unsigned"); unsigned_ != event.end() && unsigned_->is_object() &&
                                               unsigned_->contains("redacted_because")) {
    return out;
  }
  if (!content->is_object()) return reject(std::move(out), "'content' is not an object");
  if (content->empty()) return out;

  auto recommendation = content->find("recommendation");
  if (recommendation == content->end()) return reject(std::move(out), "missing 'recommendation'");
  if (!recommendation->is_string()) {
    return reject(std::move(out), "'recommendation' is not a string");
  }

  PolicyRule rule;
  rule.list = list;
  rule.kind = out.kind;
  rule.family = out.family;
  rule.state_key = out.state_key;
  rule.recommendation_raw = recommendation->get<std::string>();
  rule.recommendation = parse_recommendation(rule.recommendation_raw);

  if (auto entity = content->find("entity"); entity != content->end()) {
    if (!entity->is_string()) return reject(std::move(out), "'entity' is not a string");
    rule.entity = entity->get<std::string>();
    if (rule.entity.empty()) return reject(std::move(out), "'entity' is empty");
  } else {
    nlohmann::json::const_iterator hashes = content->end();
    std::string_view hashes_key;
    for (std::string_view key : kHashKeys) {
      hashes = content->find(key);
      if (hashes != content->end()) {
        hashes_key = key;
        break;
      }
    }
    if (hashes == content->end()) return reject(std::move(out), "missing 'entity'");
    const std::string quoted = "'" + std::string(hashes_key);
    if (!hashes->is_object()) return reject(std::move(out), quoted + "' is not an object");
    auto sha = hashes->find("sha256");
    if (sha == hashes->end()) return reject(std::move(out), quoted + "' has no 'sha256'");
    if (!sha->is_string()) return reject(std::move(out), quoted + ".sha256' is not a string");
    const auto& b64 = sha->get_ref<const std::string&>();
    if (!decode_sha256_base64(b64)) {
      return reject(std::move(out),
                    quoted + ".sha256' is not a SHA-256 digest in padded base64 (44 characters)");
    }
    rule.sha256 = b64;
  }

  // Lenient on purpose: Mjolnir and Draupnir accept rules without a reason, and MSC4204 says
  // takedowns SHOULD have none.
  if (auto reason = content->find("reason"); reason != content->end() && reason->is_string()) {
    rule.reason = reason->get<std::string>();
  }
  if (auto event_id = event.find("event_id"); event_id != event.end() && event_id->is_string()) {
    rule.event_id = event_id->get<std::string>();
  }
  out.rule = std::move(rule);
  return out;
}

}  // namespace tyr::engine::policy
