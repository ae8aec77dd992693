#pragma once
// The protection suite behind the engine's two protection interfaces (engine/core/scorer.hpp):
// ProtectionScorer (hits on an event folded into the rules' verdict, by the verdict combiner)
// and protection::Host (membership changes, timers, requested actions, `protections …` commands,
// settings and state). Pipeline thread only: the suite is not thread-safe.
//
// Requested actions leave here as executor JSON (engine::protection::to_json of each ActionIntent,
// plus "shadow": true for shadow intents); this is the only place that writes them, and
// engine/pipeline/scoring_stage.cpp (enqueue_requested) the only place that reads them back.

#include <vector>

#include "engine/core/scorer.hpp"
#include "engine/protection/host.hpp"
#include "plugins/registry.hpp"

namespace tyr::plugins {

class ProtectionSuiteHost : public ProtectionScorer, public engine::protection::Host {
 public:
  explicit ProtectionSuiteHost(Registry registry = builtin_protections());

  // ProtectionScorer
  EventVerdict fold(const EventVerdict& rules_verdict, const nlohmann::json& event,
                    const Features& features, int64_t now_ms, const RoomFacts& room) override;
  void set_thresholds(const Thresholds& thresholds) override { suite_.set_thresholds(thresholds); }
  std::string summary() const override;

  // protection::Host
  void on_membership(const nlohmann::json& event, int64_t now_ms, const RoomFacts& room) override;
  void on_timer(int64_t now_ms) override;
  std::vector<engine::protection::Request> take_requests() override;
  std::pair<std::string, bool> command(const std::vector<std::string>& args) override;
  nlohmann::json save_settings() const override { return suite_.save_settings(); }
  nlohmann::json save_state() const override { return suite_.save_state(); }
  Result<void> restore(const nlohmann::json& settings, const nlohmann::json& state) override;

  ProtectionSuite& suite() { return suite_; }

 private:
  const engine::protection::ProtectionDescriptor* descriptor(std::string_view name) const;

  void collect(ProtectionResult& r);

  ProtectionSuite suite_;
  std::vector<engine::protection::Request> pending_;
};

}  // namespace tyr::plugins
