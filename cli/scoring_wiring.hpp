#pragma once
// Where custom rules and protections are wired into the service's one scorer: the rule
// directory (rules/rule_scorer.hpp) with `listed:` answered by the watched lists' policy index,
// the protection suite (plugins/protection_host.hpp), the statistical classifier
// (engine/classifier/classifier.hpp), and the verdict combiner over them
// (engine/pipeline/verdict_combiner.hpp). The bot sees the combiner as its EventScorer and the
// suite as its engine::protection::Host.

#include <filesystem>
#include <memory>

#include "engine/core/scorer.hpp"
#include "engine/pipeline/verdict_combiner.hpp"
#include "engine/policy/policy_index.hpp"
#include "plugins/protection_host.hpp"
#include "rules/rule_scorer.hpp"

namespace tyr::cli {

class ScoringWiring {
 public:
  // `rules_dir` empty: protections only. `index` may be null (nothing is listed); it must
  // outlive this. Nothing is loaded until scorer().reload() (and classifier().load(store)).
  ScoringWiring(const std::filesystem::path& rules_dir, const engine::policy::PolicyIndex* index,
                const engine::classifier::ClassifierOptions& classifier = {});
  ~ScoringWiring();
  ScoringWiring(const ScoringWiring&) = delete;
  ScoringWiring& operator=(const ScoringWiring&) = delete;

  EventScorer& scorer() { return combiner_; }
  engine::protection::Host& protections() { return protections_; }
  engine::classifier::Classifier& classifier() { return classifier_; }

 private:
  class ListedInIndex;
  std::unique_ptr<ListedInIndex> oracle_;
  std::unique_ptr<rules::RuleDirScorer> rules_;
  plugins::ProtectionSuiteHost protections_;
  engine::classifier::Classifier classifier_;
  engine::VerdictCombiner combiner_;
};

}  // namespace tyr::cli
