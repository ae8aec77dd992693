#pragma once
// RuleEngine: the live holder of a rule directory. Readers take the current RuleSetPtr (a
// shared_ptr copy under a mutex held only for the copy) and score on it; reload() builds a new
// set off to the side and swaps it in only if it loaded completely, so a broken file leaves the
// old rules running and the caller gets the exact "file:line:col: message" to show.
//
// Live integration (bot): construct with the configured directory, call reload() once at start
// (fail start-up on error), call reload() again on SIGHUP / `!tyr rules reload` and post the
// error text to the management room when it fails; per event call score() and act on
// Verdict::action; explain(verdict) is the moderator-facing reason.

#include <filesystem>
#include <mutex>

#include "rules/rule_set.hpp"

namespace tyr::rules {

class RuleEngine {
 public:
  explicit RuleEngine(std::filesystem::path dir, size_t max_rate_keys = 100000);

  // Loads the directory; on success swaps the new set in, on failure keeps the current one.
  Result<void> reload();
  // Replaces the set directly (tests, `!tyr rules test` with a draft set).
  void install(RuleSetPtr set);

  RuleSetPtr current() const;  // nullptr until the first successful load
  const std::filesystem::path& directory() const { return dir_; }
  RuntimeState& state() { return state_; }

  // Scores with the current set; an engine without rules allows everything.
  Verdict score(const nlohmann::json& event, int64_t now_ms, const ScoreOptions& options = {});

 private:
  std::filesystem::path dir_;
  mutable std::mutex mu_;
  RuleSetPtr current_;
  RuntimeState state_;
};

}  // namespace tyr::rules
