#include "engine/pipeline/bot.hpp"

#include "engine/metrics/tyr_metrics.hpp"

#include <algorithm>

#include "engine/actions/codec.hpp"
#include "engine/commands/command.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/text.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/version.hpp"

namespace tyr::engine {

namespace {

constexpr std::string_view kRoomPrefix = "room/";

const std::string* string_at(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

}  // namespace

bool is_retryable(const Error& error) {
  return error.status == 0 || error.status >= 500 || error.code == "M_LIMIT_EXCEEDED" ||
         error.status == 429;
}

bool is_outage(const Error& error) {
  return error.status == 0 || error.status == 502 || error.status == 503 || error.status == 504 ||
         error.code == "M_LIMIT_EXCEEDED" || error.status == 429;
}

// ---- Bot ----

Bot::Bot(const Config& config, Store& store, HomeserverClient& client, PolicyBook& book)
    : config_(config), store_(store), client_(client), book_(book),
      lists_(config, store, book, rooms_, *this), audit_(store), room_state_(config.management.operators), bot_user_(config.bot_user_id()) {
  rooms_.load(store_);
  notices_.set_limit(config.management.notices_per_minute);
  notices_.set_category_limit("refused", config.veto.notices_per_minute);
}

void Bot::enqueue_notice(Batch& batch, const std::string& room, const std::string& body,
                         const std::string& reply_to) {
  actions::enqueue(store_, batch, actions::Notice{room, body, reply_to});
}

void Bot::notify(Batch& batch, const std::string& body) { enqueue_notice(batch, management_room_, body); }

void Bot::post_notice(Batch& batch, std::string_view category, const std::string& body) {
  if (management_room_.empty()) return;
  if (!notices_.admit(std::string(category), now_ms())) {
    metrics::tyr_metrics().notices_suppressed.inc();
    return;
  }
  queue_unsolicited(batch, body);
}

void Bot::queue_unsolicited(Batch& batch, const std::string& body) {
  actions::enqueue(store_, batch, actions::Notice{management_room_, body, {}}, Priority::kNotice);
}

void Bot::notice_summary(Batch& batch, bool force) {
  auto text = notices_.summary(now_ms(), force);
  if (!text) return;
  const std::string& prefix = config_.management.command_prefix;
  queue_unsolicited(batch, *text + "; see `" + prefix + " status`, `" + prefix + " audit <user|room>` and /metrics.");
}

void Bot::enqueue_list_reloads(Batch& batch) {
  for (const auto& l : book_.lists()) {
    if (l.feed) continue;
    actions::enqueue(store_, batch, actions::WatchList{.room = l.id, .reply_to = {}, .quiet = true});
  }
}

void Bot::handle_event(const nlohmann::json& event, Batch& batch) {
  const std::string* sender = string_at(event, "sender");
  const std::string* room = string_at(event, "room_id");
  const std::string* type = string_at(event, "type");
  if (!sender || !room || !type) return;  // not a room event we can act on
  handle_started_ = std::chrono::steady_clock::now();
  metrics::tyr_metrics().events_received.with(*type).inc();
  const bool recovered = event.contains("org.tyr.recovered");
  log::debug("bot", "event " + event.value("event_id", "") + " " + *type + " from " + *sender +
                        " in " + *room + (recovered ? " (from history)" : ""));
  // Tyr's own notices, bans, rules and redactions come back through transactions; their
  // effects were applied when Tyr made them.
  if (*sender == bot_user_) return;
  if (*room == management_room_ && *type == "m.room.message") {
    handle_management_message(event, batch);
    return;
  }
  // Read back from history (catch_up.cpp): judged and scored like any event, but its state is
  // older than what Tyr knows, so it changes neither a list's rules nor the room-state cache.
  if (event.contains("state_key") && book_.is_list(*room) && !recovered) lists_.on_list_event(event, batch);
  if (!rooms_.contains(*room)) return;
  if (scorer_ != nullptr) ensure_room_state(*room, batch);
  if (event.contains("state_key") && !recovered) room_state_.apply(event);
  if (*type == "m.room.member") {
    lists_.on_member(event, batch);
    if (scorer_ != nullptr) {
      scorer_->on_membership(event, event.value("origin_server_ts", int64_t{0}),
                             room_state_.facts(*room, event.value("state_key", "")));
      enqueue_requested(batch);
    }
    return;
  }
  if (scorer_ != nullptr) on_scored_event(event, batch);
}

void Bot::handle_management_message(const nlohmann::json& event, Batch& batch) {
  dispatch_command(*this, event, batch);
}

}  // namespace tyr::engine
