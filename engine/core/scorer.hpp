#pragma once
// The scoring seam. Custom rules (rules/) and protections (plugins/) implement the component
// interfaces below; the verdict combiner (engine/pipeline/verdict_combiner.hpp) extracts an
// event's features once and folds both into one verdict; the pipeline's scoring stage
// (engine/pipeline/scoring_stage.hpp) sees only EventScorer and protection::Host
// (engine/protection/host.hpp). The composition root (cli/service.cpp) wires the concrete rules
// and protections together.
//
//   ScoringStage ─EventScorer─▶ VerdictCombiner ─RuleScorer───────▶ rules::RuleDirScorer
//        │                                     └─ProtectionScorer─▶ plugins::ProtectionSuiteHost
//        └─protection::Host───────────────────────────────────────▶ plugins::ProtectionSuiteHost

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/features.hpp"
#include "engine/core/result.hpp"
#include "engine/core/verdict.hpp"

namespace tyr {

// What scores events: the pipeline's view of rules and protections together. Runs on the
// pipeline thread; `explain`, `reload`, `describe` and `rules_loaded` may come from others.
class EventScorer {
 public:
  virtual ~EventScorer() = default;
  // Scores one client-format event at `now_ms` (rate windows advance) with what the pipeline
  // knows of the room (power, names, moderators).
  virtual EventVerdict score(const nlohmann::json& event, int64_t now_ms,
                             const RoomFacts& room) = 0;
  // Scores without advancing any state, evaluating every rule (for `rules test`).
  virtual EventVerdict explain(const nlohmann::json& event) = 0;
  // Reloads the rules atomically; on error the old rules stay and the message says where.
  virtual Result<void> reload() = 0;
  // A short description of what is loaded, one line per rule group or rule.
  virtual std::vector<std::string> describe() const = 0;
  virtual size_t rules_loaded() const = 0;
};

// Custom rules as the combiner sees them: a verdict from the event's features.
class RuleScorer {
 public:
  virtual ~RuleScorer() = default;
  // `features` were extracted from the event (views into it) by the caller, once.
  virtual EventVerdict score(const Features& features, int64_t now_ms) = 0;
  virtual EventVerdict explain(const nlohmann::json& event) = 0;
  virtual Result<void> reload() = 0;
  virtual std::vector<std::string> describe() const = 0;
  virtual size_t rules_loaded() const = 0;
  // The loaded set's thresholds (the defaults before a successful load).
  virtual Thresholds thresholds() const = 0;
};

// Protections as the combiner sees them: their hits on an event folded into the rules' verdict.
class ProtectionScorer {
 public:
  virtual ~ProtectionScorer() = default;
  // Runs the protections enabled in the event's room and folds their hits and multipliers into
  // `rules_verdict` (returned unchanged when nothing hit). `features` are the event's, as the
  // rules saw them.
  virtual EventVerdict fold(const EventVerdict& rules_verdict, const nlohmann::json& event,
                            const Features& features, int64_t now_ms, const RoomFacts& room) = 0;
  // The rules' thresholds, which protections' hits are judged by too.
  virtual void set_thresholds(const Thresholds& thresholds) = 0;
  // One line for `rules`: how many protections are on and in shadow mode.
  virtual std::string summary() const = 0;
};

}  // namespace tyr
