#pragma once
// Tyr's durable state in RocksDB. Every write that must be atomic (a transaction's events and
// its marker; an event's effects and its removal from the inbox; an action's completion and its
// follow-ups) goes through one WriteBatch, so a kill -9 at any point means exactly-once.
//
// Column families (key layout -> value, purpose):
//   default : unused (RocksDB requires it).
//   meta    : "schema" -> decimal version; "instance" -> random hex id of this database;
//             "inbox_hw"/"outbox_hw"/"audit_hw" -> highest sequence ever used (sequences never
//             repeat); "audit_count" -> entries in the audit family (a Batch::add counter);
//             "last_txn_ms" -> when the last homeserver transaction was committed (decimal).
//   txns    : txnId -> JSON {"events": n, "digest": hex, "ts": ms}. Marks a homeserver
//             transaction as committed; a retried txnId with the same digest is a pure retry.
//             Same age index as `seen` ("\0" + time + txnId -> "").
//   seen    : event_id -> 8-byte big-endian inbox sequence. Dedupe of events across
//             transactions (Synapse on SQLite restarts txnIds at 1 after its own restart).
//             Age index: "\0" + 8-byte big-endian accept time (ms) + event_id -> "" (event IDs
//             start with '$', so the two never meet); prune_dedupe drops both past retention.
//   inbox   : 8-byte big-endian sequence -> event JSON. Accepted, not yet processed events,
//             processed strictly in sequence order by the pipeline worker.
//   outbox  : 1-byte priority + 8-byte big-endian sequence -> action JSON. Queued homeserver
//             actions, run lowest key first (priority, then age); each has a stable client
//             txnId (from its sequence) so a retry after a crash is deduplicated by the
//             homeserver.
//   state   : "<prefix><key>" -> value. Small durable state: protected rooms, policy list
//             state, feed state, bans Tyr made, reports, failed work set aside. Every prefix,
//             its key layout and value are in engine/store/keys.hpp.
//   audit   : the audit trail (engine/audit/audit_log.hpp), one family holding three key spaces:
//             "t/" + 8-byte big-endian ts_ms + 8-byte big-endian seq -> entry JSON
//               (docs/audit.md); key order is time order.
//             "u/" + user_id + "\0" + ts + seq -> "" and "r/" + room_id + "\0" + ts + seq -> "":
//               indexes by user and by room; the last 16 bytes name the "t/" key.
//             An entry, its index keys and the change to meta "audit_count" are always
//             written and deleted in one batch. Bounded by AuditLog::prune.
//
// Families are created at open when missing (a store from an older Tyr gains "audit"). A
// read-only open creates nothing: a family the store lacks reads as empty.

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "engine/core/result.hpp"

namespace tyr::engine {

enum class Cf { kMeta, kTxns, kSeen, kInbox, kOutbox, kState, kAudit, kCount };

std::string encode_seq(uint64_t seq);    // 8-byte big-endian
inline constexpr char kAgeIndex = '\0';  // first byte of the age-index keys in seen/txns
uint64_t decode_seq(std::string_view key);

// Outbox priorities: bans run before ACL updates, which run before redactions. Control
// actions (replies, joins, sweeps) go first so that operators are never kept waiting.
// Unsolicited notices (what Tyr did) come after them: reporting never delays acting. Background
// reads (catch-up passes over room history) come last; what they find is acted on at its own
// priority.
enum class Priority : uint8_t {
  kControl = 0,
  kBan = 1,
  kAcl = 2,
  kRedact = 3,
  kNotice = 4,
  kBackground = 5
};

struct OutboxEntry {
  std::string key;  // priority byte + sequence
  uint64_t seq = 0;
  Priority priority = Priority::kControl;
  std::string json;
};

// A batch of writes applied atomically by Store::commit.
class Batch {
 public:
  void put(Cf cf, std::string_view key, std::string_view value);
  void del(Cf cf, std::string_view key);
  // Deletes every key in [begin, end) with one range tombstone: later reads skip the whole range
  // at once, where one tombstone per key would have to be stepped over one by one (a queue
  // pruned from its head, until compaction).
  void del_range(Cf cf, std::string_view begin, std::string_view end);
  // Adds `delta` to the counter at `key` (read with Store::counter). A RocksDB merge, not a
  // read-modify-write: batches committed concurrently never lose each other's increments.
  void add(Cf cf, std::string_view key, int64_t delta);
  void append(Batch&& other);
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

 private:
  friend class Store;
  enum class Kind : uint8_t { kPut, kDelete, kDeleteRange, kAdd };
  struct Op {
    Cf cf;
    Kind kind;
    std::string key;
    std::string value;  // kDeleteRange: the end of the range
  };
  std::vector<Op> ops_;
};

struct AcceptResult {
  size_t accepted = 0;       // new events appended to the inbox
  size_t duplicates = 0;     // events already seen (retries, replays)
  size_t invalid = 0;        // entries that were not events with an event_id (skipped)
  bool retried_txn = false;  // same txnId and same events as an earlier committed transaction
  std::vector<std::string_view> duplicate_ids;  // the duplicates' IDs (views into the caller's)
};

class Store {
 public:
  // Opens (creating if needed) the database under `dir`. Throws std::runtime_error on failure.
  //
  // read_only opens a consistent snapshot of the store as it is at the moment of opening, also
  // while a Tyr process holds it open for writing (RocksDB OpenForReadOnly takes no LOCK): it
  // sees every batch committed before the open, nothing committed after. It creates and
  // deletes no file under `dir` (a missing store throws and stays missing) and is safe against
  // the writer's flushes and compactions: see open_read_only in store.cpp.
  explicit Store(const std::filesystem::path& dir, bool read_only = false);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Commits a homeserver transaction durably (fsync) before returning: new events go to the
  // inbox in order, already-seen ones are skipped, the txn marker is written in the same batch.
  // Also records when it was received (meta "last_txn_ms"). An empty txn_id accepts events
  // from elsewhere (room history read back after a gap, engine/pipeline/catch_up.cpp) with the
  // same dedupe and no transaction marker.
  Result<AcceptResult> accept_transaction(std::string_view txn_id,
                                          const std::vector<std::string_view>& event_ids,
                                          const std::vector<std::string>& event_json);

  // Forgets the events and transaction IDs accepted before `older_than_ms` (at most `max_keys`
  // of them per call, oldest first), so that `seen` and `txns` stay bounded. A homeserver replay
  // of something older than that is accepted again: keep the retention well above how long the
  // homeserver keeps retrying (appservice.dedupe_retention_hours). Returns how many it dropped.
  // Entries from stores older than the age index are never dropped.
  Result<size_t> prune_dedupe(int64_t older_than_ms, size_t max_keys = 10000);

  // Oldest inbox entry after `after_seq` (exclusive), if any.
  std::optional<std::pair<uint64_t, std::string>> next_inbox(uint64_t after_seq = 0) const;
  // First outbox entry with a key after `after_key` (empty: the very first).
  std::optional<OutboxEntry> next_outbox(std::string_view after_key = {}) const;

  // Appends an action to the outbox inside `batch`; returns its sequence.
  uint64_t enqueue_action(Batch& batch, std::string_view action_json,
                          Priority priority = Priority::kControl);

  // Hands out the next audit sequence (1, 2, …; never repeated, also across restarts: commit()
  // persists the high-water mark with every batch that writes to the audit family).
  uint64_t next_audit_seq();

  // Fails (TYR_STORE) on a read-only store. Concurrent commits share one write and one sync
  // (group commit); each is atomic, and a synced one is durable when commit returns.
  Result<void> commit(Batch& batch, bool sync = true);

  std::optional<std::string> get(Cf cf, std::string_view key) const;
  // The counter Batch::add maintains at `key`; 0 when never added to.
  int64_t counter(Cf cf, std::string_view key) const;
  // Calls fn(key, value) for every key in `cf` starting with `prefix`.
  void scan(Cf cf, std::string_view prefix,
            const std::function<void(std::string_view, std::string_view)>& fn) const;
  // Calls fn(key, value) for the keys in [lower, upper) of `cf` (an empty `upper`: no upper
  // bound), ascending or, with `reverse`, descending, until fn returns false. The bounds are
  // given to RocksDB, so deleted keys outside them (a pruned queue's tombstones) cost nothing.
  void range(Cf cf, std::string_view lower, std::string_view upper, bool reverse,
             const std::function<bool(std::string_view, std::string_view)>& fn) const;

  bool read_only() const { return read_only_; }

  // Random id of this database, made at creation: prefixes client txnIds so that a wiped
  // store never reuses a txnId the homeserver still remembers.
  const std::string& instance_id() const { return instance_id_; }

  size_t inbox_depth() const;
  size_t outbox_depth() const;

 private:
  // Null only in a read-only store that lacks the family (iter() then yields nothing).
  rocksdb::ColumnFamilyHandle* handle(Cf cf) const { return handles_[static_cast<int>(cf)]; }
  std::unique_ptr<rocksdb::Iterator> iter(Cf cf, const rocksdb::ReadOptions& ro = {}) const;
  size_t count(Cf cf) const;
  void open_read_only(const std::filesystem::path& dir, const rocksdb::Options& options);
  void init(const std::filesystem::path& dir, bool read_only);  // the constructor after open

  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_handle_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // index = Cf
  // A commit waiting for its write (write_grouped); `status` is set when `done`.
  struct PendingWrite {
    const Batch* batch;
    bool sync;
    bool done = false;
    rocksdb::Status status;
  };
  rocksdb::Status write_grouped(const Batch& batch, bool sync);
  void write_group(const std::vector<PendingWrite*>& group);

  std::mutex seq_mu_;    // guards the outbox and audit sequence counters
  std::mutex inbox_mu_;  // guards transaction acceptance and next_inbox_seq_
  std::mutex group_mu_;  // guards group_queue_ and group_writing_
  std::condition_variable group_cv_;
  std::vector<PendingWrite*> group_queue_;  // commits waiting for the next write
  bool group_writing_ = false;              // a committer is writing a group
  std::string instance_id_;
  uint64_t next_inbox_seq_ = 1;
  uint64_t next_outbox_seq_ = 1;
  uint64_t next_audit_seq_ = 1;
  bool read_only_ = false;
};

}  // namespace tyr::engine
