#pragma once
// The audit trail: every action Tyr takes or would take (live, shadow, dry run, inline veto),
// with its reason and outcome, kept in the store's `audit` family (key layout in
// engine/store/store.hpp, JSON format and retention in docs/audit.md).
//
// Recording is part of the batch that completes the action, so the entry commits atomically
// with it: an action is audited if and only if its completion is durable.
//
//   Batch batch;
//   …                                   // the action's completion, follow-ups, outbox delete
//   audit.record(batch, {.action = "ban", .mode = "live", .user = user, .room = room,
//                        .reason = reason, .outcome = "ok"});
//   store.commit(batch);
//   audit.maybe_prune();                // cheap; prunes every kPruneEvery records

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/result.hpp"
#include "engine/store/store.hpp"

namespace tyr::engine {

struct AuditEntry {
  int64_t ts_ms = 0;        // when; 0 at record(): now
  std::string action;       // ban, unban, kick, redact, acl, join_rule, notify, veto, …
  std::string mode;         // live, shadow, dry_run, veto
  std::string user;         // the user acted on, if any
  std::string room;         // the room acted in, if any
  std::string event_id;     // the event that caused it or was acted on, if any
  std::string target;       // a server or list entity when the action is not about one user
  std::string reason_text;  // the human-readable reason, as posted to the management room
  // Structured reason: {"rules":[{"id":…,"score":…}], "list":…, "state_key":…,
  // "protection":…, "threshold":…} or anything else that explains the action; an object.
  nlohmann::json reason = nlohmann::json::object();
  std::string outcome;  // ok, would, refused, or a Matrix errcode (M_FORBIDDEN…)
  std::string detail;   // free text: the error message, the count redacted, …
  uint64_t seq = 0;     // set by record(): unique, increasing in recording order
};

// The stable JSON form (docs/audit.md): every field always present, strings possibly empty,
// "reason" always an object. Fields are only ever added, never renamed or retyped.
nlohmann::json to_json(const AuditEntry& e);
// Strict: a missing or mistyped field is an error, not an empty value.
Result<AuditEntry> audit_entry_from_json(const nlohmann::json& j);

struct AuditQuery {
  std::string user;      // only entries about this user ("": any)
  std::string room;      // only entries in this room ("": any)
  int64_t since_ms = 0;  // ts_ms >= since_ms
  int64_t until_ms = 0;  // ts_ms < until_ms (0: no upper bound)
  size_t limit = 100;    // the newest `limit` matches (0: all)
};

struct AuditLimits {
  uint64_t max_entries = 1'000'000;
  int64_t max_age_ms = 90LL * 24 * 3600 * 1000;  // 90 days
};

class AuditLog {
 public:
  // maybe_prune() prunes after this many record() calls since the last prune.
  static constexpr uint64_t kPruneEvery = 1000;

  explicit AuditLog(Store& store, AuditLimits limits = {});

  // Adds the entry to `batch` (nothing is visible until the batch commits): its JSON under
  // "t/<ts><seq>" and one index key per non-empty user and room, plus one increment of the
  // entry count. No reads; the sequence comes from a counter in memory. Returns the sequence.
  uint64_t record(Batch& batch, AuditEntry entry);
  // record() in a batch of its own, committed (fsync) before returning.
  Result<void> record_now(AuditEntry entry);

  // Newest first. Queries by user or room read only that index's keys in the time range.
  std::vector<AuditEntry> query(const AuditQuery& q) const;

  // Deletes the oldest entries (and their index keys) until at most `max_entries` remain and
  // none is older than now_ms - max_age_ms; returns how many went. Costs one read of the
  // count and one seek when there is nothing to delete; deletes in batches of kPruneChunk.
  // Safe to call from any thread while others record: prunes are serialised process-wide (two
  // would delete and count the same entries). A limit of 0 disables that bound.
  Result<size_t> prune(uint64_t max_entries, int64_t max_age_ms, int64_t now_ms);
  Result<size_t> prune();  // with the limits given at construction, now
  // prune() if kPruneEvery records were made since the last prune, else nothing. Call it after
  // committing a batch that recorded entries, never with a batch pending (prune commits).
  Result<size_t> maybe_prune();

  // Entries in the trail (kept as a counter: reading it scans nothing).
  uint64_t size() const;

 private:
  static constexpr size_t kPruneChunk = 500;

  Store& store_;
  AuditLimits limits_;
  std::atomic<uint64_t> since_prune_{0};
};

}  // namespace tyr::engine
