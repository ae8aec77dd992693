#include "rules/rule_engine.hpp"

#include <nlohmann/json.hpp>

namespace tyr::rules {

RuleEngine::RuleEngine(std::filesystem::path dir, size_t max_rate_keys)
    : dir_(std::move(dir)), state_(max_rate_keys) {}

Result<void> RuleEngine::reload() {
  auto loaded = load_rule_dir(dir_);  // built without the lock: readers keep scoring
  if (!loaded) return loaded.error();
  install(std::move(loaded).value());
  return {};
}

void RuleEngine::install(RuleSetPtr set) {
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(set);
}

RuleSetPtr RuleEngine::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

Verdict RuleEngine::score(const nlohmann::json& event, int64_t now_ms,
                          const ScoreOptions& options) {
  const RuleSetPtr set = current();
  if (set == nullptr) return Verdict{};
  return rules::score(*set, event, state_, now_ms, options);
}

}  // namespace tyr::rules
