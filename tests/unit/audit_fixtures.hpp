#pragma once
// What the audit trail tests share: entries, queries, the keys and files a store holds, and a
// raw RocksDB writer for what Store does not expose (flushes, compactions).

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>

#include "engine/audit/audit_log.hpp"
#include "engine/store/store.hpp"

namespace tyr::test {

using engine::AuditEntry;
using engine::AuditLimits;
using engine::AuditLog;
using engine::AuditQuery;
using engine::Batch;
using engine::Cf;
using engine::encode_seq;
using engine::Store;

inline AuditEntry entry(int64_t ts, std::string user, std::string room,
                        std::string action = "ban") {
  AuditEntry e;
  e.ts_ms = ts;
  e.action = std::move(action);
  e.mode = "live";
  e.user = std::move(user);
  e.room = std::move(room);
  e.outcome = "ok";
  return e;
}

inline std::vector<int64_t> times(const std::vector<AuditEntry>& entries) {
  std::vector<int64_t> out;
  for (const auto& e : entries) out.push_back(e.ts_ms);
  return out;
}

using Times = std::vector<int64_t>;

inline AuditQuery all() {
  AuditQuery q;
  q.limit = 0;
  return q;
}

// Every key of the audit family: what a prune must leave behind.
inline std::vector<std::string> audit_keys(const Store& store) {
  std::vector<std::string> keys;
  store.scan(Cf::kAudit, "", [&](std::string_view k, std::string_view) { keys.emplace_back(k); });
  return keys;
}

inline std::set<std::string> files_in(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    names.insert(f.path().filename().string());
  return names;
}

// The column families of a store made by a Tyr that had no audit trail.
inline const std::vector<std::string> kOldFamilies = {"meta",  "txns",   "seen",
                                                      "inbox", "outbox", "state"};

// A plain RocksDB writer on a store's directory with all its families, for what Store does not
// expose: flushes and compactions.
struct RawWriter {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::vector<std::string> names;

  RawWriter(const std::filesystem::path& dir, const std::vector<std::string>& families,
            bool create) {
    rocksdb::Options options;
    options.create_if_missing = create;
    options.create_missing_column_families = create;
    names = {rocksdb::kDefaultColumnFamilyName};
    names.insert(names.end(), families.begin(), families.end());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    auto st = rocksdb::DB::Open(options, dir.string(), cfs, &handles, &raw);
    REQUIRE(st.ok());
    db.reset(raw);
  }
  ~RawWriter() {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    db->Close();
  }
  // The table files of one family.
  std::set<std::string> tables(const std::string& family) {
    rocksdb::ColumnFamilyMetaData meta;
    db->GetColumnFamilyMetaData(cf(family), &meta);
    std::set<std::string> out;
    for (const auto& level : meta.levels) {
      for (const auto& f : level.files)
        out.insert(std::filesystem::path(f.name).filename().string());
    }
    return out;
  }
  rocksdb::ColumnFamilyHandle* cf(const std::string& name) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return handles[i];
    }
    FAIL("no family " << name);
    return nullptr;
  }
  void put(const std::string& family, const std::string& key, const std::string& value) {
    REQUIRE(db->Put(rocksdb::WriteOptions(), cf(family), key, value).ok());
  }
  void flush(const std::string& family) {
    REQUIRE(db->Flush(rocksdb::FlushOptions(), cf(family)).ok());
  }
  void compact(const std::string& family) {
    REQUIRE(db->CompactRange(rocksdb::CompactRangeOptions(), cf(family), nullptr, nullptr).ok());
  }
};

}  // namespace tyr::test
