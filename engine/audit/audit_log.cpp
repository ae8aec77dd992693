#include "engine/audit/audit_log.hpp"

#include <algorithm>
#include <limits>
#include <mutex>
#include <utility>

#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"

namespace tyr::engine {

namespace {

constexpr std::string_view kTimePrefix = "t/";
constexpr std::string_view kTimeEnd = "t0";  // '/' + 1: just past every "t/" key
constexpr std::string_view kUserPrefix = "u/";
constexpr std::string_view kRoomPrefix = "r/";
constexpr const char* kCountKey = "audit_count";
constexpr size_t kSuffix = 16;  // ts + seq, at the end of every audit key

// Times before the epoch sort as 0: keys hold them unsigned.
uint64_t key_ts(int64_t ts_ms) { return static_cast<uint64_t>(std::max<int64_t>(ts_ms, 0)); }

std::string suffix(int64_t ts_ms, uint64_t seq) {
  return encode_seq(key_ts(ts_ms)) + encode_seq(seq);
}

std::string index_prefix(std::string_view kind, std::string_view id) {
  std::string p(kind);
  p += id;
  p += '\0';  // Matrix IDs hold no NUL, so "@a:x" never matches "@a:xy"'s keys
  return p;
}

// The [lower, upper) key range of `prefix` + ts for since <= ts < until (until 0: unbounded).
std::pair<std::string, std::string> time_range(std::string_view prefix, const AuditQuery& q) {
  const uint64_t hi = q.until_ms > 0 ? key_ts(q.until_ms) : std::numeric_limits<uint64_t>::max();
  return {std::string(prefix) + encode_seq(key_ts(q.since_ms)),
          std::string(prefix) + encode_seq(hi)};
}

std::mutex& prune_mutex() {
  static std::mutex mu;
  return mu;
}

Result<std::string> string_field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return Error{"TYR_AUDIT", std::string("missing field '") + name + "'", 0, -1};
  if (!it->is_string()) {
    return Error{"TYR_AUDIT", std::string("field '") + name + "' is not a string", 0, -1};
  }
  return it->get<std::string>();
}

}  // namespace

nlohmann::json to_json(const AuditEntry& e) {
  return {{"ts_ms", e.ts_ms},
          {"seq", e.seq},
          {"action", e.action},
          {"mode", e.mode},
          {"user", e.user},
          {"room", e.room},
          {"event_id", e.event_id},
          {"target", e.target},
          {"reason_text", e.reason_text},
          {"reason", e.reason.is_object() ? e.reason : nlohmann::json::object()},
          {"outcome", e.outcome},
          {"detail", e.detail}};
}

Result<AuditEntry> audit_entry_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return Error{"TYR_AUDIT", "an audit entry is a JSON object", 0, -1};
  AuditEntry e;
  auto ts = j.find("ts_ms");
  if (ts == j.end() || !ts->is_number_integer()) {
    return Error{"TYR_AUDIT", "field 'ts_ms' is missing or not an integer", 0, -1};
  }
  e.ts_ms = ts->get<int64_t>();
  auto seq = j.find("seq");
  if (seq == j.end() || !seq->is_number_unsigned()) {
    return Error{"TYR_AUDIT", "field 'seq' is missing or not an unsigned integer", 0, -1};
  }
  e.seq = seq->get<uint64_t>();
  std::pair<const char*, std::string*> strings[] = {
      {"action", &e.action},     {"mode", &e.mode},
      {"user", &e.user},         {"room", &e.room},
      {"event_id", &e.event_id}, {"target", &e.target},
      {"outcome", &e.outcome},   {"reason_text", &e.reason_text},
      {"detail", &e.detail}};
  for (auto& [name, out] : strings) {
    auto v = string_field(j, name);
    if (!v) return v.error();
    *out = std::move(*v);
  }
  auto reason = j.find("reason");
  if (reason == j.end() || !reason->is_object()) {
    return Error{"TYR_AUDIT", "field 'reason' is missing or not an object", 0, -1};
  }
  e.reason = *reason;
  return e;
}

AuditLog::AuditLog(Store& store, AuditLimits limits) : store_(store), limits_(limits) {}

uint64_t AuditLog::record(Batch& batch, AuditEntry entry) {
  if (entry.ts_ms == 0) entry.ts_ms = now_ms();
  if (!entry.reason.is_object()) entry.reason = nlohmann::json::object();
  entry.seq = store_.next_audit_seq();
  const std::string sfx = suffix(entry.ts_ms, entry.seq);
  // Replace, not throw, on invalid UTF-8: a reason quoting a cut-off message must not fail the
  // batch that completes the action.
  batch.put(Cf::kAudit, std::string(kTimePrefix) + sfx,
            to_json(entry).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!entry.user.empty()) batch.put(Cf::kAudit, index_prefix(kUserPrefix, entry.user) + sfx, "");
  if (!entry.room.empty()) batch.put(Cf::kAudit, index_prefix(kRoomPrefix, entry.room) + sfx, "");
  batch.add(Cf::kMeta, kCountKey, 1);
  since_prune_.fetch_add(1, std::memory_order_relaxed);
  return entry.seq;
}

Result<void> AuditLog::record_now(AuditEntry entry) {
  Batch batch;
  record(batch, std::move(entry));
  return store_.commit(batch);
}

std::vector<AuditEntry> AuditLog::query(const AuditQuery& q) const {
  std::vector<AuditEntry> out;
  auto take = [&](std::string_view key, std::string_view json) {
    auto parsed = audit_entry_from_json(nlohmann::json::parse(json, nullptr, false));
    if (!parsed) {
      log::warn("audit", "unreadable entry at seq " +
                             std::to_string(decode_seq(key.substr(key.size() - 8))) + ": " +
                             parsed.error().message);
      return true;
    }
    // With both user and room given, the user index is read and the room checked here.
    if (!q.room.empty() && parsed->room != q.room) return true;
    out.push_back(std::move(*parsed));
    return q.limit == 0 || out.size() < q.limit;
  };
  if (q.user.empty() && q.room.empty()) {
    auto [lower, upper] = time_range(kTimePrefix, q);
    store_.range(Cf::kAudit, lower, upper, /*reverse=*/true, take);
    return out;
  }
  const std::string prefix =
      q.user.empty() ? index_prefix(kRoomPrefix, q.room) : index_prefix(kUserPrefix, q.user);
  auto [lower, upper] = time_range(prefix, q);
  store_.range(Cf::kAudit, lower, upper, /*reverse=*/true,
               [&](std::string_view key, std::string_view) {
                 if (key.size() < prefix.size() + kSuffix) return true;
                 const std::string primary =
                     std::string(kTimePrefix) + std::string(key.substr(key.size() - kSuffix));
                 auto json = store_.get(Cf::kAudit, primary);
                 // An index key whose entry is gone: only if a prune's entry was unreadable.
                 if (!json) return true;
                 return take(primary, *json);
               });
  return out;
}

Result<size_t> AuditLog::prune(uint64_t max_entries, int64_t max_age_ms, int64_t now) {
  std::lock_guard lock(prune_mutex());
  since_prune_.store(0, std::memory_order_relaxed);
  const int64_t cutoff = max_age_ms > 0 ? now - max_age_ms : std::numeric_limits<int64_t>::min();
  int64_t count = store_.counter(Cf::kMeta, kCountKey);
  size_t removed = 0;
  std::string lower(kTimePrefix);  // past what this prune deleted already
  for (;;) {
    const uint64_t excess =
        max_entries > 0 && count > 0 && static_cast<uint64_t>(count) > max_entries
            ? static_cast<uint64_t>(count) - max_entries
            : 0;
    Batch batch;
    size_t n = 0;
    std::string first, last;
    store_.range(
        Cf::kAudit, lower, kTimeEnd, /*reverse=*/false,
        [&](std::string_view key, std::string_view json) {
          if (key.size() != kTimePrefix.size() + kSuffix) return true;  // not ours
          const auto ts = static_cast<int64_t>(decode_seq(key.substr(kTimePrefix.size())));
          if (n >= excess && ts >= cutoff) return false;  // the rest is newer still
          if (first.empty()) first = key;
          last = key;
          const std::string sfx(key.substr(kTimePrefix.size()));
          auto j = nlohmann::json::parse(json, nullptr, false);
          for (auto [field, kind] :
               {std::pair{"user", kUserPrefix}, std::pair{"room", kRoomPrefix}}) {
            auto v = j.find(field);  // end() for a non-object too
            if (v != j.end() && v->is_string() && !v->get_ref<const std::string&>().empty()) {
              batch.del(Cf::kAudit, index_prefix(kind, v->get_ref<const std::string&>()) + sfx);
            }
          }
          return ++n < kPruneChunk;
        });
    if (n == 0) break;
    // The entries themselves go as one range: the next prune's first seek steps over one
    // tombstone, not over every entry ever pruned (until compaction drops them). An entry
    // recorded meanwhile with a time inside the range (only if it is among the oldest: a
    // clock far behind) goes too; its index keys then point nowhere and queries skip them.
    lower = last + '\0';
    batch.del_range(Cf::kAudit, first, lower);
    batch.add(Cf::kMeta, kCountKey, -static_cast<int64_t>(n));
    // Not fsync'd: losing a prune to a crash only means pruning again.
    if (auto r = store_.commit(batch, /*sync=*/false); !r) return r.error();
    count -= static_cast<int64_t>(n);
    removed += n;
    if (n < kPruneChunk) break;
  }
  return removed;
}

Result<size_t> AuditLog::prune() {
  return prune(limits_.max_entries, limits_.max_age_ms, now_ms());
}

Result<size_t> AuditLog::maybe_prune() {
  if (since_prune_.load(std::memory_order_relaxed) < kPruneEvery) return size_t{0};
  return prune();
}

uint64_t AuditLog::size() const {
  return static_cast<uint64_t>(std::max<int64_t>(store_.counter(Cf::kMeta, kCountKey), 0));
}

}  // namespace tyr::engine
