// Store against a real RocksDB in a fresh temp directory per test: transaction acceptance and
// event-ID dedupe, inbox/outbox sequences, atomic batches, and what survives a reopen.

#include "engine/store/store.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine/config/config.hpp"
#include "tests/unit/temp_dir.hpp"

namespace fs = std::filesystem;
using tyr::engine::AcceptResult;
using tyr::engine::Batch;
using tyr::engine::Cf;
using tyr::engine::decode_seq;
using tyr::engine::encode_seq;
using tyr::engine::random_token;
using tyr::engine::Store;

namespace {

using tyr::test::TempDir;

std::string event_json(std::string_view event_id) {
  return nlohmann::json{{"event_id", event_id}, {"type", "m.room.message"}}.dump();
}

// Accepts a transaction whose events are `{"event_id": id, …}` for each id ("" = an entry
// without an id, as AppserviceServer passes it).
AcceptResult accept(Store& store, std::string_view txn_id, const std::vector<std::string>& ids) {
  std::vector<std::string_view> views(ids.begin(), ids.end());
  std::vector<std::string> json;
  for (const auto& id : ids) json.push_back(id.empty() ? std::string() : event_json(id));
  auto r = store.accept_transaction(txn_id, views, json);
  REQUIRE(r.ok());
  return r.value();
}

struct InboxEntry {
  uint64_t seq;
  std::string event_id;
};

// The whole inbox in sequence order, as the pipeline reads it.
std::vector<InboxEntry> inbox(const Store& store) {
  std::vector<InboxEntry> out;
  uint64_t after = 0;
  while (auto next = store.next_inbox(after)) {
    auto j = nlohmann::json::parse(next->second);
    out.push_back({next->first, j.at("event_id").get<std::string>()});
    after = next->first;
  }
  return out;
}

std::vector<std::string> inbox_ids(const Store& store) {
  std::vector<std::string> ids;
  for (const auto& e : inbox(store)) ids.push_back(e.event_id);
  return ids;
}

std::vector<uint64_t> inbox_seqs(const Store& store) {
  std::vector<uint64_t> seqs;
  for (const auto& e : inbox(store)) seqs.push_back(e.seq);
  return seqs;
}

// Removes every inbox entry in one batch, as the pipeline does once events are processed.
void drain_inbox(Store& store) {
  Batch b;
  for (const auto& e : inbox(store)) b.del(Cf::kInbox, encode_seq(e.seq));
  REQUIRE(store.commit(b).ok());
  REQUIRE(store.inbox_depth() == 0);
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("store: encode_seq is 8-byte big-endian and decode_seq inverts it", "[store]") {
  CHECK(encode_seq(1) == std::string("\0\0\0\0\0\0\0\x01", 8));
  CHECK(encode_seq(0x0102030405060708ULL) == "\x01\x02\x03\x04\x05\x06\x07\x08");
  for (uint64_t v : {0ULL, 1ULL, 255ULL, 256ULL, 0xffffffffULL, ~0ULL}) {
    CHECK(decode_seq(encode_seq(v)) == v);
  }
  // Byte order is numeric order, so RocksDB iterates sequences in order.
  CHECK(encode_seq(255) < encode_seq(256));
}

TEST_CASE("store: accept_transaction appends new events in order", "[store]") {
  TempDir dir;
  Store store(dir.path());
  auto r = accept(store, "1", {"$a", "$b", "$c"});
  CHECK(r.accepted == 3);
  CHECK(r.duplicates == 0);
  CHECK(r.invalid == 0);
  CHECK_FALSE(r.retried_txn);
  CHECK(inbox_ids(store) == Strings{"$a", "$b", "$c"});
  CHECK(inbox_seqs(store) == std::vector<uint64_t>{1, 2, 3});
  CHECK(store.inbox_depth() == 3);

  // A later transaction goes after the earlier one.
  r = accept(store, "2", {"$d"});
  CHECK(r.accepted == 1);
  CHECK(inbox_ids(store) == Strings{"$a", "$b", "$c", "$d"});

  // next_inbox is exclusive of its argument and keeps the stored JSON intact.
  auto second = store.next_inbox(1);
  REQUIRE(second);
  CHECK(second->first == 2);
  CHECK(second->second == event_json("$b"));
  CHECK_FALSE(store.next_inbox(4));
}

TEST_CASE("store: a retried transaction stores nothing new", "[store]") {
  TempDir dir;
  Store store(dir.path());
  accept(store, "7", {"$a", "$b"});
  auto r = accept(store, "7", {"$a", "$b"});
  CHECK(r.retried_txn);
  CHECK(r.accepted == 0);
  CHECK(r.duplicates == 2);
  CHECK(r.invalid == 0);
  CHECK(inbox_ids(store) == Strings{"$a", "$b"});
}

TEST_CASE("store: a reused txnId with new event IDs accepts the new events", "[store]") {
  // Synapse on SQLite restarts its txnIds at 1 after its own restart.
  TempDir dir;
  Store store(dir.path());
  accept(store, "1", {"$a", "$b"});

  auto r = accept(store, "1", {"$c", "$d"});
  CHECK_FALSE(r.retried_txn);
  CHECK(r.accepted == 2);
  CHECK(r.duplicates == 0);
  CHECK(inbox_ids(store) == Strings{"$a", "$b", "$c", "$d"});

  SECTION("overlapping events are deduplicated by event ID, not by txnId") {
    r = accept(store, "1", {"$b", "$e"});
    CHECK_FALSE(r.retried_txn);
    CHECK(r.accepted == 1);
    CHECK(r.duplicates == 1);
    CHECK(inbox_ids(store) == Strings{"$a", "$b", "$c", "$d", "$e"});
  }
  SECTION("the marker follows the latest body, so retrying that is a pure retry") {
    r = accept(store, "1", {"$c", "$d"});
    CHECK(r.retried_txn);
    CHECK(r.accepted == 0);
  }
}

TEST_CASE("store: events already seen under another txnId are duplicates", "[store]") {
  TempDir dir;
  Store store(dir.path());
  accept(store, "1", {"$a"});
  auto r = accept(store, "2", {"$a", "$b"});
  CHECK_FALSE(r.retried_txn);
  CHECK(r.accepted == 1);
  CHECK(r.duplicates == 1);
  CHECK(inbox_ids(store) == Strings{"$a", "$b"});
}

TEST_CASE("store: an event repeated within one transaction is stored once", "[store]") {
  TempDir dir;
  Store store(dir.path());
  auto r = accept(store, "1", {"$a", "$b", "$a"});
  CHECK(r.accepted == 2);
  CHECK(r.duplicates == 1);
  CHECK(inbox_ids(store) == Strings{"$a", "$b"});
  CHECK(inbox_seqs(store) == std::vector<uint64_t>{1, 2});
}

TEST_CASE("store: empty event IDs count as invalid and are skipped", "[store]") {
  TempDir dir;
  Store store(dir.path());
  auto r = accept(store, "1", {"$a", "", "$b", ""});
  CHECK(r.accepted == 2);
  CHECK(r.invalid == 2);
  CHECK(r.duplicates == 0);
  CHECK(inbox_ids(store) == Strings{"$a", "$b"});
  CHECK_FALSE(store.get(Cf::kSeen, ""));

  // The transaction is still marked, so the homeserver's retry is a pure retry.
  r = accept(store, "1", {"$a", "", "$b", ""});
  CHECK(r.retried_txn);
  CHECK(r.accepted == 0);
  CHECK(r.invalid == 2);
  CHECK(r.duplicates == 2);
}

TEST_CASE("store: an empty transaction is marked and stores nothing", "[store]") {
  TempDir dir;
  Store store(dir.path());
  auto r = accept(store, "1", {});
  CHECK(r.accepted == 0);
  CHECK_FALSE(r.retried_txn);
  CHECK(store.inbox_depth() == 0);
  CHECK(store.get(Cf::kTxns, "1"));
  CHECK(accept(store, "1", {}).retried_txn);
}

TEST_CASE("store: the seen set maps each event to its inbox sequence", "[store]") {
  TempDir dir;
  Store store(dir.path());
  accept(store, "1", {"$a", "$b"});
  auto seen = store.get(Cf::kSeen, "$b");
  REQUIRE(seen);
  CHECK(*seen == encode_seq(2));
  auto marker = store.get(Cf::kTxns, "1");
  REQUIRE(marker);
  auto j = nlohmann::json::parse(*marker);
  CHECK(j.at("events") == 2);
  CHECK(j.at("digest").get<std::string>().size() == 64);
}

TEST_CASE("store: data survives closing and reopening", "[store]") {
  TempDir dir;
  std::string instance;
  {
    Store store(dir.path());
    instance = store.instance_id();
    accept(store, "1", {"$a", "$b"});
    Batch b;
    b.put(Cf::kState, "room/!r:hs", R"({"on":true})");
    REQUIRE(store.commit(b).ok());
  }
  Store store(dir.path());
  CHECK(store.instance_id() == instance);
  CHECK(inbox_ids(store) == Strings{"$a", "$b"});
  CHECK(store.get(Cf::kState, "room/!r:hs") == std::optional<std::string>(R"({"on":true})"));

  // The seen set and the txn marker survived too.
  auto r = accept(store, "1", {"$a", "$b"});
  CHECK(r.retried_txn);
  CHECK(r.accepted == 0);
  r = accept(store, "9", {"$b", "$c"});
  CHECK(r.accepted == 1);
  CHECK(r.duplicates == 1);
  CHECK(inbox_seqs(store) == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("store: inbox sequences never repeat after a drain", "[store]") {
  TempDir dir;
  {
    Store store(dir.path());
    accept(store, "1", {"$a", "$b", "$c"});
    drain_inbox(store);
    // Without a reopen the in-memory counter carries on.
    accept(store, "2", {"$d"});
    CHECK(inbox_seqs(store) == std::vector<uint64_t>{4});
    drain_inbox(store);
  }
  // After a reopen on an empty inbox, the high-water mark in meta carries on.
  {
    Store store(dir.path());
    CHECK(store.inbox_depth() == 0);
    auto hw = store.get(Cf::kMeta, "inbox_hw");
    REQUIRE(hw);
    CHECK(decode_seq(*hw) == 4);
    accept(store, "3", {"$e"});
    CHECK(inbox_seqs(store) == std::vector<uint64_t>{5});
    // A transaction with nothing new leaves the high-water mark alone.
    accept(store, "4", {"$e"});
    CHECK(decode_seq(store.get(Cf::kMeta, "inbox_hw").value()) == 5);
  }
  Store store(dir.path());
  accept(store, "5", {"$f"});
  CHECK(inbox_seqs(store) == std::vector<uint64_t>{5, 6});
}

TEST_CASE("store: enqueue_action and commit make next_outbox return actions in order", "[store]") {
  TempDir dir;
  Store store(dir.path());
  Batch b;
  const uint64_t s1 = store.enqueue_action(b, R"({"kind":"ban"})");
  const uint64_t s2 = store.enqueue_action(b, R"({"kind":"redact"})");
  CHECK(s1 == 1);
  CHECK(s2 == 2);
  // Nothing is visible before the commit.
  CHECK_FALSE(store.next_outbox());
  CHECK(store.outbox_depth() == 0);
  REQUIRE(store.commit(b).ok());
  CHECK(b.empty());

  auto first = store.next_outbox();
  REQUIRE(first);
  CHECK(first->seq == s1);
  CHECK(first->json == R"({"kind":"ban"})");
  auto second = store.next_outbox(first->key);
  REQUIRE(second);
  CHECK(second->seq == s2);
  CHECK(second->json == R"({"kind":"redact"})");
  CHECK_FALSE(store.next_outbox(second->key));
  CHECK(store.outbox_depth() == 2);
}

TEST_CASE("store: the outbox runs by priority, then by age", "[store]") {
  TempDir dir;
  Store store(dir.path());
  Batch b;
  using tyr::engine::Priority;
  store.enqueue_action(b, "redact-1", Priority::kRedact);
  store.enqueue_action(b, "acl-2", Priority::kAcl);
  store.enqueue_action(b, "ban-3", Priority::kBan);
  store.enqueue_action(b, "notice-4", Priority::kControl);
  store.enqueue_action(b, "ban-5", Priority::kBan);
  REQUIRE(store.commit(b).ok());
  std::vector<std::string> order;
  std::string after;
  while (auto e = store.next_outbox(after)) {
    order.push_back(e->json);
    CHECK(e->key == std::string(1, static_cast<char>(e->priority)) + encode_seq(e->seq));
    after = e->key;
  }
  CHECK(order == std::vector<std::string>{"notice-4", "ban-3", "ban-5", "acl-2", "redact-1"});
}

TEST_CASE("store: outbox sequences never repeat after a drain and reopen", "[store]") {
  TempDir dir;
  {
    Store store(dir.path());
    Batch b;
    store.enqueue_action(b, "{}");
    store.enqueue_action(b, "{}");
    REQUIRE(store.commit(b).ok());
    b.del(Cf::kOutbox, std::string(1, '\0') + encode_seq(1));
    b.del(Cf::kOutbox, std::string(1, '\0') + encode_seq(2));
    REQUIRE(store.commit(b).ok());
    CHECK(store.outbox_depth() == 0);
  }
  Store store(dir.path());
  Batch b;
  CHECK(store.enqueue_action(b, "{}") == 3);
}

TEST_CASE("store: a batch across families commits atomically", "[store]") {
  TempDir dir;
  Store store(dir.path());
  accept(store, "1", {"$a"});
  {
    Batch seed;
    seed.put(Cf::kState, "mgmt/room_id", "!old:hs");
    REQUIRE(store.commit(seed).ok());
  }

  // One batch: an event's effects, an action, and the event's removal from the inbox.
  Batch b;
  b.put(Cf::kState, "room/!r:hs", "{}");
  b.del(Cf::kState, "mgmt/room_id");
  store.enqueue_action(b, R"({"kind":"notice"})");
  b.del(Cf::kInbox, encode_seq(1));
  Batch more;
  more.put(Cf::kState, "extra", "x");
  b.append(std::move(more));
  CHECK(more.empty());
  CHECK(b.size() >= 5);

  // Until the commit, none of it is visible.
  CHECK_FALSE(store.get(Cf::kState, "room/!r:hs"));
  CHECK(store.get(Cf::kState, "mgmt/room_id"));
  CHECK(store.inbox_depth() == 1);
  CHECK(store.outbox_depth() == 0);

  REQUIRE(store.commit(b, /*sync=*/false).ok());
  CHECK(b.empty());
  CHECK(store.get(Cf::kState, "room/!r:hs") == std::optional<std::string>("{}"));
  CHECK(store.get(Cf::kState, "extra") == std::optional<std::string>("x"));
  CHECK_FALSE(store.get(Cf::kState, "mgmt/room_id"));
  CHECK(store.inbox_depth() == 0);
  CHECK(store.outbox_depth() == 1);
  // Families are separate key spaces.
  CHECK_FALSE(store.get(Cf::kMeta, "room/!r:hs"));

  // Within one batch, later operations on a key win.
  Batch order;
  order.put(Cf::kState, "k", "1");
  order.del(Cf::kState, "k");
  order.put(Cf::kState, "k2", "1");
  order.put(Cf::kState, "k2", "2");
  REQUIRE(store.commit(order).ok());
  CHECK_FALSE(store.get(Cf::kState, "k"));
  CHECK(store.get(Cf::kState, "k2") == std::optional<std::string>("2"));
}

TEST_CASE("store: scan visits keys with the prefix in key order", "[store]") {
  TempDir dir;
  Store store(dir.path());
  Batch b;
  b.put(Cf::kState, "room/!b:hs", "B");
  b.put(Cf::kState, "room/!a:hs", "A");
  b.put(Cf::kState, "roomz", "not under room/");
  b.put(Cf::kState, "mgmt/room_id", "M");
  b.put(Cf::kState, "rooa", "before room/");
  b.put(Cf::kMeta, "room/!c:hs", "other family");
  REQUIRE(store.commit(b).ok());

  std::vector<std::pair<std::string, std::string>> seen;
  auto collect = [&seen](std::string_view k, std::string_view v) {
    seen.emplace_back(std::string(k), std::string(v));
  };
  store.scan(Cf::kState, "room/", collect);
  CHECK(seen ==
        std::vector<std::pair<std::string, std::string>>{{"room/!a:hs", "A"}, {"room/!b:hs", "B"}});

  seen.clear();
  store.scan(Cf::kState, "nothing/", collect);
  CHECK(seen.empty());

  seen.clear();
  store.scan(Cf::kState, "", collect);  // the empty prefix visits the whole family
  CHECK(seen.size() == 5);
}

TEST_CASE("store: a read-only open sees committed data", "[store]") {
  TempDir dir;
  std::string instance;
  {
    Store writer(dir.path());
    instance = writer.instance_id();
    accept(writer, "1", {"$a", "$b"});
    Batch b;
    b.put(Cf::kState, "mgmt/room_id", "!m:hs");
    writer.enqueue_action(b, R"({"kind":"ban"})");
    REQUIRE(writer.commit(b).ok());

    // While the writer still holds the database.
    Store reader(dir.path(), /*read_only=*/true);
    CHECK(reader.instance_id() == instance);
    CHECK(inbox_ids(reader) == Strings{"$a", "$b"});
    CHECK(reader.get(Cf::kState, "mgmt/room_id") == std::optional<std::string>("!m:hs"));
    CHECK(reader.outbox_depth() == 1);
  }
  Store reader(dir.path(), /*read_only=*/true);
  CHECK(reader.instance_id() == instance);
  CHECK(inbox_ids(reader) == Strings{"$a", "$b"});
  CHECK(reader.get(Cf::kSeen, "$b") == std::optional<std::string>(encode_seq(2)));
  CHECK(reader.next_outbox().value().json == R"({"kind":"ban"})");
}

TEST_CASE("store: a read-only open of a missing store throws", "[store]") {
  TempDir dir;
  CHECK_THROWS_AS(Store(dir.path(), /*read_only=*/true), std::runtime_error);
  CHECK_FALSE(fs::exists(dir.path() / "CURRENT"));
}

TEST_CASE("store: instance_id is 12 hex chars and differs between fresh stores", "[store]") {
  TempDir a;
  TempDir b;
  Store sa(a.path());
  Store sb(b.path());
  for (const std::string& id : {sa.instance_id(), sb.instance_id()}) {
    CHECK(id.size() == 12);
    for (char c : id) {
      CHECK(std::isxdigit(static_cast<unsigned char>(c)));
      CHECK_FALSE(std::isupper(static_cast<unsigned char>(c)));
    }
  }
  CHECK(sa.instance_id() != sb.instance_id());
  CHECK(sa.get(Cf::kMeta, "schema") == std::optional<std::string>("1"));
}

TEST_CASE("store: prune_dedupe forgets event and transaction IDs past retention, oldest first",
          "[store]") {
  TempDir dir;
  Store store(dir.path());
  REQUIRE(store.accept_transaction("1", {"$a", "$b"},
                                   {R"({"event_id":"$a"})", R"({"event_id":"$b"})"}));
  REQUIRE(store.accept_transaction("2", {"$c"}, {R"({"event_id":"$c"})"}));
  REQUIRE(store.accept_transaction("", {"$d"}, {R"({"event_id":"$d"})"}));  // found in history
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();

  // Nothing is older than an hour ago.
  auto none = store.prune_dedupe(now - 3'600'000);
  REQUIRE(none);
  CHECK(*none == 0);
  CHECK(store.get(Cf::kSeen, "$a"));
  CHECK(store.get(Cf::kTxns, "1"));

  // A bounded step: at most max_keys entries per call, oldest first.
  auto some = store.prune_dedupe(now + 1000, 1);
  REQUIRE(some);
  CHECK(*some == 1);
  auto rest = store.prune_dedupe(now + 1000);
  REQUIRE(rest);
  CHECK(*rest == 5);  // the other three event IDs and both txnIds
  for (const char* id : {"$a", "$b", "$c", "$d"}) CHECK_FALSE(store.get(Cf::kSeen, id));
  CHECK_FALSE(store.get(Cf::kTxns, "1"));
  CHECK_FALSE(store.get(Cf::kTxns, "2"));
  size_t left = 0;
  store.scan(Cf::kSeen, "", [&](std::string_view, std::string_view) { ++left; });
  store.scan(Cf::kTxns, "", [&](std::string_view, std::string_view) { ++left; });
  CHECK(left == 0);

  // Forgotten means accepted again (a replay older than the retention is new to Tyr).
  auto again = store.accept_transaction("1", {"$a"}, {R"({"event_id":"$a"})"});
  REQUIRE(again);
  CHECK(again->accepted == 1);
  CHECK_FALSE(again->retried_txn);
}

TEST_CASE("store: concurrent commits all land, and sequences never repeat after a reopen",
          "[store]") {
  TempDir dir;
  constexpr int kThreads = 4, kCommits = 100;
  {
    Store store(dir.path());
    std::vector<std::thread> lanes;
    std::atomic<int> failed{0};
    for (int t = 0; t < kThreads; ++t) {
      lanes.emplace_back([&store, &failed, t] {
        for (int i = 0; i < kCommits; ++i) {
          Batch b;
          store.enqueue_action(b, "{}");
          b.put(Cf::kAudit, "t/" + encode_seq(store.next_audit_seq()), "{}");
          b.put(Cf::kState, "lane/" + std::to_string(t) + "/" + std::to_string(i), "x");
          b.add(Cf::kMeta, "commits", 1);
          if (!store.commit(b, /*sync=*/i % 2 == 0)) ++failed;
        }
      });
    }
    // Transactions from the homeserver commit alongside.
    for (int i = 0; i < 20; ++i)
      accept(store, "txn" + std::to_string(i), {"$e" + std::to_string(i)});
    for (auto& l : lanes) l.join();
    CHECK(failed == 0);
    CHECK(store.counter(Cf::kMeta, "commits") == kThreads * kCommits);
    CHECK(store.outbox_depth() == kThreads * kCommits);
    CHECK(store.inbox_depth() == 20);
    for (int t = 0; t < kThreads; ++t) {
      for (int i = 0; i < kCommits; ++i) {
        INFO(t << "/" << i);
        REQUIRE(store.get(Cf::kState, "lane/" + std::to_string(t) + "/" + std::to_string(i)));
      }
    }
    // Drain the outbox and the audit family: only the high-water marks remember the sequences.
    Batch drain;
    drain.del_range(Cf::kOutbox, std::string(1, '\0'), std::string(1, '\x7f'));
    drain.del_range(Cf::kAudit, "t/", "t0");
    REQUIRE(store.commit(drain).ok());
    CHECK(store.outbox_depth() == 0);
  }
  Store store(dir.path());
  Batch b;
  CHECK(store.enqueue_action(b, "{}") == kThreads * kCommits + 1);
  CHECK(store.next_audit_seq() == kThreads * kCommits + 1);
}
