// Custom rules and protections in protected rooms: scoring each event, acting on the verdict
// (notify, redact, kick, ban) with an explanation, and the `rules` commands.

#include <chrono>
#include <cstdio>

#include "engine/audit/audit_format.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/pipeline/power.hpp"
#include "engine/pipeline/report_notice.hpp"

namespace tyr::engine {

namespace {

std::string fmt_score(double score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", score);
  return buf;
}

}  // namespace

void Bot::on_scored_event(const nlohmann::json& event, Batch& batch) {
  if (event.contains("state_key")) return;  // rules score messages, not state
  const std::string sender = event.value("sender", "");
  const std::string room = event.value("room_id", "");
  const std::string event_id = event.value("event_id", "");
  EventVerdict v;
  if (auto it = vetted_.find(event_id); it != vetted_.end()) {
    // Scored (and counted) when the homeserver asked the inline veto; allowed then.
    v = std::move(it->second);
    vetted_.erase(it);
  } else {
    v = scorer_->score_in_room(event, event.value("origin_server_ts", now_ms()), room_state_.facts(room, sender));
    enqueue_requested(batch);
    count_verdict(v, handle_started_);
  }
  act_on_verdict(event, v, /*refused=*/false, batch);
}

void Bot::count_verdict(const EventVerdict& v, std::chrono::steady_clock::time_point started) {
  auto& m = metrics::tyr_metrics();
  m.event_verdict_duration.observe_since(started);
  ++verdicts_[static_cast<int>(v.action)];
  if (v.shadow_action > v.action) ++shadow_verdicts_;
  m.verdicts.with(action_name(v.action)).inc();
  for (size_t i = 0; i < v.rules.size(); ++i) {
    const std::string& id = v.rules[i];
    const auto mode = metrics::mode(i < v.shadow.size() && v.shadow[i]);
    // Protection hits are "protection/SYMBOL"; rule ids have no slash.
    if (const size_t slash = id.find('/'); slash != std::string::npos) {
      m.protection_hits.with(std::string_view(id).substr(0, slash), mode).inc();
    } else {
      m.rule_hits.with(id, mode).inc();
    }
  }
}

void Bot::act_on_verdict(const nlohmann::json& event, const EventVerdict& v, bool refused, Batch& batch) {
  if (v.action == Action::kAllow && !refused) return;
  const std::string sender = event.value("sender", "");
  const std::string room = event.value("room_id", "");
  const std::string event_id = event.value("event_id", "");
  const bool exempt = is_exempt(sender);
  const bool dry = config_.policy.dry_run;
  std::string head = std::string(refused ? "refuse" : action_name(v.action)) + " (score " + fmt_score(v.score) +
                     ") for " + sender + " in " + room + ", event " + event_id;
  if (exempt) {
    post_notice(batch, "exempt", "Not acting on " + head + ": the sender is exempt.\n" + v.explanation);
    return;
  }
  const std::string reason = "Tyr rules: " + truncate_utf8(v.rules.empty() ? std::string("score") : v.rules.front(), 60);
  const nlohmann::json why = {{"rules", v.rules}, {"score", v.score}};
  if ((v.action == Action::kNotify && !refused) || dry) {
    post_notice(batch, dry && v.action != Action::kNotify ? "dry run" : "notify",
                   std::string(dry && v.action != Action::kNotify ? "[dry run] Would " : "Notice: ") + head +
                       "\n" + v.explanation);
    if (dry && v.action > Action::kNotify) {
      audit_action(batch, {{"room", room}, {"user", sender}, {"event_id", event_id}, {"reason", reason},
                           {"rules", v.rules}, {"score", v.score}},
                   action_name(v.action), nullptr, "dry_run");
    }
    return;
  }
  if (v.action >= Action::kKick) {
    nlohmann::json act = {{"kind", v.action == Action::kBan ? "rule_ban" : "kick"},
                          {"room", room}, {"user", sender}, {"reason", reason}, {"rules", v.rules}, {"score", v.score}};
    store_.enqueue_action(batch, dump_json(act), Priority::kBan);
  }
  if (refused) {
    post_notice(batch, "refused", "Refused before it was stored: " + head + "\n" + v.explanation);
    audit_action(batch, {{"room", room}, {"user", sender}, {"event_id", event_id}, {"reason", reason},
                         {"rules", v.rules}, {"score", v.score}},
                 "refuse_event", nullptr, "veto");
    return;
  }
  nlohmann::json redact = {{"kind", "redact_event"}, {"room", room}, {"event_id", event_id},
                           {"sender", sender}, {"reason", reason}, {"rules", v.rules}, {"score", v.score}};
  store_.enqueue_action(batch, dump_json(redact), Priority::kRedact);
  post_notice(batch, "acting", "Acting: " + head + "\n" + v.explanation);
}

void Bot::ensure_room_state(const std::string& room, Batch& batch) {
  if (room_state_.has(room)) return;
  const int64_t now = now_ms();
  if (auto it = room_state_asked_.find(room); it != room_state_asked_.end() && now - it->second < 60'000) return;
  room_state_asked_[room] = now;
  store_.enqueue_action(batch, nlohmann::json{{"kind", "load_room_state"}, {"room", room}}.dump());
}

ActionOutcome Bot::run(uint64_t, const actions::LoadRoomState& a, Batch&) {
  const std::string room = a.room;
  auto state = client_.room_state(room);
  if (!state) {
    if (is_retryable(state.error())) {
      return from_error("room state of " + room, state.error());
    }
    log::warn("bot", "could not read the state of " + room + " (" + state.error().to_string() +
                         "); protections see no power levels or names there");
    return {ActionOutcome::Kind::kFailed, {}, "room state of " + room + ": " + state.error().to_string()};
  }
  auto apply = [this, room, events = std::move(*state)] {
    if (!rooms_.contains(room)) return;
    room_state_.load(room, events);
    room_state_asked_.erase(room);
    log::info("bot", "room state of " + room + " loaded: " + std::to_string(room_state_.member_count(room)) +
                         " members");
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

void Bot::enqueue_requested(Batch& batch) {
  for (auto& a : scorer_->take_actions()) {
    const std::string kind = a.value("kind", "");
    const std::string room = a.value("room", "");
    const std::string user = a.value("user", "");
    const std::string who = a.value("protection", "");
    const bool shadow = a.value("shadow", false) || config_.policy.dry_run;
    if (kind == "notify") {
      post_notice(batch, "notify",
                     "[" + who + "] " + a.value("reason", a.value("text", "")) +
                         (room.empty() ? "" : " (room " + room + ")"));
      continue;
    }
    if (shadow) {
      post_notice(batch, "shadow",
                     "[" + who + ", shadow] Would " + kind + (user.empty() ? "" : " " + user) +
                         (room.empty() ? "" : " in " + room) + ".");
      audit_action(batch, a, kind, nullptr, config_.policy.dry_run && !a.value("shadow", false) ? "dry_run" : "shadow");
      continue;
    }
    if (!user.empty() && (kind == "kick" || kind == "ban" || kind == "redact_event") && is_exempt(user)) {
      continue;
    }
    nlohmann::json act = a;
    Priority prio = Priority::kControl;
    if (kind == "ban") {
      act["kind"] = "rule_ban";
      prio = Priority::kBan;
    } else if (kind == "kick") {
      prio = Priority::kBan;
    } else if (kind == "redact_event") {
      act["sender"] = user;
      prio = Priority::kRedact;
    } else if (kind != "set_join_rule" && kind != "restore_join_rule") {
      continue;
    }
    store_.enqueue_action(batch, dump_json(act), prio);
  }
}

void Bot::tick(Batch& batch) {
  notice_summary(batch, /*force=*/false);
  if (auto pruned = audit_.maybe_prune(); !pruned) log::warn("audit", "prune: " + pruned.error().to_string());
  if (scorer_ == nullptr) return;
  scorer_->on_timer(now_ms());
  enqueue_requested(batch);
  batch.put(Cf::kState, "protections/state", dump_json(scorer_->save_state()));
}

void Bot::on_report(const AbuseReport& report, Batch& batch) {
  const std::string id = std::to_string(report.id);
  const std::string& room = report.room_id;
  const std::string& event_id = report.event_id;
  const std::string& sender = report.sender;
  const std::string& reporter = report.reporter;
  nlohmann::json stored = {{"room_id", room}, {"event_id", event_id}, {"sender", sender},
                           {"reporter", reporter}, {"reason", report.reason}};
  batch.put(Cf::kState, "report/" + id, dump_json(stored));
  std::string excerpt, sent_at;
  if (auto ev = client_.call(HttpRequest{"GET", "/_matrix/client/v3/rooms/" + HomeserverClient::encode_segment(room) +
                                                    "/event/" + HomeserverClient::encode_segment(event_id),
                                         {}, std::nullopt, {}, {}})) {
    excerpt = reported_body(*ev);
    if (auto ts = ev->find("origin_server_ts"); ts != ev->end() && ts->is_number_integer()) {
      sent_at = format_utc(ts->get<int64_t>());
    }
  }
  // Context for the moderator: earlier reports against the sender, and what Tyr did about them.
  // (A count per sender: answered reports are forgotten, their number is not.)
  const std::string count_key = "reported/" + sender;
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
  std::string text = report_notice_text(
      report, {.excerpt = excerpt, .sent_at = sent_at, .earlier_reports = earlier,
               .history = history_text, .command_prefix = config_.management.command_prefix});
  const auto& trusted = config_.reports.trusted_reporters;
  if (std::find(trusted.begin(), trusted.end(), reporter) != trusted.end()) {
    // Distinct reporters count, not reports: "reporter/<event_id>/<user_id>" marks who already
    // did, written in the same batch as the count (the report worker commits each report alone,
    // so the next report of the same event sees both).
    const std::string key = "reportcount/" + event_id;
    const std::string reporter_key = "reporter/" + event_id + "/" + reporter;
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
      nlohmann::json redact = {{"kind", "redact_event"}, {"room", room}, {"event_id", event_id},
                               {"sender", sender}, {"reason", "Reported by trusted reporters"}};
      if (config_.policy.dry_run) {
        text += " [dry run: not done]";
      } else {
        store_.enqueue_action(batch, dump_json(redact), Priority::kRedact);
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
      if (auto it = item.find(key); it != item.end() && it->is_string()) *field = it->get<std::string>();
    }
  }
  e.reason = {{"worker", std::string(worker)}};
  e.detail = std::string(what) + ": " + escape_untrusted(error, 300);
  audit_.record(batch, std::move(e));
  post_notice(batch, "errors",
              "Could not handle " + std::string(what) + " (" + escape_untrusted(error, 200) +
                  "); it was set aside and Tyr went on. This is a bug: please report it with the log line.");
}

void Bot::reload_rules(Batch& batch, const std::string& reply_to) {
  if (scorer_ == nullptr) {
    enqueue_notice(batch, management_room_, "No rules are configured (set rules.dir in Tyr's config).", reply_to);
    return;
  }
  auto r = scorer_->reload();
  if (!r) {
    log::error("rules", "reload failed: " + r.error().message);
    enqueue_notice(batch, management_room_,
                   "Rules NOT reloaded; the previous rules stay active. " + r.error().message, reply_to);
    return;
  }
  auto lines = scorer_->describe();
  enqueue_notice(batch, management_room_,
                 "Rules reloaded: " + (lines.empty() ? std::string("no rules") : lines.front()) + ".",
                 reply_to);
}

}  // namespace tyr::engine
