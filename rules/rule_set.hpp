#pragma once
// The rule language's public face: load a directory of rule files into an immutable RuleSet,
// score events against it with per-process RuntimeState (rate windows), read the Verdict.
//
//   auto set = tyr::rules::load_rule_dir("rules/default");      // Result<RuleSetPtr>
//   tyr::rules::RuntimeState state;                              // shared by all threads
//   auto v = tyr::rules::score(**set, event_json, state, now_ms, {&oracle});
//   if (v.action >= Action::kRedact) ...; explain(v) names every rule, score and matched span.
//
// A RuleSet never changes after load; reload builds a new one and swaps a shared_ptr (see
// RuleEngine in rule_engine.hpp). RuntimeState holds everything that changes per event.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/core/entity.hpp"
#include "engine/core/features.hpp"
#include "engine/core/mode.hpp"
#include "engine/core/result.hpp"
#include "engine/core/verdict.hpp"

namespace tyr::rules {

// The engine's actions, ordered by strength: a verdict is the strongest action whose threshold
// the score reaches.
using Action = tyr::Action;
using tyr::kActions;

using tyr::Mode;  // engine/core/mode.hpp; a rule is kEnforce or kShadow, never kOff
using tyr::mode_name;

// What a `listed:` condition asks about. The rules library knows no ban lists; the caller
// injects an oracle (the policy index, a test double, nothing at all).
using tyr::EntityKind;  // engine/core/entity.hpp

struct ListOracle {
  virtual ~ListOracle() = default;
  // True when `entity` (a user ID, a server name without port, or a room ID) is banned by a
  // list the caller watches.
  virtual bool listed(EntityKind kind, std::string_view entity) const = 0;
};

// Thresholds are the engine's (shared with protections, which fold their hits into the same
// verdict).
using tyr::Thresholds;

struct Hit {
  std::string rule;   // the rule's stable id
  std::string group;  // empty when the rule has none
  double score = 0;
  Mode mode = Mode::kEnforce;
  std::string match;  // matched text (<= kMaxMatchBytes) or a description ("mentions=12")
};
using tyr::kMaxMatchBytes;

struct Verdict {
  double score = 0;                       // enforced rules only: what the action is decided on
  double total_score = 0;                 // enforced + shadow rules
  Action action = Action::kAllow;         // from `score` and the room's thresholds
  Action shadow_action = Action::kAllow;  // from `total_score`: what shadow rules would do
  bool reject = false;                    // `score` reached the reject threshold (inline veto)
  bool stopped_early = false;             // top threshold reached, remaining rules skipped
  std::vector<Hit> hits;                  // in rule order
};

struct ScoreOptions {
  const ListOracle* lists = nullptr;  // `listed:` is false without one
  std::string_view display_name;      // the sender's display name, when the caller knows it
  bool explain = false;               // evaluate every rule even after the top threshold is reached
};

class RuleSet;  // immutable, see compiled.hpp
using RuleSetPtr = std::shared_ptr<const RuleSet>;

// One rule file's text, for loading from memory (tests, `!tyr rules test`).
struct RuleSource {
  std::string name;  // as printed in errors: "<name>:line:col: message"
  std::string text;
  std::filesystem::path base_dir;  // where `keywords: {file: …}` paths are resolved
};

// Every *.yaml / *.yml file directly in `dir`, in name order, as one rule set. Errors carry
// code "TYR_RULES" and the message "file:line:col: message".
Result<RuleSetPtr> load_rule_dir(const std::filesystem::path& dir);
Result<RuleSetPtr> load_rule_sources(const std::vector<RuleSource>& sources);

// Rate windows and other state that changes per event. Thread-safe; bounded in memory.
class RuntimeState {
 public:
  explicit RuntimeState(size_t max_keys = 100000);
  ~RuntimeState();
  RuntimeState(const RuntimeState&) = delete;
  RuntimeState& operator=(const RuntimeState&) = delete;

  // Records one event for `key` in a window of `window_ms` holding the last `count` times, and
  // returns how many of them fall inside the window ending at `now_ms` (this one included).
  uint32_t record(std::string_view key, uint32_t count, int64_t window_ms, int64_t now_ms);
  size_t keys() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Scores one event (a Matrix event as JSON: type, sender, room_id, content…). `now_ms` is the
// clock for rate windows: the arrival time live, origin_server_ts offline.
Verdict score(const RuleSet& set, const nlohmann::json& event, RuntimeState& state, int64_t now_ms,
              const ScoreOptions& options = {});
// The same from the event's features, extracted once by the caller (and shared with protections);
// `options.display_name` is not read (it only matters to extraction).
Verdict score(const RuleSet& set, const Features& features, RuntimeState& state, int64_t now_ms,
              const ScoreOptions& options = {});

// Scores `text` as an m.text message from `sender` in `room` with a throwaway rate state, for
// `!tyr rules test <text>`: the live windows are not touched.
Verdict score_text(const RuleSet& set, std::string_view text, std::string_view sender,
                   std::string_view room, const ScoreOptions& options = {});

// Human-readable explanation for the management room:
//   "score 9.5 → redact: crypto-scam +6 “bitcoin giveaway”, shortener +3.5 “bit.ly”"
std::string explain(const Verdict& v);

// Summary of a loaded set for `!tyr rules` and `tyr rules lint`.
struct RuleSetInfo {
  size_t rules = 0, enforced = 0, shadow = 0, disabled = 0;
  size_t hyperscan_patterns = 0, re2_confirmed = 0, re2_only = 0;
  size_t files = 0;
  Thresholds thresholds;
};
RuleSetInfo info(const RuleSet& set);

}  // namespace tyr::rules
