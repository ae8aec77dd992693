#include "engine/pipeline/verdict_combiner.hpp"

namespace tyr::engine {

VerdictCombiner::VerdictCombiner(RuleScorer* rules, ProtectionScorer* protections,
                                 classifier::Classifier* classifier)
    : rules_(rules), protections_(protections), classifier_(classifier) {}

EventVerdict VerdictCombiner::score(const nlohmann::json& event, int64_t now_ms,
                                    const RoomFacts& room) {
  // Rules see the display name only where the event carries one (a membership's): the room's
  // name for the sender is the protections' business (RoomFacts), not a rule field.
  extract_features(event, {}, features_);
  EventVerdict v = rules_ != nullptr ? rules_->score(features_, now_ms) : EventVerdict{};
  if (protections_ != nullptr) v = protections_->fold(v, event, features_, now_ms, room);
  if (classifier_ != nullptr) classifier_->fold(v, features_.room, features_.body, thresholds_);
  return v;
}

EventVerdict VerdictCombiner::explain(const nlohmann::json& event) {
  EventVerdict v = rules_ != nullptr ? rules_->explain(event) : EventVerdict{};
  if (classifier_ != nullptr) {
    const auto content = event.find("content");
    if (content != event.end() && content->is_object()) {
      const auto body = content->find("body");
      const auto room = event.find("room_id");
      if (body != content->end() && body->is_string()) {
        classifier_->fold(
            v,
            room != event.end() && room->is_string() ? room->get_ref<const std::string&>()
                                                     : std::string_view{},
            body->get_ref<const std::string&>(),
            rules_ != nullptr ? rules_->thresholds() : Thresholds{}, /*explain=*/true);
      }
    }
  }
  return v;
}

Result<void> VerdictCombiner::reload() {
  if (rules_ == nullptr) return {};
  auto r = rules_->reload();
  if (r) thresholds_ = rules_->thresholds();
  if (r && protections_ != nullptr) protections_->set_thresholds(thresholds_);
  return r;
}

std::vector<std::string> VerdictCombiner::describe() const {
  std::vector<std::string> out =
      rules_ != nullptr ? rules_->describe() : std::vector<std::string>{"no rules configured"};
  if (protections_ != nullptr) out.push_back(protections_->summary());
  if (classifier_ != nullptr) {
    for (auto& line : classifier_->stats()) out.push_back(std::move(line));
  }
  return out;
}

size_t VerdictCombiner::rules_loaded() const {
  return rules_ != nullptr ? rules_->rules_loaded() : 0;
}

}  // namespace tyr::engine
