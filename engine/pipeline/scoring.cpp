// The bot's side of custom rules and protections: the `rules` and `protections` commands, the
// timer and room-state reads that feed the scoring stage (engine/pipeline/scoring_stage.hpp,
// which scores events and acts on verdicts), reports, and the actions verdicts lead to.

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

ActionOutcome Bot::run_load_room_state(const nlohmann::json& action) {
  const std::string room = action.value("room", "");
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
    scoring_.room_state_loaded(room);
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

void Bot::tick(Batch& batch) {
  notice_summary(batch, /*force=*/false);
  if (auto pruned = audit_.maybe_prune(); !pruned) log::warn("audit", "prune: " + pruned.error().to_string());
  scoring_.tick(batch);
}

void Bot::cmd_protections(CommandContext& ctx) {
  ctx.reply(*this, scoring_.protections_command(ctx.args, ctx.batch));
}

ActionOutcome Bot::run_join_rule(const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  const std::string saved_key = "joinrule/" + room;
  nlohmann::json content;
  if (action.value("kind", "") == "set_join_rule") {
    auto current = client_.state_event(room, "m.room.join_rules");
    if (!current && current.error().code != "M_NOT_FOUND") return from_error("join rules of " + room, current.error());
    // Keep the rule in force before the first raise; a second raise must not overwrite it.
    if (!store_.get(Cf::kState, saved_key)) {
      batch.put(Cf::kState, saved_key, (current ? *current : nlohmann::json{{"join_rule", "public"}}).dump());
    }
    content = current ? *current : nlohmann::json::object();
    content["join_rule"] = action.value("join_rule", "invite");
  } else {
    auto saved = store_.get(Cf::kState, saved_key);
    if (!saved) return {};
    content = nlohmann::json::parse(*saved, nullptr, false);
    if (!content.is_object()) return {};
    batch.del(Cf::kState, saved_key);
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_set_state(bot_user_, "m.room.join_rules"); !why.empty()) {
    enqueue_notice(batch, management_room_, "Cannot change the join rule of " + room + ": " + why + ".");
    return {};
  }
  auto sent = client_.send_state(room, "m.room.join_rules", "", content);
  audit_action(batch, action, action.value("kind", "join_rule"), sent ? nullptr : &sent.error(), "live",
               "join rule " + content.value("join_rule", ""));
  if (!sent) {
    if (is_retryable(sent.error())) return from_error("join rules of " + room, sent.error());
    enqueue_notice(batch, management_room_, "Changing the join rule of " + room + " failed: " + sent.error().to_string());
    return {};
  }
  enqueue_notice(batch, management_room_, "Join rule of " + room + " is now " + content.value("join_rule", "") +
                                              " (" + action.value("protection", "protection") + ").");
  return {};
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

void Bot::cmd_report(CommandContext& ctx) {
  const std::string usage = "Usage: " + config_.management.command_prefix + " report <id> redact|kick|ban|ignore";
  if (ctx.args.size() != 2) {
    ctx.reply(*this, usage);
    return;
  }
  auto saved = store_.get(Cf::kState, "report/" + ctx.args[0]);
  if (!saved) {
    ctx.reply(*this, "No report " + ctx.args[0] + ".");
    return;
  }
  auto r = nlohmann::json::parse(*saved, nullptr, false);
  const std::string verb = ctx.args[1];
  const std::string room = r.value("room_id", ""), sender = r.value("sender", "");
  const std::string reason = "Abuse report " + ctx.args[0];
  if (verb == "ignore") {
    ctx.batch.del(Cf::kState, "report/" + ctx.args[0]);
    ctx.reply(*this, "Report " + ctx.args[0] + " ignored.");
    return;
  }
  if (verb != "redact" && verb != "kick" && verb != "ban") {
    ctx.reply(*this, usage);
    return;
  }
  if (is_exempt(sender)) {
    ctx.reply(*this, "Not acting on report " + ctx.args[0] + ": " + sender + " is exempt.");
    return;
  }
  if (verb != "redact") {
    nlohmann::json act = {{"kind", verb == "ban" ? "rule_ban" : "kick"}, {"room", room},
                          {"user", sender}, {"reason", reason}};
    store_.enqueue_action(ctx.batch, dump_json(act), Priority::kBan);
  }
  nlohmann::json redact = {{"kind", "redact_event"}, {"room", room}, {"event_id", r.value("event_id", "")},
                           {"sender", sender}, {"reason", reason}};
  store_.enqueue_action(ctx.batch, dump_json(redact), Priority::kRedact);
  ctx.batch.del(Cf::kState, "report/" + ctx.args[0]);
  ctx.reply(*this, "Report " + ctx.args[0] + ": " + (verb == "redact" ? "redacting" : verb == "kick" ? "redacting and kicking" : "redacting and banning") +
                       " " + sender + ".");
}

void Bot::cmd_rules(CommandContext& ctx) {
  EventScorer* scorer = scoring_.scorer();
  if (scorer == nullptr) {
    ctx.reply(*this, "No rules are configured (set rules.dir in Tyr's config).");
    return;
  }
  std::string text = "Rules:";
  for (const auto& line : scorer->describe()) text += "\n  " + line;
  text += "\n" + scoring_.verdict_line();
  ctx.reply(*this, text);
}

void Bot::cmd_rules_test(CommandContext& ctx) {
  EventScorer* scorer = scoring_.scorer();
  if (scorer == nullptr) {
    ctx.reply(*this, "No rules are configured (set rules.dir in Tyr's config).");
    return;
  }
  // The raw text after "rules test", so spacing and quotes are scored as typed.
  std::string body = ctx.event["content"].value("body", "");
  const auto pos = body.find("test");
  std::string text = pos == std::string::npos ? "" : body.substr(pos + 4);
  text.erase(0, text.find_first_not_of(" \t"));
  if (text.empty()) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix + " rules test <text>");
    return;
  }
  nlohmann::json event = {{"type", "m.room.message"},
                          {"event_id", "$rules-test"},
                          {"room_id", rooms_.size() ? rooms_.snapshot().begin()->first : management_room_},
                          {"sender", ctx.event.value("sender", "")},
                          {"origin_server_ts", now_ms()},
                          {"content", {{"msgtype", "m.text"}, {"body", text}}}};
  EventVerdict v = scorer->explain(event);
  std::string reply = "Verdict: " + std::string(action_name(v.action)) + ", score " +
                      format_score(v.score);
  if (v.shadow_action > v.action) reply += std::string(" (shadow rules: ") + action_name(v.shadow_action) + ")";
  reply += v.explanation.empty() ? "\nNo rule matched." : "\n" + v.explanation;
  ctx.reply(*this, reply);
}

void Bot::reload_rules(Batch& batch, const std::string& reply_to) {
  EventScorer* scorer = scoring_.scorer();
  if (scorer == nullptr) {
    enqueue_notice(batch, management_room_, "No rules are configured (set rules.dir in Tyr's config).", reply_to);
    return;
  }
  auto r = scorer->reload();
  if (!r) {
    log::error("rules", "reload failed: " + r.error().message);
    enqueue_notice(batch, management_room_,
                   "Rules NOT reloaded; the previous rules stay active. " + r.error().message, reply_to);
    return;
  }
  auto lines = scorer->describe();
  enqueue_notice(batch, management_room_,
                 "Rules reloaded: " + (lines.empty() ? std::string("no rules") : lines.front()) + ".",
                 reply_to);
}

void Bot::cmd_rules_reload(CommandContext& ctx) { reload_rules(ctx.batch, ctx.event.value("event_id", "")); }

ActionOutcome Bot::run_redact_event(uint64_t seq, const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  const std::string sender = action.value("sender", "");
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_redact(bot_user_, sender); !why.empty()) {
    post_notice(batch, "errors", "Cannot redact in " + room + ": " + why + ".");
    return {};
  }
  auto r = client_.redact(room, action.value("event_id", ""), txn_id(seq), action.value("reason", ""));
  audit_action(batch, action, "redact", r ? nullptr : &r.error());
  if (!r) {
    if (is_retryable(r.error())) return from_error("redact in " + room, r.error());
    post_notice(batch, "errors", "Redaction in " + room + " failed: " + r.error().to_string());
  }
  return {};
}

ActionOutcome Bot::run_kick(const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  const std::string user = action.value("user", "");
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (power->level(bot_user_) < power->kick_level() || power->level(user) >= power->level(bot_user_)) {
    post_notice(batch, "errors", "Cannot kick " + user + " from " + room + ": not enough power.");
    ActionOutcome refused;
    refused.result = "no_power";
    return refused;
  }
  auto member = client_.state_event(room, "m.room.member", user);
  const std::string membership = member ? member->value("membership", "") : "";
  if (membership != "join" && membership != "invite" && membership != "knock") {
    ActionOutcome skipped;  // already gone (an earlier kick, or they left)
    skipped.result = "skipped";
    return skipped;
  }
  auto r = client_.kick(room, user, action.value("reason", ""));
  audit_action(batch, action, "kick", r ? nullptr : &r.error());
  if (!r) {
    if (is_retryable(r.error())) return from_error("kick " + user, r.error());
    post_notice(batch, "errors", "Kicking " + user + " failed: " + r.error().to_string());
    ActionOutcome refused;
    refused.result = r.error().code.empty() ? "error" : r.error().code;
    return refused;
  }
  return {};
}

ActionOutcome Bot::run_rule_ban(const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  const std::string user = action.value("user", "");
  auto member = client_.state_event(room, "m.room.member", user);
  if (member && member->value("membership", "") == "ban") {  // never re-issue a ban
    ActionOutcome skipped;
    skipped.result = "skipped";
    return skipped;
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_ban(bot_user_, user); !why.empty()) {
    post_notice(batch, "errors", "Cannot ban " + user + " from " + room + ": " + why + ".");
    return {};
  }
  auto r = client_.ban(room, user, action.value("reason", ""));
  audit_action(batch, action, "ban", r ? nullptr : &r.error());
  if (!r) {
    if (is_retryable(r.error())) return from_error("ban " + user, r.error());
    post_notice(batch, "errors", "Banning " + user + " failed: " + r.error().to_string());
  }
  return {};
}

}  // namespace tyr::engine
