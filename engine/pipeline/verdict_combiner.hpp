#pragma once
// The one place rules and protections become one verdict. Per event: the features are extracted
// once (engine/core/features.hpp), the rules score them, and the protections fold their hits
// into the rules' verdict under the rules' thresholds. Either side may be absent: without rules
// protections are judged by the default thresholds; without protections the rules' verdict
// stands. Last, the classifier (engine/classifier/classifier.hpp) adds its symbol, if any. The
// composition root (cli/service.cpp) supplies the concrete rules and protections.
//
// Threads: score() on the pipeline thread only (it owns the features buffer and the
// protections); explain, reload, describe and rules_loaded touch only the rules, which are
// safe from any thread.

#include "engine/classifier/classifier.hpp"
#include "engine/core/scorer.hpp"

namespace tyr::engine {

class VerdictCombiner : public EventScorer {
 public:
  // Any may be null; all must outlive the combiner.
  VerdictCombiner(RuleScorer* rules, ProtectionScorer* protections,
                  classifier::Classifier* classifier = nullptr);

  EventVerdict score(const nlohmann::json& event, int64_t now_ms, const RoomFacts& room) override;
  EventVerdict explain(const nlohmann::json& event) override;
  // Reloads the rules and hands their thresholds to the protections.
  Result<void> reload() override;
  std::vector<std::string> describe() const override;
  size_t rules_loaded() const override;

 private:
  RuleScorer* rules_;
  ProtectionScorer* protections_;
  classifier::Classifier* classifier_;
  Thresholds thresholds_;  // the rules' (set at reload), which the classifier's hit is judged by
  Features features_;      // reused across events: steady-state extraction allocates nothing
};

}  // namespace tyr::engine
