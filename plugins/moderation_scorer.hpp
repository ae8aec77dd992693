#pragma once
// What the engine scores events with: the custom rules (optional) and the protection suite,
// folded into one verdict, one threshold table and one explanation. Runs on the pipeline thread
// (the suite is not thread-safe); `explain` and `reload` may come from other threads and touch
// only the rules, which are.

#include <memory>
#include <vector>

#include "engine/core/verdict.hpp"
#include "plugins/registry.hpp"
#include "plugins/rules_scorer.hpp"

namespace tyr::plugins {

class ModerationScorer : public EventScorer {
 public:
  // `rules` may be null (protections only).
  explicit ModerationScorer(std::unique_ptr<RulesScorer> rules);

  EventVerdict score(const nlohmann::json& event, int64_t now_ms) override;
  size_t rules_loaded() const override { return rules_ ? rules_->rules_loaded() : 0; }
  EventVerdict explain(const nlohmann::json& event) override;
  Result<void> reload() override;
  std::vector<std::string> describe() const override;

  EventVerdict score_in_room(const nlohmann::json& event, int64_t now_ms, const RoomFacts& room) override;
  void on_membership(const nlohmann::json& event, int64_t now_ms, const RoomFacts& room) override;
  void on_timer(int64_t now_ms) override;
  std::vector<nlohmann::json> take_actions() override;
  std::pair<std::string, bool> protections_command(const std::vector<std::string>& args) override;
  nlohmann::json save_settings() const override { return suite_.save_settings(); }
  nlohmann::json save_state() const override { return suite_.save_state(); }
  Result<void> restore(const nlohmann::json& settings, const nlohmann::json& state) override;

 private:
  void collect(const ProtectionResult& r);

  std::unique_ptr<RulesScorer> rules_;
  ProtectionSuite suite_;
  std::vector<nlohmann::json> pending_;
};

}  // namespace tyr::plugins
