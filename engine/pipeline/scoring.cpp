// The bot's side of custom rules and protections: the `rules` and `protections` commands, the
// timer and room-state reads that feed the scoring stage (engine/pipeline/scoring_stage.hpp,
// which scores events and acts on verdicts), reports, and the actions verdicts lead to.

#include <chrono>
#include <cstdio>

#include "engine/actions/codec.hpp"
#include "engine/audit/audit_format.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/power.hpp"
#include "engine/pipeline/report_notice.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

ActionOutcome Bot::run(uint64_t, const actions::LoadRoomState& a, Batch&) {
  const std::string room = a.room;
  auto state = client_.room_state(room);
  if (!state) {
    if (is_retryable(state.error())) {
      return from_error("room state of " + room, state.error());
    }
    log::warn("bot", "could not read the state of " + room + " (" + state.error().to_string() +
                         "); protections see no power levels or names there");
    return {ActionOutcome::Kind::kFailed,
            {},
            "room state of " + room + ": " + state.error().to_string()};
  }
  auto apply = [this, room, events = std::move(*state)] {
    if (!rooms_.contains(room)) return;
    room_state_.load(room, events);
    scoring_.room_state_loaded(room);
    log::info("bot", "room state of " + room +
                         " loaded: " + std::to_string(room_state_.member_count(room)) + " members");
  };
  if (pipeline_post_) {
    pipeline_post_(std::move(apply));
  } else {
    apply();
  }
  return {};
}

bool Bot::is_exempt(const std::string& user) const {
  const auto& ops = config_.management.operators;
  return user == bot_user_ || std::find(ops.begin(), ops.end(), user) != ops.end() ||
         is_allowlisted(user) || is_allowlisted(std::string(strip_port(server_of(user))));
}

void Bot::tick(Batch& batch) {
  notice_summary(batch, /*force=*/false);
  if (auto pruned = audit_.maybe_prune(); !pruned)
    log::warn("audit", "prune: " + pruned.error().to_string());
  scoring_.tick(batch);
}

void Bot::on_report(const AbuseReport& report, Batch& batch) {
  const std::string id = std::to_string(report.id);
  const std::string& room = report.room_id;
  const std::string& event_id = report.event_id;
  const std::string& sender = report.sender;
  const std::string& reporter = report.reporter;
  nlohmann::json stored = {{"room_id", room},
                           {"event_id", event_id},
                           {"sender", sender},
                           {"reporter", reporter},
                           {"reason", report.reason}};
  batch.put(Cf::kState, std::string(state_keys::kReport) + id, dump_json(stored));
  std::string excerpt, sent_at;
  if (auto ev = client_.call(HttpRequest{"GET",
                                         "/_matrix/client/v3/rooms/" +
                                             HomeserverClient::encode_segment(room) + "/event/" +
                                             HomeserverClient::encode_segment(event_id),
                                         {},
                                         std::nullopt,
                                         {},
                                         {}})) {
    excerpt = reported_body(*ev);
    if (auto ts = ev->find("origin_server_ts"); ts != ev->end() && ts->is_number_integer()) {
      sent_at = format_utc(ts->get<int64_t>());
    }
  }
  // Context for the moderator: earlier reports against the sender, and what Tyr did about them.
  // (A count per sender: answered reports are forgotten, their number is not.)
  const std::string count_key = std::string(state_keys::kReported) + sender;
  size_t earlier = 0;
  try {
    earlier = std::stoul(store_.get(Cf::kState, count_key).value_or("0"));
  } catch (...) {
  }
  batch.put(Cf::kState, count_key, std::to_string(earlier + 1));
  std::string history_text;
  if (!sender.empty()) {  // an empty user would query everyone's entries
    AuditQuery history_query;
    history_query.user = sender;
    history_query.limit = 4;
    const auto history = audit_.query(history_query);
    if (!history.empty()) history_text = format_audit_for_room(history, 3);
  }
  std::string text =
      report_notice_text(report, {.excerpt = excerpt,
                                  .sent_at = sent_at,
                                  .earlier_reports = earlier,
                                  .history = history_text,
                                  .command_prefix = config_.management.command_prefix});
  const auto& trusted = config_.reports.trusted_reporters;
  if (std::find(trusted.begin(), trusted.end(), reporter) != trusted.end()) {
    // Distinct reporters count, not reports: "reporter/<event_id>/<user_id>" marks who already
    // did, written in the same batch as the count (the report worker commits each report alone,
    // so the next report of the same event sees both).
    const std::string key = std::string(state_keys::kReportCount) + event_id;
    const std::string reporter_key = std::string(state_keys::kReporter) + event_id + "/" + reporter;
    int count = 0;
    try {
      count = std::stoi(store_.get(Cf::kState, key).value_or("0"));
    } catch (...) {
    }
    const bool again = store_.get(Cf::kState, reporter_key).has_value();
    if (!again) {
      ++count;
      batch.put(Cf::kState, key, std::to_string(count));
      batch.put(Cf::kState, reporter_key, id);
    }
    text += "\nTrusted reports of this event: " + std::to_string(count) + " of " +
            std::to_string(config_.reports.trusted_reports_to_redact) +
            (again ? " (this reporter was counted already)." : ".");
    if (!again && count == config_.reports.trusted_reports_to_redact && !is_exempt(sender)) {
      text += " Redacting it.";
      if (config_.policy.dry_run) {
        text += " [dry run: not done]";
      } else {
        actions::enqueue(
            store_, batch,
            actions::RedactEvent{room, event_id, sender, "Reported by trusted reporters", {}});
      }
    }
  }
  enqueue_notice(batch, management_room_, text);
}

void Bot::on_poisoned(std::string_view worker, const nlohmann::json& item, std::string_view what,
                      std::string_view error, Batch& batch) {
  // Tyr's own failure, not an action on anyone: no reason, the error as detail.
  AuditEntry e;
  e.action = "set_aside";
  e.mode = "live";
  e.outcome = "failed";
  if (item.is_object()) {
    for (const auto& [field, key] : {std::pair{&e.user, "sender"}, std::pair{&e.room, "room_id"},
                                     std::pair{&e.event_id, "event_id"}}) {
      if (auto it = item.find(key); it != item.end() && it->is_string())
        *field = it->get<std::string>();
    }
  }
  e.reason = {{"worker", std::string(worker)}};
  e.detail = std::string(what) + ": " + escape_untrusted(error, 300);
  audit_.record(batch, std::move(e));
  post_notice(batch, "errors",
              "Could not handle " + std::string(what) + " (" + escape_untrusted(error, 200) +
                  "); it was set aside and Tyr went on. This is a bug: please report it with the "
                  "log line.");
}

void Bot::reload_rules(Batch& batch, const std::string& reply_to) {
  EventScorer* scorer = scoring_.scorer();
  if (scorer == nullptr) {
    enqueue_notice(batch, management_room_,
                   "No rules are configured (set rules.dir in Tyr's config).", reply_to);
    return;
  }
  auto r = scorer->reload();
  if (!r) {
    log::error("rules", "reload failed: " + r.error().message);
    enqueue_notice(batch, management_room_,
                   "Rules NOT reloaded; the previous rules stay active. " + r.error().message,
                   reply_to);
    return;
  }
  auto lines = scorer->describe();
  enqueue_notice(
      batch, management_room_,
      "Rules reloaded: " + (lines.empty() ? std::string("no rules") : lines.front()) + ".",
      reply_to);
}

}  // namespace tyr::engine
