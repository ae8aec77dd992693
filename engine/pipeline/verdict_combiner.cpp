#include "engine/pipeline/verdict_combiner.hpp"

namespace tyr::engine {

VerdictCombiner::VerdictCombiner(RuleScorer* rules, ProtectionScorer* protections)
    : rules_(rules), protections_(protections) {}

EventVerdict VerdictCombiner::score(const nlohmann::json& event, int64_t now_ms,
                                    const RoomFacts& room) {
  // Rules see the display name only where the event carries one (a membership's): the room's
  // name for the sender is the protections' business (RoomFacts), not a rule field.
  extract_features(event, {}, features_);
  EventVerdict v = rules_ != nullptr ? rules_->score(features_, now_ms) : EventVerdict{};
  if (protections_ != nullptr) v = protections_->fold(v, event, features_, now_ms, room);
  return v;
}

EventVerdict VerdictCombiner::explain(const nlohmann::json& event) {
  return rules_ != nullptr ? rules_->explain(event) : EventVerdict{};
}

Result<void> VerdictCombiner::reload() {
  if (rules_ == nullptr) return {};
  auto r = rules_->reload();
  if (r && protections_ != nullptr) protections_->set_thresholds(rules_->thresholds());
  return r;
}

std::vector<std::string> VerdictCombiner::describe() const {
  std::vector<std::string> out =
      rules_ != nullptr ? rules_->describe() : std::vector<std::string>{"no rules configured"};
  if (protections_ != nullptr) out.push_back(protections_->summary());
  return out;
}

size_t VerdictCombiner::rules_loaded() const {
  return rules_ != nullptr ? rules_->rules_loaded() : 0;
}

}  // namespace tyr::engine
