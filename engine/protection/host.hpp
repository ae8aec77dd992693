#pragma once
// What hosts protections, as the pipeline sees it: their lifecycle outside scoring (membership
// changes, timers), the requests they make, their `protections …` commands and what they
// persist. Their hits on events reach the verdict through ProtectionScorer (engine/core/
// scorer.hpp). plugins::ProtectionSuiteHost implements both. Pipeline thread only.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/result.hpp"
#include "engine/core/verdict.hpp"
#include "engine/protection/protection.hpp"

namespace tyr::engine::protection {

class Host {
 public:
  virtual ~Host() = default;
  virtual void on_membership(const nlohmann::json& event, int64_t now_ms,
                             const RoomFacts& room) = 0;
  virtual void on_timer(int64_t now_ms) = 0;
  // What the protections asked for since the last call: Tyr's actions (with why.protection
  // set) and notices, each marked with the protection and whether it is in shadow mode.
  virtual std::vector<Request> take_requests() = 0;
  // `protections …` management commands: the reply, and whether settings changed.
  virtual std::pair<std::string, bool> command(const std::vector<std::string>& args) = 0;
  // Settings and state to persist, and to restore at start (errors are reported, not fatal).
  virtual nlohmann::json save_settings() const = 0;
  virtual nlohmann::json save_state() const = 0;
  virtual Result<void> restore(const nlohmann::json& settings, const nlohmann::json& state) = 0;
};

}  // namespace tyr::engine::protection
