#include "engine/pipeline/bot.hpp"

#include "engine/metrics/tyr_metrics.hpp"

#include <algorithm>

#include "engine/actions/codec.hpp"
#include "engine/commands/command.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/core/version.hpp"

namespace tyr::engine {

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
    : config_(config),
      store_(store),
      client_(client),
      book_(book),
      lists_(config, store, book, rooms_, *this),
      audit_(store),
      room_state_(config.management.operators),
      scoring_(config, store, room_state_,
               {.is_exempt = [this](const std::string& user) { return is_exempt(user); },
                .notice = [this](Batch& batch, std::string_view category,
                                 const std::string& body) { post_notice(batch, category, body); },
                .audit =
                    [this](Batch& batch, const nlohmann::json& action, std::string_view what,
                           std::string_view mode) {
                      audit_action(batch, action, what, nullptr, mode);
                    }}),
      router_(config.bot_user_id(), route_targets()),
      bot_user_(config.bot_user_id()) {
  rooms_.load(store_);
  notices_.set_limit(config.management.notices_per_minute);
  notices_.set_category_limit("refused", config.veto.notices_per_minute);
}

void Bot::enqueue_notice(Batch& batch, const std::string& room, const std::string& body,
                         const std::string& reply_to) {
  actions::enqueue(store_, batch, actions::Notice{room, body, reply_to});
}

void Bot::notify(Batch& batch, const std::string& body) {
  enqueue_notice(batch, management_room_, body);
}

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
  queue_unsolicited(batch, *text + "; see `" + prefix + " status`, `" + prefix +
                               " audit <user|room>` and /metrics.");
}

void Bot::enqueue_list_reloads(Batch& batch) {
  for (const auto& l : book_.lists()) {
    if (l.feed) continue;
    actions::enqueue(store_, batch,
                     actions::WatchList{.room = l.id, .reply_to = {}, .quiet = true});
  }
}

void Bot::handle_event(const nlohmann::json& event, Batch& batch) {
  EventRouter::read(event, [&](const RoutedEvent& e) {
    handle_started_ = std::chrono::steady_clock::now();
    metrics::tyr_metrics().events_received.with(e.type).inc();
    if (log::enabled(log::Level::kDebug)) {  // the line costs allocations; most runs skip it
      log::debug("bot", "event " + event.value("event_id", "") + " " + e.type + " from " +
                            e.sender + " in " + e.room + (e.recovered ? " (from history)" : ""));
    }
    router_.route(e, batch);
  });
}

EventRouter::Targets Bot::route_targets() {
  return {
      .is_list_room = [this](const std::string& room) { return book_.is_list(room); },
      .is_protected = [this](const std::string& room) { return rooms_.contains(room); },
      .scoring_active = [this] { return scoring_.active() || scoring_.protections() != nullptr; },
      .command = [this](const nlohmann::json& event,
                        Batch& batch) { commands::dispatch_command(*this, event, batch); },
      .list_state = [this](const nlohmann::json& event,
                           Batch& batch) { lists_.on_list_event(event, batch); },
      .room_seen = [this](const std::string& room,
                          Batch& batch) { scoring_.ensure_room_state(room, batch); },
      .room_state = [this](const nlohmann::json& event) { room_state_.apply(event); },
      .list_membership = [this](const nlohmann::json& event,
                                Batch& batch) { lists_.on_member(event, batch); },
      .scored_membership = [this](const nlohmann::json& event,
                                  Batch& batch) { scoring_.on_membership(event, batch); },
      .scored_message = [this](const nlohmann::json& event,
                               Batch& batch) { scoring_.on_event(event, handle_started_, batch); },
      .redaction = [this](const nlohmann::json& event, bool by_tyr,
                          Batch& batch) { scoring_.on_redaction(event, by_tyr, batch); },
      .power_levels = [this](const std::string& room) { power_cache_.forget_power_levels(room); },
  };
}

}  // namespace tyr::engine
