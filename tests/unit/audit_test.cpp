// The audit trail against a real RocksDB in a fresh temp directory per test: recording inside
// batches, queries by user, room and time, retention, reopening, a store that predates it.
// Readers beside a writer are in audit_reader_test.cpp, the JSON form and `tyr audit` in
// audit_cli_test.cpp.

#include "engine/audit/audit_log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>
#include <nlohmann/json.hpp>

#include "cli/audit_tools.hpp"
#include "engine/audit/audit_format.hpp"
#include "engine/config/config.hpp"
#include "engine/core/clock.hpp"
#include "engine/store/store.hpp"
#include "tests/unit/audit_fixtures.hpp"
#include "tests/unit/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace tyr::test;  // audit_fixtures.hpp: the engine's audit and store types too

// ---------------------------------------------------------------------------------------------
// Recording and querying

TEST_CASE("audit: queries by user, room and time return the newest first", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLog audit(store);
  Batch b;
  audit.record(b, entry(1000, "@a:hs", "!r1:hs"));
  audit.record(b, entry(2000, "@b:hs", "!r1:hs"));
  audit.record(b, entry(3000, "@a:hs", "!r2:hs"));
  auto acl = entry(4000, "", "!r2:hs", "acl");
  acl.target = "evil.example";
  audit.record(b, acl);
  audit.record(b, entry(5000, "@a:hs", "!r1:hs"));
  audit.record(b, entry(6000, "@a:hsx", ""));  // a user whose ID extends @a:hs
  REQUIRE(store.commit(b).ok());
  CHECK(audit.size() == 6);

  CHECK(times(audit.query(all())) == Times{6000, 5000, 4000, 3000, 2000, 1000});

  auto q = all();
  q.user = "@a:hs";
  CHECK(times(audit.query(q)) == Times{5000, 3000, 1000});
  q.room = "!r1:hs";
  CHECK(times(audit.query(q)) == Times{5000, 1000});
  q.user.clear();
  CHECK(times(audit.query(q)) == Times{5000, 2000, 1000});
  q.room = "!r2:hs";
  auto r2 = audit.query(q);
  CHECK(times(r2) == Times{4000, 3000});
  CHECK(r2[0].target == "evil.example");
  CHECK(r2[0].action == "acl");

  SECTION("since is inclusive, until exclusive") {
    auto t = all();
    t.since_ms = 2000;
    t.until_ms = 5000;
    CHECK(times(audit.query(t)) == Times{4000, 3000, 2000});
    t.user = "@a:hs";
    CHECK(times(audit.query(t)) == Times{3000});
    t.until_ms = 0;
    CHECK(times(audit.query(t)) == Times{5000, 3000});
    t.room = "!r1:hs";
    CHECK(times(audit.query(t)) == Times{5000});
  }
  SECTION("limit keeps the newest") {
    AuditQuery l;  // the default limit is 100
    CHECK(audit.query(l).size() == 6);
    l.limit = 2;
    CHECK(times(audit.query(l)) == Times{6000, 5000});
    l.user = "@a:hs";
    CHECK(times(audit.query(l)) == Times{5000, 3000});
    l.room = "!r1:hs";
    l.limit = 1;
    CHECK(times(audit.query(l)) == Times{5000});
  }
  SECTION("nothing matches") {
    auto n = all();
    n.user = "@nobody:hs";
    CHECK(audit.query(n).empty());
    n.user = "@a:h";  // a prefix of a user ID is not that user
    CHECK(audit.query(n).empty());
    n = all();
    n.since_ms = 7000;
    CHECK(audit.query(n).empty());
  }
}

TEST_CASE("audit: sequences increase in recording order and break ties in time", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLog audit(store);
  Batch b;
  CHECK(audit.record(b, entry(5000, "@a:hs", "")) == 1);
  CHECK(audit.record(b, entry(5000, "@a:hs", "")) == 2);
  CHECK(audit.record(b, entry(4000, "@a:hs", "")) == 3);  // a clock step back
  REQUIRE(store.commit(b).ok());
  auto got = audit.query(all());
  REQUIRE(got.size() == 3);
  // Same millisecond: the later record first; otherwise time order.
  CHECK(got[0].seq == 2);
  CHECK(got[1].seq == 1);
  CHECK(got[2].seq == 3);
}

TEST_CASE("audit: record keeps every field and stamps the time when none is given", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLog audit(store);
  AuditEntry e;
  e.action = "redact";
  e.mode = "shadow";
  e.user = "@spam:hs";
  e.room = "!r:hs";
  e.event_id = "$ev";
  e.target = "";
  e.reason_text = "spam score 12 ≥ 10";
  e.reason = {{"rules", {{{"id", "crypto"}, {"score", 8}}, {{"id", "link"}, {"score", 4}}}},
              {"threshold", 10}};
  e.outcome = "would";
  e.detail = "1 event";
  const int64_t before = tyr::now_ms();
  REQUIRE(audit.record_now(e).ok());
  auto got = audit.query(all());
  REQUIRE(got.size() == 1);
  CHECK(got[0].ts_ms >= before);
  CHECK(got[0].ts_ms <= tyr::now_ms());
  CHECK(got[0].seq == 1);
  e.ts_ms = got[0].ts_ms;
  e.seq = 1;
  CHECK(tyr::engine::to_json(got[0]) == tyr::engine::to_json(e));
}

TEST_CASE("audit: an entry commits with the batch it was recorded in, or not at all", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLog audit(store);

  // The action's completion, a follow-up and its audit entry: one batch.
  Batch b;
  b.put(Cf::kState, "room/!r:hs", "{}");
  store.enqueue_action(b, R"({"kind":"notice"})");
  AuditEntry e;
  e.ts_ms = 1000;
  e.action = "ban";
  e.mode = "live";
  e.user = "@a:hs";
  e.room = "!r:hs";
  e.reason = {{"list", "!l:hs"}};
  e.outcome = "ok";
  audit.record(b, e);
  CHECK(audit.query(all()).empty());
  CHECK(audit.size() == 0);
  REQUIRE(store.commit(b).ok());
  CHECK(store.get(Cf::kState, "room/!r:hs"));
  CHECK(store.outbox_depth() == 1);
  CHECK(audit.query(all()).size() == 1);
  CHECK(audit.size() == 1);

  // A batch that is never committed leaves no entry, no index key, no count.
  const auto keys = audit_keys(store);
  {
    Batch dropped;
    dropped.put(Cf::kState, "room/!other:hs", "{}");
    audit.record(dropped, entry(2000, "@b:hs", "!other:hs"));
  }
  CHECK(audit_keys(store) == keys);
  CHECK(audit.size() == 1);
  CHECK_FALSE(store.get(Cf::kState, "room/!other:hs"));
  auto q = all();
  q.user = "@b:hs";
  CHECK(audit.query(q).empty());

  // The sequence it took is not reused.
  Batch next;
  CHECK(audit.record(next, entry(3000, "@c:hs", "")) == 3);
  REQUIRE(store.commit(next).ok());
  CHECK(audit.size() == 2);
}

TEST_CASE("audit: entries, count and sequences survive a reopen", "[audit]") {
  TempDir dir;
  {
    Store store(dir.path());
    AuditLog audit(store);
    REQUIRE(audit.record_now(entry(1000, "@a:hs", "!r:hs")).ok());
    REQUIRE(audit.record_now(entry(2000, "@b:hs", "!r:hs")).ok());
    Batch never_committed;
    CHECK(audit.record(never_committed, entry(3000, "@c:hs", "")) == 3);
    REQUIRE(audit.record_now(entry(4000, "@d:hs", "")).ok());
  }
  Store store(dir.path());
  AuditLog audit(store);
  CHECK(audit.size() == 3);
  auto got = audit.query(all());
  CHECK(times(got) == Times{4000, 2000, 1000});
  CHECK(got[0].seq == 4);
  auto q = all();
  q.room = "!r:hs";
  CHECK(times(audit.query(q)) == Times{2000, 1000});
  Batch b;
  CHECK(audit.record(b, entry(5000, "@e:hs", "")) == 5);
}

// ---------------------------------------------------------------------------------------------
// Retention

TEST_CASE("audit: prune by count removes the oldest entries with their index keys", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLog audit(store);
  Batch b;
  for (int i = 1; i <= 10; ++i) {
    audit.record(
        b, entry(i * 1000, i % 2 ? "@odd:hs" : "@even:hs", i <= 5 ? "!early:hs" : "!late:hs"));
  }
  REQUIRE(store.commit(b).ok());
  CHECK(audit_keys(store).size() == 30);

  auto removed = audit.prune(4, 0, tyr::now_ms());
  REQUIRE(removed.ok());
  CHECK(*removed == 6);
  CHECK(audit.size() == 4);
  CHECK(times(audit.query(all())) == Times{10000, 9000, 8000, 7000});
  // Only the survivors' keys remain: 4 entries, 4 user keys, 4 room keys.
  CHECK(audit_keys(store).size() == 12);
  auto q = all();
  q.room = "!early:hs";
  CHECK(audit.query(q).empty());
  store.scan(Cf::kAudit, std::string("r/!early:hs") + '\0',
             [](std::string_view k, std::string_view) { FAIL("left behind: " << k); });
  q = all();
  q.user = "@odd:hs";
  CHECK(times(audit.query(q)) == Times{9000, 7000});

  // Nothing more to do: nothing goes.
  CHECK(audit.prune(4, 0, tyr::now_ms()).value() == 0);
  CHECK(audit.prune(0, 0, tyr::now_ms()).value() == 0);  // 0: no bound
  CHECK(audit.size() == 4);
}

TEST_CASE("audit: prune by age removes entries older than the bound", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLog audit(store);
  const int64_t now = 10'000'000;
  const int64_t hour = 3'600'000;
  Batch b;
  audit.record(b, entry(now - 3 * hour, "@old:hs", "!r:hs"));
  audit.record(b, entry(now - 2 * hour, "@old:hs", "!r:hs"));
  audit.record(b, entry(now - hour, "@new:hs", "!r:hs"));  // exactly at the bound: kept
  audit.record(b, entry(now - 1, "@new:hs", ""));
  REQUIRE(store.commit(b).ok());

  CHECK(audit.prune(1000, hour, now).value() == 2);
  CHECK(times(audit.query(all())) == Times{now - 1, now - hour});
  auto q = all();
  q.user = "@old:hs";
  CHECK(audit.query(q).empty());
  CHECK(audit_keys(store).size() == 5);  // 2 entries, 2 user keys, 1 room key
  CHECK(audit.size() == 2);

  // Both bounds at once: the count bound removes beyond what age alone would.
  CHECK(audit.prune(1, hour, now).value() == 1);
  CHECK(times(audit.query(all())) == Times{now - 1});
}

TEST_CASE("audit: prune works through more entries than one chunk", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLog audit(store);
  Batch b;
  for (int i = 1; i <= 1234; ++i)
    audit.record(b, entry(i, "@u" + std::to_string(i % 7) + ":hs", "!r:hs"));
  REQUIRE(store.commit(b).ok());
  CHECK(audit.prune(100, 0, tyr::now_ms()).value() == 1134);
  CHECK(audit.size() == 100);
  CHECK(audit_keys(store).size() == 300);
  auto got = audit.query(all());
  REQUIRE(got.size() == 100);
  CHECK(got.front().ts_ms == 1234);
  CHECK(got.back().ts_ms == 1135);
}

TEST_CASE("audit: maybe_prune prunes only every kPruneEvery records", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLimits limits;
  limits.max_entries = 10;
  AuditLog audit(store, limits);
  const int64_t now = tyr::now_ms();  // recent entries: only the count bound applies
  Batch b;
  for (uint64_t i = 1; i < AuditLog::kPruneEvery; ++i) {
    audit.record(b, entry(now - static_cast<int64_t>(i), "", ""));
  }
  REQUIRE(store.commit(b).ok());
  CHECK(audit.maybe_prune().value() == 0);
  CHECK(audit.size() == AuditLog::kPruneEvery - 1);
  REQUIRE(audit.record_now(entry(now, "", "")).ok());
  CHECK(audit.maybe_prune().value() == AuditLog::kPruneEvery - 10);
  CHECK(audit.size() == 10);
  CHECK(audit.maybe_prune().value() == 0);  // the count starts again
}

TEST_CASE("audit: prunes on two threads while another records keep the count exact", "[audit]") {
  TempDir dir;
  Store store(dir.path());
  AuditLog audit(store);
  Batch seed;
  for (int i = 1; i <= 2000; ++i) audit.record(seed, entry(i, "@u:hs", ""));
  REQUIRE(store.commit(seed).ok());
  // Catch's assertions are not thread-safe: the threads count failures, checked after joining.
  std::atomic<int> failures{0};
  std::thread recorder([&] {
    for (int i = 0; i < 200; ++i) {
      Batch one;
      audit.record(one, entry(1'000'000 + i, "@v:hs", ""));
      if (!store.commit(one, /*sync=*/false).ok()) ++failures;
    }
  });
  std::thread p1([&] { failures += audit.prune(500, 0, tyr::now_ms()).ok() ? 0 : 1; });
  std::thread p2([&] { failures += audit.prune(500, 0, tyr::now_ms()).ok() ? 0 : 1; });
  recorder.join();
  p1.join();
  p2.join();
  CHECK(failures == 0);
  REQUIRE(audit.prune(500, 0, tyr::now_ms()).ok());
  CHECK(audit.size() == 500);
  CHECK(audit.query(all()).size() == 500);
  CHECK(audit_keys(store).size() == 1000);
}

// ---------------------------------------------------------------------------------------------
// Opening: older stores, read-only, while a writer runs

TEST_CASE("audit: a store made before the audit family opens and gains it", "[audit][store]") {
  TempDir dir;
  {
    RawWriter old(dir.path(), kOldFamilies, /*create=*/true);
    old.put("state", "mgmt/room_id", "!m:hs");
    old.put("meta", "schema", "1");
    old.put("meta", "instance", "0123456789ab");
  }
  std::vector<std::string> families;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::Options(), dir.path().string(), &families).ok());
  CHECK(std::find(families.begin(), families.end(), "audit") == families.end());

  SECTION("read-only: the missing family reads as empty and is not created") {
    const auto before = files_in(dir.path());
    {
      Store reader(dir.path(), /*read_only=*/true);
      CHECK(reader.get(Cf::kState, "mgmt/room_id") == std::optional<std::string>("!m:hs"));
      CHECK_FALSE(reader.get(Cf::kAudit, "t/"));
      CHECK(audit_keys(reader).empty());
      CHECK(AuditLog(reader).query(all()).empty());
      CHECK(AuditLog(reader).size() == 0);
    }
    CHECK(files_in(dir.path()) == before);
  }
  SECTION("read-write: the family is created and the old data kept") {
    {
      Store store(dir.path());
      CHECK(store.instance_id() == "0123456789ab");
      CHECK(store.get(Cf::kState, "mgmt/room_id") == std::optional<std::string>("!m:hs"));
      AuditLog audit(store);
      REQUIRE(audit.record_now(entry(1000, "@a:hs", "!r:hs")).ok());
    }
    Store reader(dir.path(), /*read_only=*/true);
    CHECK(times(AuditLog(reader).query(all())) == Times{1000});
  }
}
