#pragma once
// The custom rules behind the engine's RuleScorer interface: a directory of rule files, live
// (RuleEngine: reload swaps the set, a broken file keeps the old one), scored from the event's
// features, with `listed:` conditions answered by an oracle the composition root supplies.

#include <filesystem>

#include "engine/core/scorer.hpp"
#include "rules/rule_engine.hpp"

namespace tyr::rules {

class RuleDirScorer : public RuleScorer {
 public:
  // `lists` may be null (nothing is listed); it must outlive the scorer.
  RuleDirScorer(std::filesystem::path dir, const ListOracle* lists);

  EventVerdict score(const Features& features, int64_t now_ms) override;
  EventVerdict explain(const nlohmann::json& event) override;
  Result<void> reload() override;
  std::vector<std::string> describe() const override;
  size_t rules_loaded() const override;
  Thresholds thresholds() const override;

 private:
  const ListOracle* lists_;
  RuleEngine engine_;
};

// A rules verdict as the engine sees it: the explanation text and the hit ids, shadow marked.
EventVerdict to_event_verdict(const Verdict& v);

}  // namespace tyr::rules
