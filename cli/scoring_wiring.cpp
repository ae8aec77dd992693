#include "cli/scoring_wiring.hpp"

#include "engine/policy/policy_rule.hpp"

namespace tyr::cli {

// Answers `listed:` conditions: an entity is listed when an enforceable rule matches it.
class ScoringWiring::ListedInIndex : public rules::ListOracle {
 public:
  explicit ListedInIndex(const engine::policy::PolicyIndex* index) : index_(index) {}
  bool listed(rules::EntityKind kind, std::string_view entity) const override {
    if (index_ == nullptr) return false;
    const engine::policy::EntityKind k =
        kind == rules::EntityKind::kUser     ? engine::policy::EntityKind::kUser
        : kind == rules::EntityKind::kServer ? engine::policy::EntityKind::kServer
                                             : engine::policy::EntityKind::kRoom;
    std::vector<engine::policy::PolicyRuleRef> hits;
    auto snapshot = index_->snapshot();
    snapshot->match(k, entity, hits);
    for (const auto r : hits) {
      if (r->recommendation != engine::policy::Recommendation::kUnknown) return true;
    }
    return false;
  }

 private:
  const engine::policy::PolicyIndex* index_;
};

ScoringWiring::ScoringWiring(const std::filesystem::path& rules_dir,
                             const engine::policy::PolicyIndex* index,
                             const engine::classifier::ClassifierOptions& classifier)
    : oracle_(std::make_unique<ListedInIndex>(index)),
      rules_(rules_dir.empty() ? nullptr
                               : std::make_unique<rules::RuleDirScorer>(rules_dir, oracle_.get())),
      classifier_(classifier),
      combiner_(rules_.get(), &protections_, classifier.enabled ? &classifier_ : nullptr) {}

ScoringWiring::~ScoringWiring() = default;

}  // namespace tyr::cli
