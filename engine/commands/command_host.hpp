#pragma once
// What management-room commands may see and do: the narrow view of the bot they run in.
// Bot implements it (engine/pipeline/bot_commands_host.cpp); unit tests implement it with a
// real Store in a temp dir and a fake outbox (tests/unit/commands_fixture.hpp).
//
// Commands never call the homeserver. Their effects are state changes in the command's batch
// and actions enqueued in the outbox (same batch), run later by the executor.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/actions/action.hpp"
#include "engine/audit/audit_log.hpp"
#include "engine/classifier/classifier.hpp"
#include "engine/config/config.hpp"
#include "engine/core/scorer.hpp"
#include "engine/pipeline/policy_book.hpp"
#include "engine/policy/policy_list.hpp"
#include "engine/protection/host.hpp"
#include "engine/store/store.hpp"

namespace tyr::engine::commands {

// Verdicts of the rules and protections since start, by action.
struct VerdictCounts {
  uint64_t notify = 0, redact = 0, kick = 0, ban = 0;
  uint64_t shadow = 0;  // events on which shadow rules would have acted
};

// The policy server as `policyserver status` shows it.
struct PolicyServerView {
  std::string server_name;                                     // the `via` Tyr answers for
  std::string public_key;                                      // unpadded base64 ed25519
  std::vector<std::pair<std::string, uint64_t>> outcomes;      // outcome name -> requests
  std::map<std::string, std::pair<uint64_t, uint64_t>> rooms;  // room -> (signed, refused)
};

class CommandHost {
 public:
  virtual ~CommandHost() = default;

  // ---- read ----
  virtual const Config& config() const = 0;
  // Reads of the state family (allowlist, stored reports); writes go into the command's batch.
  virtual Store& store() = 0;
  virtual PolicyBook& policy_book() = 0;
  virtual const AuditLog& audit_log() const = 0;
  // Custom rules, and the built-in protections; each null when not configured.
  virtual EventScorer* scorer() = 0;
  virtual protection::Host* protections() = 0;
  // The management room: where commands are read and answered.
  virtual const std::string& command_room() const = 0;
  virtual bool is_exempt_user(const std::string& user_id) const = 0;
  // For `status`.
  virtual std::chrono::seconds uptime() const = 0;
  virtual VerdictCounts verdict_counts() const = 0;
  virtual std::vector<std::string> status_lines() const = 0;  // the service's (queues, counters)
  // The policy server; nullopt when the config has no `policy_server` section.
  virtual std::optional<PolicyServerView> policy_server_view() const { return std::nullopt; }
  // The statistical classifier, for `learn` (null when it is off).
  virtual classifier::Classifier* classifier() { return nullptr; }

  // ---- protected rooms ----
  // By room ID or by the alias it was added with; "" when not protected.
  virtual std::string find_protected_room(const std::string& id_or_alias) const = 0;
  // Room ID -> stored info (added_ts, alias, members…), ordered by room ID.
  virtual std::map<std::string, nlohmann::json> protected_rooms() const = 0;
  // Stops protecting a room (durably, in `batch`) and forgets what was cached about it.
  virtual void unprotect_room(Batch& batch, const std::string& room_id) = 0;

  // ---- act ----
  // The outbox: one executor action into `batch`, at the action's own priority.
  virtual void enqueue_action(Batch& batch, const actions::Action& action) = 0;
  // Reacts to changed list rules (sweeps, ACL updates, unbans), queued in `batch`.
  virtual void apply_rule_diffs(const std::vector<policy::ListDiff>& diffs, Batch& batch) = 0;
  // Queues a sweep and a server-ACL update of every protected room (the allowlist shrank).
  virtual void schedule_enforcement(Batch& batch) = 0;
  // Reloads the rule files and reports the outcome in reply to `reply_to`.
  virtual void request_rules_reload(Batch& batch, const std::string& reply_to) = 0;
};

}  // namespace tyr::engine::commands
