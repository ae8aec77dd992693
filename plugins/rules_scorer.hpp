#pragma once
// The custom-rules scorer: a directory of rule files (rules/) behind the engine's EventScorer
// interface, with `listed:` conditions answered by the policy index of the watched lists.

#include <filesystem>
#include <memory>

#include "engine/core/verdict.hpp"
#include "engine/policy/policy_index.hpp"
#include "rules/rule_engine.hpp"

namespace tyr::plugins {

class RulesScorer : public EventScorer {
 public:
  // `index` may be null (nothing is listed).
  RulesScorer(std::filesystem::path dir, const policy::PolicyIndex* index);
  ~RulesScorer() override;

  EventVerdict score(const nlohmann::json& event, int64_t now_ms) override;
  EventVerdict explain(const nlohmann::json& event) override;
  Result<void> reload() override;
  std::vector<std::string> describe() const override;
  size_t rules_loaded() const override;
  // The loaded set's thresholds (the defaults before a successful load).
  rules::Thresholds thresholds() const;

 private:
  class Oracle;
  std::unique_ptr<Oracle> oracle_;
  rules::RuleEngine engine_;
};

}  // namespace tyr::plugins
