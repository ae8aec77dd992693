#include "engine/store/store.hpp"

#include "engine/core/clock.hpp"
#include "engine/core/digest.hpp"

#include <chrono>
#include <random>
#include <stdexcept>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <rocksdb/options.h>

namespace tyr::engine {

namespace {

constexpr const char* kCfNames[] = {"meta", "txns", "seen", "inbox", "outbox", "state"};
constexpr const char* kSchemaVersion = "1";

std::string digest_of(const std::vector<std::string_view>& ids) {
  Sha256Builder h;
  for (auto id : ids) h.update(id).update("\n");
  return to_hex(h.finish());
}

rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }

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
  ops_.push_back({cf, false, std::string(key), std::string(value)});
}

void Batch::append(Batch&& other) {
  for (auto& op : other.ops_) ops_.push_back(std::move(op));
  other.ops_.clear();
}

void Batch::del(Cf cf, std::string_view key) { ops_.push_back({cf, true, std::string(key), {}}); }

Store::Store(const std::filesystem::path& dir, bool read_only) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.keep_log_file_num = 5;
  options.max_log_file_size = 4 << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const char* name : kCfNames) cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st;
  if (read_only) {
    st = rocksdb::DB::OpenForReadOnly(options, dir.string(), cfs, &handles, &raw);
  } else {
    std::filesystem::create_directories(dir);
    st = rocksdb::DB::Open(options, dir.string(), cfs, &handles, &raw);
  }
  if (!st.ok()) throw std::runtime_error("cannot open store at " + dir.string() + ": " + st.ToString());
  db_.reset(raw);
  // handles[0] is the default family; keep ours indexed by Cf.
  default_handle_ = handles[0];
  handles_.assign(handles.begin() + 1, handles.end());

  // From here on a throw skips ~Store(): release the handles first, or RocksDB aborts
  // (ColumnFamilySet::~ColumnFamilySet: Assertion `last_ref' failed) instead of reporting.
  try {
    init(dir, read_only);
  } catch (...) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->DestroyColumnFamilyHandle(default_handle_);
    db_->Close();
    db_.reset();
    throw;
  }
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
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(cf)));
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
}

Store::~Store() {
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->DestroyColumnFamilyHandle(default_handle_);
    db_->Close();
  }
}

Result<AcceptResult> Store::accept_transaction(std::string_view txn_id,
                                               const std::vector<std::string_view>& event_ids,
                                               const std::vector<std::string>& event_json) {
  std::lock_guard lock(seq_mu_);
  AcceptResult result;
  const std::string digest = digest_of(event_ids);
  if (auto prior = get(Cf::kTxns, txn_id)) {
    auto j = nlohmann::json::parse(*prior, nullptr, false);
    if (!j.is_discarded() && j.value("digest", "") == digest) result.retried_txn = true;
  }

  rocksdb::WriteBatch wb;
  std::unordered_set<std::string_view> in_batch;
  uint64_t seq = next_inbox_seq_;
  for (size_t i = 0; i < event_ids.size(); ++i) {
    std::string_view id = event_ids[i];
    if (id.empty()) {
      ++result.invalid;
      continue;
    }
    if (in_batch.count(id) || get(Cf::kSeen, id)) {
      ++result.duplicates;
      continue;
    }
    in_batch.insert(id);
    const std::string key = encode_seq(seq++);
    wb.Put(handle(Cf::kInbox), key, event_json[i]);
    wb.Put(handle(Cf::kSeen), slice(id), key);
    ++result.accepted;
  }
  if (result.accepted > 0) wb.Put(handle(Cf::kMeta), "inbox_hw", encode_seq(seq - 1));
  nlohmann::json marker = {{"events", event_ids.size()}, {"digest", digest}, {"ts", now_ms()}};
  wb.Put(handle(Cf::kTxns), slice(txn_id), marker.dump());

  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto st = db_->Write(wo, &wb);
  if (!st.ok()) return Error{"TYR_STORE", st.ToString(), 0, -1};
  next_inbox_seq_ = seq;
  return result;
}

std::optional<std::pair<uint64_t, std::string>> Store::next_inbox(uint64_t after_seq) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(Cf::kInbox)));
  it->Seek(encode_seq(after_seq + 1));
  if (!it->Valid()) return std::nullopt;
  return std::make_pair(decode_seq(std::string_view(it->key().data(), it->key().size())),
                        it->value().ToString());
}

std::optional<OutboxEntry> Store::next_outbox(std::string_view after_key) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handle(Cf::kOutbox)));
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

Result<void> Store::commit(Batch& batch, bool sync) {
  rocksdb::WriteBatch wb;
  bool enqueues = false;
  for (const auto& op : batch.ops_) {
    if (op.is_delete) {
      wb.Delete(handle(op.cf), op.key);
    } else {
      wb.Put(handle(op.cf), op.key, op.value);
      enqueues |= op.cf == Cf::kOutbox;
    }
  }
  // Batches may commit in another order than their actions were enqueued (pipeline and
  // executor): the high-water mark is the highest sequence ever handed out, written under the
  // lock that hands them out, so it never moves backwards.
  std::unique_lock lock(seq_mu_, std::defer_lock);
  if (enqueues) {
    lock.lock();
    wb.Put(handle(Cf::kMeta), "outbox_hw", encode_seq(next_outbox_seq_ - 1));
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  auto st = db_->Write(wo, &wb);
  if (!st.ok()) return Error{"TYR_STORE", st.ToString(), 0, -1};
  batch.ops_.clear();
  return {};
}

std::optional<std::string> Store::get(Cf cf, std::string_view key) const {
  std::string value;
  auto st = db_->Get(rocksdb::ReadOptions(), handle(cf), slice(key), &value);
  if (st.IsNotFound()) return std::nullopt;
  if (!st.ok()) throw std::runtime_error("store read failed: " + st.ToString());
  return value;
}

void Store::scan(Cf cf, std::string_view prefix,
                 const std::function<void(std::string_view, std::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(cf)));
  for (it->Seek(slice(prefix)); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, prefix.size()) != prefix) break;
    fn(key, std::string_view(it->value().data(), it->value().size()));
  }
}

size_t Store::count(Cf cf) const {
  size_t n = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(cf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  return n;
}

size_t Store::inbox_depth() const { return count(Cf::kInbox); }
size_t Store::outbox_depth() const { return count(Cf::kOutbox); }

}  // namespace tyr::engine
