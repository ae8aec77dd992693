#include "plugins/rules_scorer.hpp"

#include <cstdio>

#include "engine/policy/policy_rule.hpp"

namespace tyr::plugins {

namespace {

EventVerdict convert(const rules::Verdict& v) {
  EventVerdict out;
  out.score = v.score;
  out.action = v.action;
  out.shadow_action = v.shadow_action;
  out.reject = v.reject;
  if (!v.hits.empty()) out.explanation = rules::explain(v);
  for (const auto& h : v.hits) {
    out.rules.push_back(h.rule);
    out.shadow.push_back(h.mode == rules::Mode::kShadow);
  }
  return out;
}

std::string fmt(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

}  // namespace

// Answers `listed:` conditions: an entity is listed when an enforceable rule matches it.
class RulesScorer::Oracle : public rules::ListOracle {
 public:
  explicit Oracle(const policy::PolicyIndex* index) : index_(index) {}
  bool listed(rules::EntityKind kind, std::string_view entity) const override {
    if (index_ == nullptr) return false;
    const policy::EntityKind k = kind == rules::EntityKind::kUser     ? policy::EntityKind::kUser
                                 : kind == rules::EntityKind::kServer ? policy::EntityKind::kServer
                                                                      : policy::EntityKind::kRoom;
    std::vector<const policy::PolicyRule*> hits;
    auto snapshot = index_->snapshot();
    snapshot->match(k, entity, hits);
    for (const auto* r : hits) {
      if (r->recommendation != policy::Recommendation::kUnknown) return true;
    }
    return false;
  }

 private:
  const policy::PolicyIndex* index_;
};

RulesScorer::RulesScorer(std::filesystem::path dir, const policy::PolicyIndex* index)
    : oracle_(std::make_unique<Oracle>(index)), engine_(std::move(dir)) {}

RulesScorer::~RulesScorer() = default;

EventVerdict RulesScorer::score(const nlohmann::json& event, int64_t now_ms) {
  rules::ScoreOptions opts;
  opts.lists = oracle_.get();
  return convert(engine_.score(event, now_ms, opts));
}

EventVerdict RulesScorer::explain(const nlohmann::json& event) {
  auto set = engine_.current();
  if (!set) return {};
  rules::ScoreOptions opts;
  opts.lists = oracle_.get();
  opts.explain = true;
  const auto& content = event.value("content", nlohmann::json::object());
  return convert(rules::score_text(*set, content.value("body", ""), event.value("sender", ""),
                                   event.value("room_id", ""), opts));
}

Result<void> RulesScorer::reload() { return engine_.reload(); }

rules::Thresholds RulesScorer::thresholds() const {
  auto set = engine_.current();
  return set ? rules::info(*set).thresholds : rules::Thresholds{};
}

size_t RulesScorer::rules_loaded() const {
  auto set = engine_.current();
  return set ? rules::info(*set).rules : 0;
}

std::vector<std::string> RulesScorer::describe() const {
  auto set = engine_.current();
  if (!set) return {"no rules loaded"};
  const auto i = rules::info(*set);
  std::vector<std::string> out;
  out.push_back(std::to_string(i.rules) + " rules (" + std::to_string(i.enforced) + " enforced, " +
                std::to_string(i.shadow) + " shadow) from " + std::to_string(i.files) + " files in " +
                engine_.directory().string());
  std::string t = "thresholds:";
  for (int a = 1; a < rules::kActions; ++a) {
    if (i.thresholds.at[a] >= rules::Thresholds::kNever) continue;
    t += " " + std::string(tyr::action_name(static_cast<Action>(a))) + " ≥ " + fmt(i.thresholds.at[a]);
  }
  out.push_back(t);
  out.push_back(std::to_string(i.hyperscan_patterns) + " patterns in Hyperscan, " +
                std::to_string(i.re2_confirmed) + " confirmed by RE2, " + std::to_string(i.re2_only) +
                " RE2 only");
  return out;
}

}  // namespace tyr::plugins
