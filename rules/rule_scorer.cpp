#include "rules/rule_scorer.hpp"

#include <nlohmann/json.hpp>

#include "engine/core/text.hpp"

namespace tyr::rules {

EventVerdict to_event_verdict(const Verdict& v) {
  EventVerdict out;
  out.score = v.score;
  out.action = v.action;
  out.shadow_action = v.shadow_action;
  out.reject = v.reject;
  if (!v.hits.empty()) out.explanation = explain(v);
  for (const auto& h : v.hits) {
    out.rules.push_back(h.rule);
    out.shadow.push_back(h.mode == Mode::kShadow);
    out.scores.push_back(h.score);
  }
  return out;
}

RuleDirScorer::RuleDirScorer(std::filesystem::path dir, const ListOracle* lists)
    : lists_(lists), engine_(std::move(dir)) {}

EventVerdict RuleDirScorer::score(const Features& features, int64_t now_ms) {
  const RuleSetPtr set = engine_.current();
  if (set == nullptr) return {};  // no rules allow everything
  ScoreOptions opts;
  opts.lists = lists_;
  return to_event_verdict(rules::score(*set, features, engine_.state(), now_ms, opts));
}

EventVerdict RuleDirScorer::explain(const nlohmann::json& event) {
  auto set = engine_.current();
  if (!set) return {};
  ScoreOptions opts;
  opts.lists = lists_;
  opts.explain = true;
  const auto& content = event.value("content", nlohmann::json::object());
  return to_event_verdict(score_text(*set, content.value("body", ""), event.value("sender", ""),
                                     event.value("room_id", ""), opts));
}

Result<void> RuleDirScorer::reload() { return engine_.reload(); }

Thresholds RuleDirScorer::thresholds() const {
  auto set = engine_.current();
  return set ? info(*set).thresholds : Thresholds{};
}

size_t RuleDirScorer::rules_loaded() const {
  auto set = engine_.current();
  return set ? info(*set).rules : 0;
}

std::vector<std::string> RuleDirScorer::describe() const {
  auto set = engine_.current();
  if (!set) return {"no rules loaded"};
  const auto i = info(*set);
  std::vector<std::string> out;
  out.push_back(std::to_string(i.rules) + " rules (" + std::to_string(i.enforced) + " enforced, " +
                std::to_string(i.shadow) + " shadow) from " + std::to_string(i.files) +
                " files in " + engine_.directory().string());
  std::string t = "thresholds:";
  for (int a = 1; a < kActions; ++a) {
    if (i.thresholds.at[a] >= Thresholds::kNever) continue;
    t += " " + std::string(tyr::action_name(static_cast<Action>(a))) + " ≥ " +
         number_text(i.thresholds.at[a]);
  }
  out.push_back(t);
  out.push_back(std::to_string(i.hyperscan_patterns) + " patterns in Hyperscan, " +
                std::to_string(i.re2_confirmed) + " confirmed by RE2, " +
                std::to_string(i.re2_only) + " RE2 only");
  return out;
}

}  // namespace tyr::rules
