#include "engine/policy/policy_event_facts.hpp"

#include <iterator>

#include "engine/core/digest.hpp"

namespace tyr::engine::policy {

namespace {

// Sets `event.problem` and leaves `event.rule` empty: a malformed rule counts as a removal.
PolicyEvent reject(PolicyEvent event, std::string problem) {
  event.problem = std::move(problem);
  return event;
}

}  // namespace

namespace {

void read_string(const nlohmann::json& object, std::string_view key, JsonStringFact& out) {
  auto it = object.find(key);
  if (it == object.end()) return;
  if (it->is_string()) {
    out.set(it->get_ref<const std::string&>());
  } else {
    out.state = JsonStringFact::State::kNotString;
  }
}

}  // namespace

std::optional<PolicyEvent> parse_policy_event(const nlohmann::json& event,
                                              const std::string& list) {
  if (!event.is_object()) return std::nullopt;
  PolicyEventFacts facts;
  read_string(event, "type", facts.type);
  read_string(event, "state_key", facts.state_key);
  read_string(event, "event_id", facts.event_id);
  if (auto unsigned_ = event.find("unsigned"); unsigned_ != event.end() && unsigned_->is_object()) {
    facts.redacted = unsigned_->contains("redacted_because");
  }
  auto content = event.find("content");
  if (content == event.end()) {
    facts.content = PolicyEventFacts::Content::kMissing;
  } else if (content->is_null()) {
    facts.content = PolicyEventFacts::Content::kNull;
  } else if (!content->is_object()) {
    facts.content = PolicyEventFacts::Content::kNotObject;
  } else {
    facts.content = PolicyEventFacts::Content::kObject;
    facts.content_empty = content->empty();
    read_string(*content, "recommendation", facts.recommendation);
    read_string(*content, "entity", facts.entity);
    read_string(*content, "reason", facts.reason);
    for (size_t i = 0; i < std::size(kPolicyHashKeys); ++i) {
      auto hashes = content->find(kPolicyHashKeys[i]);
      if (hashes == content->end()) continue;
      facts.hashes[i].present = true;
      facts.hashes[i].is_object = hashes->is_object();
      if (hashes->is_object()) read_string(*hashes, "sha256", facts.hashes[i].sha256);
    }
  }
  return policy_event_from_facts(facts, list);
}

std::optional<PolicyEvent> policy_event_from_facts(const PolicyEventFacts& facts,
                                                   const std::string& list) {
  if (!facts.type.is_string()) return std::nullopt;
  auto classified = classify_policy_type(facts.type.value);
  if (!classified) return std::nullopt;
  if (!facts.state_key.is_string()) return std::nullopt;

  PolicyEvent out{
      classified->first, classified->second, std::string(facts.state_key.value), std::nullopt, {}};

  // Removals: no content, `{}` (how Mjolnir unbans), or a redacted event (whose content the
  // server has emptied; a redaction removes the rule even if a broken server left fields).
  using Content = PolicyEventFacts::Content;
  if (facts.content == Content::kMissing || facts.content == Content::kNull) return out;
  if (facts.redacted) return out;
  if (facts.content == Content::kNotObject) {
    return reject(std::move(out), "'content' is not an object");
  }
  if (facts.content_empty) return out;

  if (!facts.recommendation.present()) return reject(std::move(out), "missing 'recommendation'");
  if (!facts.recommendation.is_string()) {
    return reject(std::move(out), "'recommendation' is not a string");
  }

  PolicyRule rule;
  rule.list = list;
  rule.kind = out.kind;
  rule.family = out.family;
  rule.state_key = out.state_key;
  rule.recommendation_raw = facts.recommendation.value;
  rule.recommendation = parse_recommendation(rule.recommendation_raw);

  if (facts.entity.present()) {
    if (!facts.entity.is_string()) return reject(std::move(out), "'entity' is not a string");
    rule.entity = facts.entity.value;
    if (rule.entity.empty()) return reject(std::move(out), "'entity' is empty");
  } else {
    const HashesFact* hashes = nullptr;
    std::string_view hashes_key;
    for (size_t i = 0; i < std::size(kPolicyHashKeys); ++i) {
      if (facts.hashes[i].present) {
        hashes = &facts.hashes[i];
        hashes_key = kPolicyHashKeys[i];
        break;
      }
    }
    if (!hashes) return reject(std::move(out), "missing 'entity'");
    const std::string quoted = "'" + std::string(hashes_key);
    if (!hashes->is_object) return reject(std::move(out), quoted + "' is not an object");
    if (!hashes->sha256.present()) return reject(std::move(out), quoted + "' has no 'sha256'");
    if (!hashes->sha256.is_string()) {
      return reject(std::move(out), quoted + ".sha256' is not a string");
    }
    if (!decode_sha256_base64(hashes->sha256.value)) {
      return reject(std::move(out),
                    quoted + ".sha256' is not a SHA-256 digest in padded base64 (44 characters)");
    }
    rule.sha256 = hashes->sha256.value;
  }

  // Lenient on purpose: Mjolnir and Draupnir accept rules without a reason, and MSC4204 says
  // takedowns SHOULD have none.
  if (facts.reason.is_string()) rule.reason = facts.reason.value;
  if (facts.event_id.is_string()) rule.event_id = facts.event_id.value;
  out.rule = std::move(rule);
  return out;
}

}  // namespace tyr::engine::policy
