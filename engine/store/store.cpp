#include "engine/store/store.hpp"

#include "engine/core/clock.hpp"
#include "engine/core/digest.hpp"
#include "engine/core/log.hpp"
#include "engine/core/private_files.hpp"

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include <rocksdb/env.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <nlohmann/json.hpp>

namespace tyr::engine {

namespace {

constexpr const char* kCfNames[] = {"meta", "txns", "seen", "inbox", "outbox", "state", "audit"};
static_assert(std::size(kCfNames) == static_cast<size_t>(Cf::kCount), "one name per Cf");
// Adding a family is not a schema change: open creates it in an older store.
constexpr const char* kSchemaVersion = "1";

// Batch::add's counters: the 8-byte big-endian two's complement of an int64, summed by RocksDB
// at read and compaction time.
std::string encode_counter(int64_t v) { return encode_seq(static_cast<uint64_t>(v)); }
int64_t decode_counter(std::string_view v) { return static_cast<int64_t>(decode_seq(v)); }

class AddInt64 : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* out, rocksdb::Logger*) const override {
    if (value.size() != 8 || (existing && existing->size() != 8)) return false;  // corruption
    int64_t sum = decode_counter(std::string_view(value.data(), 8));
    if (existing) sum += decode_counter(std::string_view(existing->data(), 8));
    *out = encode_counter(sum);
    return true;
  }
  const char* Name() const override { return "tyr.add_int64"; }
};

// A read-only open must write nothing under the writer's directory, not even an info LOG
// (RocksDB 6.x renamed the writer's LOG away when a read-only instance opened).
class SilentLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

// What names the store's live files: CURRENT's content and the size of the MANIFEST it names.
// The writer appends to the MANIFEST (or switches CURRENT to a new one) before any flush or
// compaction makes a WAL or table file obsolete, so an unchanged mark over an open means no
// file the open read can have been deleted while it read.
std::pair<std::string, uintmax_t> manifest_mark(const std::filesystem::path& dir) {
  std::ifstream in(dir / "CURRENT");
  std::string name;
  std::getline(in, name);
  std::error_code ec;
  uintmax_t size = name.empty() ? 0 : std::filesystem::file_size(dir / name, ec);
  return {name, ec ? 0 : size};
}

std::string digest_of(const std::vector<std::string_view>& ids) {
  Sha256Builder h;
  for (auto id : ids) h.update(id).update("\n");
  return to_hex(h.finish());
}

rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }

// The store holds message text and user IDs: its directory is created 0700, so other users
// cannot reach its files whatever their modes. RocksDB creates those (tables, WAL, MANIFEST,
// LOG) with mode 0644 less the umask, which `tyr run` sets to 077 (restrict_umask); RocksDB 7.8's
// Env::SetAllowNonOwnerAccess does not reach the file system that creates them. An existing
// directory others can enter is the operator's choice (a backup group, say), so it is warned
// about, never changed.
void create_data_dir(const std::filesystem::path& dir) {
  auto mode = create_private_dir(dir);
  if (!mode) {
    throw std::runtime_error("cannot open store at " + dir.string() + ": " + mode.error().message);
  }
  if ((*mode & kNonOwnerBits) != 0) {
    char octal[16];
    std::snprintf(octal, sizeof octal, "%03o", *mode & 0777u);
    log::warn("store", "the data directory " + dir.string() +
                           " is accessible to other users (mode " + octal +
                           "); it holds message text and user IDs: chmod 700 " + dir.string());
  }
}

}  // namespace

std::string encode_seq(uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[i] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return key;
}

uint64_t decode_seq(std::string_view key) {
  uint64_t seq = 0;
  for (size_t i = 0; i < 8 && i < key.size(); ++i) {
    seq = (seq << 8) | static_cast<unsigned char>(key[i]);
  }
  return seq;
}

void Batch::put(Cf cf, std::string_view key, std::string_view value) {
  ops_.push_back({cf, Kind::kPut, std::string(key), std::string(value)});
}

void Batch::del_range(Cf cf, std::string_view begin, std::string_view end) {
  ops_.push_back({cf, Kind::kDeleteRange, std::string(begin), std::string(end)});
}

void Batch::add(Cf cf, std::string_view key, int64_t delta) {
  ops_.push_back({cf, Kind::kAdd, std::string(key), encode_counter(delta)});
}

void Batch::append(Batch&& other) {
  for (auto& op : other.ops_) ops_.push_back(std::move(op));
  other.ops_.clear();
}

void Batch::del(Cf cf, std::string_view key) {
  ops_.push_back({cf, Kind::kDelete, std::string(key), {}});
}

Store::Store(const std::filesystem::path& dir, bool read_only) : read_only_(read_only) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.keep_log_file_num = 5;
  options.max_log_file_size = 4 << 20;
  options.merge_operator = std::make_shared<AddInt64>();
  // Batch::add counters change on every audit record: fold their operands into one value every
  // so often instead of letting a Get merge a whole memtable's worth of them.
  options.max_successive_merges = 64;
  if (read_only) {
    open_read_only(dir, options);
  } else {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options));
    for (const char* name : kCfNames) cfs.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    create_data_dir(dir);
    auto st = rocksdb::DB::Open(options, dir.string(), cfs, &handles, &raw);
    if (!st.ok()) {
      throw std::runtime_error("cannot open store at " + dir.string() + ": " + st.ToString());
    }
    db_.reset(raw);
    // handles[0] is the default family; keep ours indexed by Cf.
    default_handle_ = handles[0];
    handles_.assign(handles.begin() + 1, handles.end());
  }

  // From here on a throw skips ~Store(): release the handles first, or RocksDB aborts
  // (ColumnFamilySet::~ColumnFamilySet: Assertion `last_ref' failed) instead of reporting.
  try {
    init(dir, read_only);
  } catch (...) {
    for (auto* h : handles_) {
      if (h) db_->DestroyColumnFamilyHandle(h);
    }
    db_->DestroyColumnFamilyHandle(default_handle_);
    db_->Close();
    db_.reset();
    throw;
  }
}

// OpenForReadOnly takes no LOCK, so it opens while Tyr runs; what makes that safe:
//  * max_open_files = -1: the open loads every table file of its version and keeps it open, so
//    the writer's compactions may unlink them afterwards (Linux keeps unlinked open files).
//  * The open reads the MANIFEST, then the WALs it does not cover. A flush or compaction
//    finishing in between can delete a file the open was about to read (an error) or, worse,
//    a WAL whose data now lives in a table file the open did not see (silently missing
//    entries). Both need a MANIFEST write first, so an open during which manifest_mark
//    changed is discarded and repeated; a failed open is repeated too (a race looks like
//    "No such file" or "Corruption: … MANIFEST may be corrupted" on a healthy store). Under a
//    writer that never stops flushing, the open gives up with an error rather than a view
//    with a hole in it. Without this check, the test "read-only opens during constant
//    flushes and compactions" (tests/unit/audit_test.cpp) saw opens fail and, worse, opens
//    that missed keys committed before they started (RocksDB 7.8).
//  * Only the families the store has are opened (an older store lacks "audit"; a read-only
//    open may not create it), and nothing is written under `dir` (SilentLogger, no
//    create_if_missing: a mistyped path stays missing).
// OpenAsSecondary would also work but needs a writable directory of its own and a catch-up
// call; readers here (tyr audit, tests) want one consistent snapshot and then exit.
void Store::open_read_only(const std::filesystem::path& dir, const rocksdb::Options& base) {
  if (!std::filesystem::exists(dir / "CURRENT")) {
    throw std::runtime_error("cannot open store at " + dir.string() + ": no RocksDB store there (" +
                             (dir / "CURRENT").string() + " is missing)");
  }
  rocksdb::Options options = base;
  options.create_if_missing = false;  // RocksDB would create `dir` before failing
  options.create_missing_column_families = false;
  options.info_log = std::make_shared<SilentLogger>();
  options.max_open_files = -1;
  constexpr int kAttempts = 10;  // backing off from 10 ms to 200 ms: about 1.2 s in all
  std::string last_error;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    if (attempt > 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(10 << (attempt - 2), 200)));
    }
    const auto before = manifest_mark(dir);
    std::vector<std::string> names;
    auto st = rocksdb::DB::ListColumnFamilies(options, dir.string(), &names);
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<int> cf_index;  // Cf of cfs[i], -1 for the default family
    cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options));
    cf_index.push_back(-1);
    for (size_t i = 0; i < std::size(kCfNames); ++i) {
      if (std::find(names.begin(), names.end(), kCfNames[i]) == names.end()) continue;
      cfs.emplace_back(kCfNames[i], rocksdb::ColumnFamilyOptions(options));
      cf_index.push_back(static_cast<int>(i));
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    if (st.ok()) st = rocksdb::DB::OpenForReadOnly(options, dir.string(), cfs, &handles, &raw);
    if (!st.ok()) {
      last_error = st.ToString();
      continue;
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    if (manifest_mark(dir) == before) {
      db_ = std::move(db);
      handles_.assign(static_cast<size_t>(Cf::kCount), nullptr);
      for (size_t i = 0; i < handles.size(); ++i) {
        (cf_index[i] < 0 ? default_handle_ : handles_[cf_index[i]]) = handles[i];
      }
      return;
    }
    last_error = "the writer flushed or compacted during the open";
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    db->Close();
  }
  // Better no answer than one with a hole in it.
  throw std::runtime_error("cannot open store at " + dir.string() +
                           " read-only: it changed during " + std::to_string(kAttempts) +
                           " attempts (last: " + last_error + "); try again");
}

void Store::init(const std::filesystem::path& dir, bool read_only) {
  if (!read_only) {
    auto schema = get(Cf::kMeta, "schema");
    if (schema && *schema != kSchemaVersion) {
      throw std::runtime_error("store at " + dir.string() + " has schema " + *schema +
                               ", this Tyr reads schema " + kSchemaVersion);
    }
    if (!schema) {
      Batch b;
      b.put(Cf::kMeta, "schema", kSchemaVersion);
      std::random_device rd;
      b.put(Cf::kMeta, "instance",
            to_hex(sha256(std::to_string(rd()) + std::to_string(rd()) + std::to_string(now_ms())))
                .substr(0, 12));
      auto r = commit(b);
      if (!r) throw std::runtime_error("cannot initialise store: " + r.error().message);
    }
  }
  instance_id_ = get(Cf::kMeta, "instance").value_or("");
  auto last_seq = [&](Cf cf) -> uint64_t {
    auto it = iter(cf);
    it->SeekToLast();
    return it->Valid() ? decode_seq(std::string_view(it->key().data(), it->key().size())) : 0;
  };
  // Sequences only grow: an empty inbox restarts from the high-water mark kept in meta.
  auto hw = [&](const char* key) -> uint64_t {
    auto v = get(Cf::kMeta, key);
    return v ? decode_seq(*v) : 0;
  };
  next_inbox_seq_ = std::max(last_seq(Cf::kInbox), hw("inbox_hw")) + 1;
  uint64_t outbox_max = 0;  // keys lead with a priority byte: the last key is not the newest
  scan(Cf::kOutbox, "", [&](std::string_view key, std::string_view) {
    outbox_max = std::max(outbox_max, decode_seq(key.substr(1)));
  });
  next_outbox_seq_ = std::max(outbox_max, hw("outbox_hw")) + 1;
  // Every batch writing audit entries also writes the mark (commit), so it alone suffices.
  next_audit_seq_ = hw("audit_hw") + 1;
}

Store::~Store() {
  if (db_) {
    for (auto* h : handles_) {
      if (h) db_->DestroyColumnFamilyHandle(h);
    }
    db_->DestroyColumnFamilyHandle(default_handle_);
    db_->Close();
  }
}

Result<AcceptResult> Store::accept_transaction(std::string_view txn_id,
                                               const std::vector<std::string_view>& event_ids,
                                               const std::vector<std::string>& event_json) {
  // Held across the write: the next transaction's dedupe must see this one's events.
  std::lock_guard lock(inbox_mu_);
  AcceptResult result;
  const std::string digest = txn_id.empty() ? std::string() : digest_of(event_ids);
  if (auto prior = txn_id.empty() ? std::nullopt : get(Cf::kTxns, txn_id)) {
    auto j = nlohmann::json::parse(*prior, nullptr, false);
    if (!j.is_discarded() && j.value("digest", "") == digest) result.retried_txn = true;
  }

  Batch batch;
  std::unordered_set<std::string_view> in_batch;
  uint64_t seq = next_inbox_seq_;
  const int64_t now = now_ms();
  const std::string when = std::string(1, kAgeIndex) + encode_seq(static_cast<uint64_t>(now));
  for (size_t i = 0; i < event_ids.size(); ++i) {
    std::string_view id = event_ids[i];
    if (id.empty()) {
      ++result.invalid;
      continue;
    }
    if (in_batch.count(id) || get(Cf::kSeen, id)) {
      ++result.duplicates;
      result.duplicate_ids.push_back(id);
      continue;
    }
    in_batch.insert(id);
    const std::string key = encode_seq(seq++);
    batch.put(Cf::kInbox, key, event_json[i]);
    batch.put(Cf::kSeen, id, key);
    batch.put(Cf::kSeen, when + std::string(id), "");  // age index, for prune_dedupe
    ++result.accepted;
  }
  if (result.accepted > 0) batch.put(Cf::kMeta, "inbox_hw", encode_seq(seq - 1));
  if (!txn_id.empty()) {
    nlohmann::json marker = {{"events", event_ids.size()}, {"digest", digest}, {"ts", now}};
    batch.put(Cf::kTxns, txn_id, marker.dump());
    batch.put(Cf::kTxns, when + std::string(txn_id), "");
    batch.put(Cf::kMeta, "last_txn_ms", std::to_string(now));
  }

  auto st = write_grouped(batch, /*sync=*/true);
  if (!st.ok()) return Error{"TYR_STORE", st.ToString(), 0, -1};
  next_inbox_seq_ = seq;
  return result;
}

Result<size_t> Store::prune_dedupe(int64_t older_than_ms, size_t max_keys) {
  if (read_only_) return Error{"TYR_STORE", "the store is read-only", 0, -1};
  const std::string lower(1, kAgeIndex);
  const std::string upper = std::string(1, kAgeIndex) +
                            encode_seq(static_cast<uint64_t>(std::max<int64_t>(older_than_ms, 0)));
  rocksdb::WriteBatch wb;
  size_t pruned = 0;
  for (Cf cf : {Cf::kSeen, Cf::kTxns}) {
    rocksdb::ReadOptions ro;
    rocksdb::Slice ub(upper);
    ro.iterate_upper_bound = &ub;
    auto it = iter(cf, ro);
    for (it->Seek(lower); it->Valid() && pruned < max_keys; it->Next()) {
      const rocksdb::Slice k = it->key();
      if (k.size() <= 9) continue;
      // The entry itself (event ID or txnId) and its age key.
      wb.Delete(handle(cf), rocksdb::Slice(k.data() + 9, k.size() - 9));
      wb.Delete(handle(cf), k);
      ++pruned;
    }
  }
  if (pruned == 0) return size_t{0};
  rocksdb::WriteOptions wo;
  auto st = db_->Write(wo, &wb);
  if (!st.ok()) return Error{"TYR_STORE", st.ToString(), 0, -1};
  return pruned;
}

std::optional<std::pair<uint64_t, std::string>> Store::next_inbox(uint64_t after_seq) const {
  auto it = iter(Cf::kInbox);
  it->Seek(encode_seq(after_seq + 1));
  if (!it->Valid()) return std::nullopt;
  return std::make_pair(decode_seq(std::string_view(it->key().data(), it->key().size())),
                        it->value().ToString());
}

std::optional<OutboxEntry> Store::next_outbox(std::string_view after_key) const {
  auto it = iter(Cf::kOutbox);
  if (after_key.empty()) {
    it->SeekToFirst();
  } else {
    it->Seek(slice(after_key));
    if (it->Valid() && it->key() == slice(after_key)) it->Next();
  }
  if (!it->Valid()) return std::nullopt;
  OutboxEntry e;
  e.key = it->key().ToString();
  e.priority = static_cast<Priority>(static_cast<uint8_t>(e.key[0]));
  e.seq = decode_seq(std::string_view(e.key).substr(1));
  e.json = it->value().ToString();
  return e;
}

uint64_t Store::enqueue_action(Batch& batch, std::string_view action_json, Priority priority) {
  std::lock_guard lock(seq_mu_);
  const uint64_t seq = next_outbox_seq_++;
  batch.put(Cf::kOutbox, static_cast<char>(priority) + encode_seq(seq), action_json);
  return seq;
}

uint64_t Store::next_audit_seq() {
  std::lock_guard lock(seq_mu_);
  return next_audit_seq_++;
}

Result<void> Store::commit(Batch& batch, bool sync) {
  if (read_only_) return Error{"TYR_STORE", "the store is open read-only", 0, -1};
  auto st = write_grouped(batch, sync);
  if (!st.ok()) return Error{"TYR_STORE", st.ToString(), 0, -1};
  batch.ops_.clear();
  return {};
}

// Group commit: a committer that finds no write under way writes every batch queued by then
// (its own first) as one RocksDB write with one sync, while the next ones queue; each waits
// until a write that held its batch is done. Concurrent lanes thus share fsyncs, and writes
// never overlap, so the high-water marks each write carries never move backwards.
rocksdb::Status Store::write_grouped(const Batch& batch, bool sync) {
  PendingWrite me{&batch, sync, false, {}};
  std::unique_lock lock(group_mu_);
  group_queue_.push_back(&me);
  group_cv_.wait(lock, [&] { return me.done || !group_writing_; });
  if (me.done) return me.status;
  group_writing_ = true;
  std::vector<PendingWrite*> group;
  group.swap(group_queue_);
  lock.unlock();
  write_group(group);
  lock.lock();
  for (auto* w : group) w->done = true;
  group_writing_ = false;
  group_cv_.notify_all();
  return me.status;
}

void Store::write_group(const std::vector<PendingWrite*>& group) {
  auto write = [this](const std::vector<PendingWrite*>& writes) {
    rocksdb::WriteBatch wb;
    rocksdb::WriteOptions wo;
    bool enqueues = false;
    bool audits = false;
    for (const auto* w : writes) {
      wo.sync |= w->sync;
      for (const auto& op : w->batch->ops_) {
        switch (op.kind) {
          case Batch::Kind::kDelete: wb.Delete(handle(op.cf), op.key); break;
          case Batch::Kind::kDeleteRange: wb.DeleteRange(handle(op.cf), op.key, op.value); break;
          case Batch::Kind::kAdd: wb.Merge(handle(op.cf), op.key, op.value); break;
          case Batch::Kind::kPut:
            wb.Put(handle(op.cf), op.key, op.value);
            enqueues |= op.cf == Cf::kOutbox;
            audits |= op.cf == Cf::kAudit;
            break;
        }
      }
    }
    // Batches may commit in another order than their actions were enqueued (pipeline and
    // executor): the high-water mark is the highest sequence handed out so far, which covers
    // every sequence in these batches (handed out before they were committed). Writes never
    // overlap (write_grouped), so the mark never moves backwards. Likewise for audit sequences.
    if (enqueues || audits) {
      std::lock_guard lock(seq_mu_);
      if (enqueues) wb.Put(handle(Cf::kMeta), "outbox_hw", encode_seq(next_outbox_seq_ - 1));
      if (audits) wb.Put(handle(Cf::kMeta), "audit_hw", encode_seq(next_audit_seq_ - 1));
    }
    return db_->Write(wo, &wb);
  };
  const auto st = write(group);
  if (st.ok() || group.size() == 1) {
    for (auto* w : group) w->status = st;
    return;
  }
  // One batch may be what failed (an invalid range): each on its own, so that the others do
  // not fail with it.
  for (auto* w : group) w->status = write({w});
}

std::optional<std::string> Store::get(Cf cf, std::string_view key) const {
  if (!handle(cf)) return std::nullopt;
  std::string value;
  auto st = db_->Get(rocksdb::ReadOptions(), handle(cf), slice(key), &value);
  if (st.IsNotFound()) return std::nullopt;
  if (!st.ok()) throw std::runtime_error("store read failed: " + st.ToString());
  return value;
}

int64_t Store::counter(Cf cf, std::string_view key) const {
  auto v = get(cf, key);
  return v ? decode_counter(*v) : 0;
}

std::unique_ptr<rocksdb::Iterator> Store::iter(Cf cf, const rocksdb::ReadOptions& ro) const {
  if (!handle(cf)) return std::unique_ptr<rocksdb::Iterator>(rocksdb::NewEmptyIterator());
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro, handle(cf)));
}

void Store::scan(Cf cf, std::string_view prefix,
                 const std::function<void(std::string_view, std::string_view)>& fn) const {
  auto it = iter(cf);
  for (it->Seek(slice(prefix)); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, prefix.size()) != prefix) break;
    fn(key, std::string_view(it->value().data(), it->value().size()));
  }
}

void Store::range(Cf cf, std::string_view lower, std::string_view upper, bool reverse,
                  const std::function<bool(std::string_view, std::string_view)>& fn) const {
  const rocksdb::Slice lo = slice(lower);
  const rocksdb::Slice hi = slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lo;
  if (!upper.empty()) ro.iterate_upper_bound = &hi;
  auto it = iter(cf, ro);
  for (reverse ? it->SeekToLast() : it->SeekToFirst(); it->Valid();
       reverse ? it->Prev() : it->Next()) {
    if (!fn(std::string_view(it->key().data(), it->key().size()),
            std::string_view(it->value().data(), it->value().size()))) {
      return;
    }
  }
  if (!it->status().ok()) throw std::runtime_error("store read failed: " + it->status().ToString());
}

size_t Store::count(Cf cf) const {
  size_t n = 0;
  auto it = iter(cf);
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  return n;
}

size_t Store::inbox_depth() const { return count(Cf::kInbox); }
size_t Store::outbox_depth() const { return count(Cf::kOutbox); }

}  // namespace tyr::engine
