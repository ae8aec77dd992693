#pragma once
// The protections Tyr ships — one explicit list (registry.cpp) — and the ProtectionSuite that
// runs the enabled ones per room and folds their hits into the engine's verdict.
//
// Live integration (Bot, pipeline thread; the suite is not thread-safe):
//   ProtectionSuite suite;                                  // start: validate_registry() first
//   suite.load_settings(stored_settings_json);              // fail loudly on error
//   suite.load_state(stored_state_json);                    // on error: log, continue empty
//   suite.set_thresholds(thresholds of the rule set);       // else notify 3, redact 6
//   // each m.room.message / m.sticker in a protected room:
//   EventContext ctx{event, room, sender, event_id, now_ms, ...};
//   auto r = suite.on_event(ctx, features);                 // the event's, extracted once
//   EventVerdict v = suite.merge(rules_verdict, r);         // or merge({}, r) without rules
//   act on v as for rules; execute r.requests (report those marked shadow as "would have").
//   // each m.room.member: suite.on_membership(mctx) → execute requests, notify on hits.
//   // each policy rule change: suite.on_policy_change(change).
//   // every few seconds: suite.on_timer(now_ms) → execute requests (join-rule restores).
//   // after changes and periodically: store save_settings() and save_state().

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/features.hpp"
#include "engine/core/verdict.hpp"
#include "engine/protection/bounded.hpp"
#include "engine/protection/protection.hpp"
#include "engine/protection/settings.hpp"

namespace tyr::plugins {

using engine::protection::ProtectionDescriptor;
using Registry = std::span<const ProtectionDescriptor* const>;

// The built-in protections, in documentation order.
Registry builtin_protections();
// Checks a registry (duplicate names, bad defaults, …); the no-argument form checks the
// built-ins and must be called at start, failing start-up on error.
Result<void> validate_registry(Registry registry);
Result<void> validate_registry();
const ProtectionDescriptor* find_protection(Registry registry, std::string_view name);

// The reference section of a protection's page in docs/protections/<name>.md: symbols with
// default scores, config keys with types, defaults and bounds, power needed.
std::string reference_markdown(const ProtectionDescriptor& d);

struct ProtectionHit {
  std::string protection, symbol, match;
  double score = 0;     // the room's score for the symbol × the protection's factor
  bool shadow = false;  // from a protection in shadow mode: counts only for shadow_action
};

struct ProtectionResult {
  std::vector<ProtectionHit> hits;
  double multiplier = 1.0;         // from enforcing protections (new_member_grace)
  double shadow_multiplier = 1.0;  // additionally, from shadow ones
  std::vector<std::string> multiplier_reasons;
  std::vector<engine::protection::Request>
      requests;  // execute these; those marked shadow: "would have"

  double score() const;        // Σ enforced hit scores (before the multiplier)
  double total_score() const;  // Σ all hit scores
  bool empty() const { return hits.empty() && requests.empty(); }
};

// Folds protection hits into a verdict (the rules' one, or {} without rules):
//   score = (rules score + enforced hits) × multiplier, action = max(rules action,
//   action_for(score)); shadow_action likewise over every hit. The explanation lists protection
//   hits as "flooding/FLOOD +6 \"11+ messages in 10 s\"" followed by the rules' explanation;
//   `rules` gains "flooding/FLOOD" ids.
EventVerdict merge_verdict(const EventVerdict& rules_verdict, const ProtectionResult& result,
                           const Thresholds& thresholds);

class ProtectionSuite {
 public:
  explicit ProtectionSuite(Registry registry = builtin_protections(),
                           size_t max_tracked_joins = 100000);
  ~ProtectionSuite();
  ProtectionSuite(const ProtectionSuite&) = delete;
  ProtectionSuite& operator=(const ProtectionSuite&) = delete;

  Registry registry() const { return registry_; }

  // Hooks. on_event fills ctx.message from the event's features (extracted once per event and
  // shared with the rules) and, when the caller left it empty, ctx.member_since_ms from the joins
  // the suite has seen. The one-argument form extracts the features itself (tests, tools).
  ProtectionResult on_event(const engine::protection::EventContext& ctx, const Features& features);
  ProtectionResult on_event(const engine::protection::EventContext& ctx);
  ProtectionResult on_membership(const engine::protection::MembershipContext& ctx);
  ProtectionResult on_policy_change(const engine::protection::PolicyChange& change);
  ProtectionResult on_timer(int64_t now_ms);

  void set_thresholds(const Thresholds& t) { thresholds_ = t; }
  EventVerdict merge(const EventVerdict& rules_verdict, const ProtectionResult& r) const {
    return merge_verdict(rules_verdict, r, thresholds_);
  }

  // Settings. `room` empty = the global setting. Errors are operator-facing sentences.
  Result<void> load_settings(const nlohmann::json& j);
  nlohmann::json save_settings() const { return engine::protection::to_json(settings_); }
  const engine::protection::Settings& settings() const { return settings_; }
  Result<void> set_mode(std::string_view name, engine::protection::Mode mode,
                        std::string_view room = {});
  Result<void> set_config(std::string_view name, std::string_view key, std::string_view value_text,
                          std::string_view room = {});
  Result<void> set_score(std::string_view name, std::string_view symbol, double score,
                         std::string_view room = {});
  engine::protection::Mode mode(std::string_view name, std::string_view room) const;
  // Effective config of `name` in `room` (defaults ← global ← room).
  Result<engine::protection::ProtectionConfig> config(std::string_view name,
                                                      std::string_view room) const;

  // State: {"protections": {name: state…}, "joins": […]}. Loading skips protections that are
  // no longer registered and fails on malformed state (leaving that protection empty).
  nlohmann::json save_state() const;
  Result<void> load_state(const nlohmann::json& j);

  struct Status {
    std::string name;
    engine::protection::Mode mode = engine::protection::Mode::kOff;
    uint64_t hits = 0, shadow_hits = 0, requests = 0, shadow_requests = 0;
    size_t state_entries = 0;
  };
  std::vector<Status> status(std::string_view room = {}) const;  // counters are global

 private:
  struct Entry;
  struct Resolved {
    engine::protection::Mode mode = engine::protection::Mode::kOff;
    engine::protection::ProtectionConfig config;
    std::map<std::string, double, std::less<>> scores;
  };
  const std::vector<Resolved>& resolved(std::string_view room);
  bool any_enabled(std::string_view room);
  Resolved resolve(size_t index, std::string_view room) const;
  Result<size_t> index_of(std::string_view name) const;
  Result<void> replace_setting(size_t index, std::string_view room,
                               engine::protection::ProtectionSetting s);
  std::string_view join_key(std::string_view room, std::string_view user);
  void collect(size_t index, const Resolved& r, engine::protection::RecordingSink& sink,
               ProtectionResult& out);

  Registry registry_;
  std::vector<std::unique_ptr<Entry>> entries_;
  engine::protection::Settings settings_;
  std::map<std::string, std::vector<Resolved>, std::less<>> cache_;  // by room, cleared on change
  engine::protection::BoundedMap<int64_t> joins_;                    // room\x1fuser → join time
  Features features_;                                                // the one-argument on_event's
  Thresholds thresholds_;
  engine::protection::RecordingSink sink_;
  std::string key_;
};

}  // namespace tyr::plugins
