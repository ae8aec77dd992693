// Catch-up: reading protected rooms' recent history for events the homeserver never delivered.
//
// Synapse can lose appservice events: a transaction stored while the service was marked down can
// be left unsent after recovery, and events queued in memory are lost when Synapse stops
// (docs/soak.md). Tyr cannot moderate what it never receives, so after a gap in transaction IDs,
// when the homeserver answers again after an outage, at start and every catch_up.interval, it
// pages each protected room's history back to a point in time and puts every event it has not
// seen into the inbox, exactly as if a transaction had brought it (the `seen` family dedupes).
//
// Recovered events are marked "org.tyr.recovered": their room state (power levels, names) and
// policy rules are older than what Tyr already knows, so they are judged and scored but do not
// overwrite the room-state cache or a list's rules; the room's state and lists are read afresh
// instead.

#include <algorithm>
#include <string>
#include <vector>

#include "engine/actions/codec.hpp"
#include "engine/audit/audit_format.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/pipeline/bot.hpp"

namespace tyr::engine {

namespace {
// History is read from a minute before the point where events may have gone missing: clocks of
// the homeserver and Tyr differ, and an event is timestamped before it is delivered.
constexpr int64_t kMarginMs = 60'000;
constexpr int kPageSize = 100;
}  // namespace

void Bot::request_catch_up(int64_t since_ms, std::string_view why, bool reload_lists) {
  // Before Tyr is ready (management room joined, rooms loaded) the pass at start covers it.
  if (!config_.catch_up.enabled || !veto_ready_) {
    log::debug("catch-up", std::string(why) + ": not now (" +
                               (config_.catch_up.enabled ? "not ready yet" : "disabled") + ")");
    return;
  }
  const int64_t now = now_ms();
  const int64_t since =
      std::max(since_ms - kMarginMs, now - config_.catch_up.max_age.count() * 1000);
  std::vector<std::string> rooms{management_room_};
  for (const auto& [room, info] : rooms_.snapshot()) rooms.push_back(room);
  Batch batch;
  size_t queued = 0;
  {
    std::lock_guard lock(pending_mu_);
    for (const auto& room : rooms) {
      // One pending pass per room: a pass already queued reads from its own, earlier or later,
      // point; widen it rather than queue a second.
      auto [it, fresh] = pending_catch_up_.emplace(room, since);
      if (!fresh) {
        it->second = std::min(it->second, since);
        continue;
      }
      actions::enqueue(store_, batch, actions::CatchUp{room, since, std::string(why)});
      ++queued;
    }
  }
  if (reload_lists) {
    // One quiet reload per list until it runs, however many passes asked for one.
    std::lock_guard lock(pending_mu_);
    for (const auto& l : book_.lists()) {
      if (l.feed || !pending_list_reloads_.insert(l.id).second) continue;
      actions::enqueue(store_, batch,
                       actions::WatchList{.room = l.id, .reply_to = {}, .quiet = true});
    }
  }
  if (batch.empty()) {
    log::debug("catch-up", std::string(why) + ": every room already has a pass queued");
    return;
  }
  if (auto r = store_.commit(batch); !r) {
    log::error("catch-up", "cannot queue: " + r.error().to_string());
    std::lock_guard lock(pending_mu_);
    for (const auto& room : rooms) pending_catch_up_.erase(room);
    return;
  }
  log::info("catch-up", std::string(why) + ": reading " + std::to_string(queued) +
                            " room(s)' history from " + format_utc(since));
  if (on_queued_) on_queued_();
}

namespace {

// Tyr's own m.room.member event that made it a member (not a later profile change).
bool is_own_join(const nlohmann::json& ev, const std::string& bot_user) {
  if (!ev.is_object()) return false;
  auto str = [](const nlohmann::json& obj, const char* key) -> std::string_view {
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>())
                                              : std::string_view{};
  };
  if (str(ev, "type") != "m.room.member" || str(ev, "state_key") != bot_user) return false;
  auto content = ev.find("content");
  if (content == ev.end() || !content->is_object() || str(*content, "membership") != "join") {
    return false;
  }
  auto unsigned_it = ev.find("unsigned");
  if (unsigned_it == ev.end() || !unsigned_it->is_object()) return true;
  auto prev = unsigned_it->find("prev_content");
  return prev == unsigned_it->end() || !prev->is_object() || str(*prev, "membership") != "join";
}

}  // namespace

ActionOutcome Bot::run(uint64_t, const actions::CatchUp& a, Batch& batch) {
  const std::string& room = a.room;
  int64_t since = a.since;
  {
    // From here on a new request queues a new pass: this one may already be past its events.
    std::lock_guard lock(pending_mu_);
    if (auto it = pending_catch_up_.find(room); it != pending_catch_up_.end()) {
      since = std::min(since, it->second);
      pending_catch_up_.erase(it);
    }
  }
  if (room != management_room_) {
    auto info = rooms_.info(room);
    if (!info) return {};  // no longer protected
    // What was said before the room was protected is not Tyr's to judge now.
    if (info->is_object()) since = std::max(since, info->value("added_ts", int64_t{0}));
  }
  std::vector<nlohmann::json> events;  // newest first
  std::string from;
  bool reached = false;
  while (!reached && static_cast<int>(events.size()) < config_.catch_up.max_events) {
    auto page = client_.messages(room, "b", from, kPageSize);
    if (!page) return from_error("catch-up of " + room, page.error());
    auto& chunk = (*page)["chunk"];
    for (auto& ev : chunk) {
      const auto ts = ev.is_object() && ev.contains("origin_server_ts") &&
                              ev["origin_server_ts"].is_number_integer()
                          ? ev["origin_server_ts"].get<int64_t>()
                          : int64_t{0};
      // Nothing before Tyr joined the room was ever Tyr's to receive (the room's creation, old
      // commands in the management room): the pass ends at Tyr's join, whatever `since` says.
      if (ts < since || is_own_join(ev, bot_user_)) {
        reached = true;
        break;
      }
      events.push_back(std::move(ev));
    }
    const std::string end = page->value("end", "");
    if (chunk.empty() || end.empty() || end == from) break;  // the start of the room
    from = end;
  }
  std::vector<std::string> ids, json;
  ids.reserve(events.size());
  json.reserve(events.size());
  bool state = false;
  for (auto it = events.rbegin(); it != events.rend(); ++it) {  // oldest first, as delivered
    nlohmann::json& ev = *it;
    if (!ev.is_object() || !ev.contains("event_id") || !ev["event_id"].is_string()) continue;
    if (ev.value("sender", "") == bot_user_) continue;  // Tyr's own: nothing to judge
    if (!ev.contains("room_id")) ev["room_id"] = room;
    ev["org.tyr.recovered"] = true;
    state = state || ev.contains("state_key");
    ids.push_back(ev["event_id"].get<std::string>());
    json.push_back(ev.dump());
  }
  std::vector<std::string_view> id_views(ids.begin(), ids.end());
  auto accepted = store_.accept_transaction({}, id_views, json);
  if (!accepted)
    return {ActionOutcome::Kind::kRetry, std::chrono::milliseconds(1000),
            "catch-up of " + room + ": " + accepted.error().to_string()};
  const size_t fresh = accepted->accepted;
  if (fresh > 0) {
    metrics::tyr_metrics().events_recovered.add(fresh);
    // Nothing is lost: these were read back before any transaction brought them (at start the
    // homeserver is often still about to send them); copies that arrive later are dropped.
    log::info("catch-up", room + ": read " + std::to_string(fresh) + " of " +
                              std::to_string(ids.size()) + " event(s) since " + format_utc(since) +
                              " from history before a transaction brought them; handling them "
                              "now (later copies are dropped)");
    if (on_recovered_) on_recovered_();
    // Their state is older than what Tyr knows: read the room's state afresh.
    if (state && rooms_.contains(room)) {
      actions::enqueue(store_, batch, actions::LoadRoomState{room});
    }
  } else {
    log::debug("catch-up", room + ": nothing missed (" + std::to_string(ids.size()) +
                               " event(s) since " + format_utc(since) + ")");
  }
  return {};
}

}  // namespace tyr::engine
