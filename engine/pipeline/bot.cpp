#include "engine/pipeline/bot.hpp"

#include "engine/metrics/tyr_metrics.hpp"

#include <algorithm>

#include "engine/core/clock.hpp"
#include "engine/core/text.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/version.hpp"

namespace tyr::engine {

namespace {

constexpr std::string_view kRoomPrefix = "room/";

std::string format_duration(std::chrono::seconds s) {
  auto total = s.count();
  const long d = total / 86400, h = (total / 3600) % 24, m = (total / 60) % 60, sec = total % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d ";
  if (d || h) out += std::to_string(h) + "h ";
  if (d || h || m) out += std::to_string(m) + "m ";
  out += std::to_string(sec) + "s";
  return out;
}

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

// ---- RoomRegistry ----

std::optional<nlohmann::json> RoomRegistry::info(const std::string& room_id) const {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room_id);
  if (it == rooms_.end()) return std::nullopt;
  return it->second;
}

void RoomRegistry::load(const Store& store) {
  std::lock_guard lock(mu_);
  rooms_.clear();
  store.scan(Cf::kState, kRoomPrefix, [&](std::string_view key, std::string_view value) {
    auto info = nlohmann::json::parse(value, nullptr, false);
    rooms_[std::string(key.substr(kRoomPrefix.size()))] =
        info.is_discarded() ? nlohmann::json::object() : info;
  });
}

bool RoomRegistry::contains(const std::string& room_id) const {
  std::lock_guard lock(mu_);
  return rooms_.count(room_id) > 0;
}

void RoomRegistry::add(const std::string& room_id, nlohmann::json info) {
  std::lock_guard lock(mu_);
  rooms_[room_id] = std::move(info);
}

bool RoomRegistry::remove(const std::string& room_id) {
  std::lock_guard lock(mu_);
  return rooms_.erase(room_id) > 0;
}

std::string RoomRegistry::find(const std::string& id_or_alias) const {
  std::lock_guard lock(mu_);
  if (rooms_.count(id_or_alias)) return id_or_alias;
  for (const auto& [id, info] : rooms_) {
    if (info.value("alias", "") == id_or_alias) return id;
  }
  return {};
}

std::map<std::string, nlohmann::json> RoomRegistry::snapshot() const {
  std::lock_guard lock(mu_);
  return rooms_;
}

size_t RoomRegistry::size() const {
  std::lock_guard lock(mu_);
  return rooms_.size();
}

// ---- Bot ----

Bot::Bot(const Config& config, Store& store, HomeserverClient& client, PolicyBook& book)
    : config_(config), store_(store), client_(client), book_(book),
      audit_(store), room_state_(config.management.operators),
      scoring_(config, store, room_state_,
               {.is_exempt = [this](const std::string& user) { return is_exempt(user); },
                .notice = [this](Batch& batch, std::string_view category,
                                 const std::string& body) { post_notice(batch, category, body); },
                .audit = [this](Batch& batch, const nlohmann::json& action, std::string_view what,
                                std::string_view mode) { audit_action(batch, action, what, nullptr, mode); }}),
      bot_user_(config.bot_user_id()) {
  rooms_.load(store_);
  notices_.set_limit(config.management.notices_per_minute);
  notices_.set_category_limit("refused", config.veto.notices_per_minute);
}

const std::vector<Bot::CommandSpec>& Bot::command_table() {
  // Longer word paths first so that "rooms add" wins over "rooms".
  static const std::vector<CommandSpec> table = {
      {{"rooms", "add"}, "rooms add <room-id|#alias>", "join a room and protect it",
       &Bot::cmd_rooms_add},
      {{"rooms", "remove"}, "rooms remove <room-id|#alias>", "stop protecting a room",
       &Bot::cmd_rooms_remove},
      {{"rooms"}, "rooms", "list the protected rooms", &Bot::cmd_rooms},
      {{"lists", "watch"}, "lists watch <!room|#alias>", "follow a policy list room",
       &Bot::cmd_lists_watch},
      {{"lists", "unwatch"}, "lists unwatch <list>", "stop following a policy list",
       &Bot::cmd_lists_unwatch},
      {{"lists", "create"}, "lists create <shortcode>", "create a policy list Tyr can write",
       &Bot::cmd_lists_create},
      {{"lists"}, "lists", "the lists Tyr follows, with rule counts", &Bot::cmd_lists},
      {{"ban"}, "ban <list> [user|room|server] <entity> [reason]",
       "add a ban rule to a list Tyr writes", &Bot::cmd_ban},
      {{"unban"}, "unban <list> [user|room|server] <entity>", "remove that entity's rules",
       &Bot::cmd_unban},
      {{"takedown"}, "takedown <list> [user|room|server] <entity>",
       "add a takedown rule (ban and redact history)", &Bot::cmd_takedown},
      {{"allow", "remove"}, "allow remove <entity>", "take an entity off the allowlist",
       &Bot::cmd_allow_remove},
      {{"allow"}, "allow [entity]", "never act on an entity (no argument: show the allowlist)",
       &Bot::cmd_allow},
      {{"redact"}, "redact <user> [room]", "redact a user's recent messages",
       &Bot::cmd_redact},
      {{"rules", "test"}, "rules test <text>", "score a message as if sent in a protected room",
       &Bot::cmd_rules_test},
      {{"rules", "reload"}, "rules reload", "reload the rule files (also on SIGHUP)",
       &Bot::cmd_rules_reload},
      {{"rules"}, "rules", "the loaded rules and verdict counters", &Bot::cmd_rules},
      {{"report"}, "report <id> redact|kick|ban|ignore", "answer an abuse report",
       &Bot::cmd_report},
      {{"audit"}, "audit <user|room> [count]", "latest audit-trail entries about a user or room", &Bot::cmd_audit},
      {{"protections"},
       "protections [room] | protections enable|disable|shadow <name> [room] | "
       "protections config <name> <key> <value> [room]",
       "built-in protections: state, counters and settings", &Bot::cmd_protections},
      {{"status"}, "status", "version, uptime, protected rooms, lists and queues",
       &Bot::cmd_status},
      {{"ping"}, "ping [text]", "check that Tyr is listening", &Bot::cmd_ping},
      {{"help"}, "help", "this list", &Bot::cmd_help},
  };
  return table;
}

bool Bot::is_operator(std::string_view user_id) const {
  const auto& ops = config_.management.operators;
  return std::find(ops.begin(), ops.end(), user_id) != ops.end();
}

void Bot::CommandContext::reply(Bot& bot, const std::string& body) const {
  bot.enqueue_notice(batch, bot.management_room_, body, event.value("event_id", ""));
}

void Bot::enqueue_notice(Batch& batch, const std::string& room, const std::string& body,
                         const std::string& reply_to) {
  nlohmann::json action = {{"kind", "notice"}, {"room", room}, {"body", body}};
  if (!reply_to.empty()) action["reply_to"] = reply_to;
  store_.enqueue_action(batch, dump_json(action));
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
  nlohmann::json action = {{"kind", "notice"}, {"room", management_room_}, {"body", body}};
  store_.enqueue_action(batch, dump_json(action), Priority::kNotice);
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
    store_.enqueue_action(batch, nlohmann::json{{"kind", "watch_list"}, {"room", l.id}, {"quiet", true}}.dump());
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
  if (event.contains("state_key") && book_.is_list(*room) && !recovered) on_list_event(event, batch);
  if (!rooms_.contains(*room)) return;
  scoring_.ensure_room_state(*room, batch);
  if (event.contains("state_key") && !recovered) room_state_.apply(event);
  if (*type == "m.room.member") {
    on_member_event(event, batch);
    scoring_.on_membership(event, batch);
    return;
  }
  scoring_.on_event(event, handle_started_, batch);
}

void Bot::handle_management_message(const nlohmann::json& event, Batch& batch) {
  auto content = event.find("content");
  if (content == event.end() || !content->is_object()) return;
  const std::string* body = string_at(*content, "body");
  if (!body) return;
  if (auto rel = content->find("m.relates_to");
      rel != content->end() && rel->is_object() && rel->value("rel_type", "") == "m.replace") {
    return;  // edits are not new commands
  }
  auto parsed = parse_command(*body, config_.management.command_prefix);
  if (!parsed) return;
  const std::string& sender = event["sender"].get_ref<const std::string&>();
  if (!is_operator(sender)) {
    log::info("bot", "ignored a command from non-operator " + sender);
    return;
  }
  CommandContext ctx{event, {}, batch};
  if (!*parsed) {
    ctx.reply(*this, "Could not read that command: " + parsed->error().message);
    return;
  }
  const auto& words = parsed->value().words;
  if (words.empty()) {
    ctx.reply(*this, "Tyr is here. Try `" + config_.management.command_prefix + " help`.");
    return;
  }
  for (const auto& spec : command_table()) {
    if (words.size() < spec.words.size()) continue;
    bool match = true;
    for (size_t i = 0; i < spec.words.size(); ++i) {
      std::string w = words[i];
      std::transform(w.begin(), w.end(), w.begin(), ::tolower);
      if (w != spec.words[i]) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    ctx.args.assign(words.begin() + static_cast<long>(spec.words.size()), words.end());
    log::info("bot", sender + " ran: " + *string_at(event["content"], "body"));
    (this->*spec.fn)(ctx);
    return;
  }
  ctx.reply(*this, "Unknown command '" + words[0] + "'. Try `" +
                       config_.management.command_prefix + " help` for the list of commands.");
}

void Bot::cmd_help(CommandContext& ctx) {
  std::string text = "Tyr commands (prefix " + config_.management.command_prefix + "):";
  for (const auto& spec : command_table()) {
    text += "\n  " + std::string(spec.usage) + " — " + std::string(spec.summary);
  }
  ctx.reply(*this, text);
}

void Bot::cmd_status(CommandContext& ctx) {
  auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                             started_);
  std::string text = std::string("Tyr ") + kVersion + ", up " + format_duration(up);
  text += "\nProtected rooms: " + std::to_string(rooms_.size());
  size_t lists = 0;
  std::array<size_t, policy::kEntityKinds> totals{};
  for (const auto& l : book_.lists()) {
    ++lists;
    auto c = book_.counts(l.id);
    for (int k = 0; k < policy::kEntityKinds; ++k) totals[k] += c[k];
  }
  text += "\nWatched lists: " + std::to_string(lists) + " (" + std::to_string(totals[0]) +
          " user, " + std::to_string(totals[2]) + " server, " + std::to_string(totals[1]) +
          " room rules)";
  if (config_.policy.dry_run) text += "\nDry run: Tyr reports what it would do and does nothing";
  if (scoring_.active()) text += "\n" + scoring_.verdict_line();
  if (status_provider_) {
    for (const auto& line : status_provider_()) text += "\n" + line;
  }
  ctx.reply(*this, text);
}

void Bot::cmd_ping(CommandContext& ctx) {
  std::string text = "pong";
  for (const auto& a : ctx.args) text += " " + a;
  ctx.reply(*this, text);
}

void Bot::cmd_rooms(CommandContext& ctx) {
  auto rooms = rooms_.snapshot();
  if (rooms.empty()) {
    ctx.reply(*this, "No protected rooms. Invite me to a room, then run `" +
                         config_.management.command_prefix + " rooms add <room>`.");
    return;
  }
  std::string text = "Protected rooms (" + std::to_string(rooms.size()) + "):";
  for (const auto& [id, info] : rooms) {
    text += "\n  " + id;
    if (auto alias = info.value("alias", ""); !alias.empty()) text += " (" + alias + ")";
  }
  ctx.reply(*this, text);
}

void Bot::cmd_rooms_add(CommandContext& ctx) {
  if (ctx.args.size() != 1 || (!is_room_id(ctx.args[0]) && !is_room_alias(ctx.args[0]))) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix +
                         " rooms add <!room:server|#alias:server>");
    return;
  }
  const std::string& room = ctx.args[0];
  if (!rooms_.find(room).empty()) {
    ctx.reply(*this, room + " is already protected.");
    return;
  }
  nlohmann::json action = {{"kind", "join_protect"},
                           {"room", room},
                           {"requested_by", ctx.event.value("sender", "")},
                           {"reply_to", ctx.event.value("event_id", "")}};
  store_.enqueue_action(ctx.batch, dump_json(action));
}

void Bot::cmd_rooms_remove(CommandContext& ctx) {
  if (ctx.args.size() != 1) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix + " rooms remove <room>");
    return;
  }
  std::string id = rooms_.find(ctx.args[0]);
  if (id.empty()) {
    ctx.reply(*this, ctx.args[0] + " is not a protected room. See `" +
                         config_.management.command_prefix + " rooms`.");
    return;
  }
  ctx.batch.del(Cf::kState, std::string(kRoomPrefix) + id);
  rooms_.remove(id);
  room_state_.forget(id);
  ctx.reply(*this, "No longer protecting " + id + ".");
}

std::string Bot::txn_id(uint64_t seq) const {
  return "tyr." + store_.instance_id() + "." + std::to_string(seq);
}

ActionOutcome Bot::run_action(uint64_t seq, const nlohmann::json& action, Batch& batch) {
  const std::string kind = action.value("kind", "");
  if (kind == "notice") {
    // Notices quote what others wrote (names, reasons, excerpts), so nothing in the body may
    // ping: an m.mentions naming nobody turns off the body-based mention rules ("@room",
    // display names, user IDs; spec v1.7 intentional mentions). Tyr never means to ping.
    nlohmann::json content = {{"msgtype", "m.notice"},
                              {"body", action.value("body", "")},
                              {"m.mentions", nlohmann::json::object()}};
    if (auto r = action.value("reply_to", ""); !r.empty()) {
      content["m.relates_to"] = {{"m.in_reply_to", {{"event_id", r}}}};
    }
    auto res = client_.send_event(action.value("room", ""), "m.room.message", content, txn_id(seq));
    if (res) return {};
    return from_error("notice", res.error());
  }
  if (kind == "join_protect") return run_join_protect(action, batch);
  if (kind == "load_room_state") return run_load_room_state(action);
  if (kind == "catch_up") return run_catch_up(action, batch);
  if (kind == "watch_list") return run_watch_list(seq, action, batch);
  if (kind == "create_list") return run_create_list(seq, action, batch);
  if (kind == "set_rule") return run_set_rule(action, batch);
  if (kind == "sweep") return run_sweep(action, batch);
  if (kind == "ban") return run_ban(action, batch);
  if (kind == "unban_check") return run_unban_check(action, batch);
  if (kind == "unban") return run_unban(action, batch);
  if (kind == "acl") return run_acl(action, batch);
  if (kind == "redact_user") return run_redact_user(seq, action, batch);
  if (kind == "redact_event") return run_redact_event(seq, action, batch);
  if (kind == "kick") return run_kick(action, batch);
  if (kind == "rule_ban") return run_rule_ban(action, batch);
  if (kind == "set_join_rule" || kind == "restore_join_rule") return run_join_rule(action, batch);
  return {ActionOutcome::Kind::kFailed, {}, "unknown action kind '" + kind + "'"};
}

ActionOutcome Bot::run_join_protect(const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  const std::string reply_to = action.value("reply_to", "");
  auto banned_room = [&](const std::string& id) {
    std::vector<const policy::PolicyRule*> hits;
    auto snapshot = book_.index().snapshot();
    snapshot->match(policy::EntityKind::kRoom, id, hits);
    for (const auto* r : hits) {
      if (r->recommendation != policy::Recommendation::kUnknown && !book_.is_shadow(r->list)) {
        enqueue_notice(batch, management_room_,
                       "Refusing to protect " + id + ": it is banned by " + r->list + " (rule " +
                           escape_untrusted(r->state_key, kMaxQuotedReason) +
                           (r->reason.empty() ? "" : ": " + quote_untrusted(r->reason, kMaxQuotedReason)) +
                           ").",
                       reply_to);
        return true;
      }
    }
    return false;
  };
  if (banned_room(room)) return {};
  auto joined = client_.join(room);
  if (!joined) {
    if (is_retryable(joined.error())) return from_error("join " + room, joined.error());
    enqueue_notice(batch, management_room_,
                   "Could not join " + room + ": " + joined.error().to_string() +
                       ". Invite me first, then try again.",
                   reply_to);
    return {};
  }
  const std::string& room_id = joined.value();
  if (room_id == management_room_) {
    enqueue_notice(batch, management_room_, "The management room cannot be a protected room.",
                   reply_to);
    return {};
  }
  if (room_id != room && banned_room(room_id)) {
    (void)client_.leave(room_id, "This room is on a ban list");
    return {};
  }
  nlohmann::json info = {{"added_by", action.value("requested_by", "")}, {"added_ts", now_ms()}};
  if (is_room_alias(room)) info["alias"] = room;
  batch.put(Cf::kState, std::string(kRoomPrefix) + room_id, dump_json(info));
  rooms_.add(room_id, info);
  // Protections see power levels and names from the first event on (a failure is logged and
  // retried by the event path).
  run_load_room_state(nlohmann::json{{"room", room_id}});
  // Apply every list to the new room at once.
  store_.enqueue_action(batch, nlohmann::json{{"kind", "sweep"}, {"room", room_id}}.dump());
  store_.enqueue_action(batch, nlohmann::json{{"kind", "acl"}, {"room", room_id}}.dump(),
                        Priority::kAcl);
  enqueue_notice(batch, management_room_,
                 "Now protecting " + room_id + (is_room_alias(room) ? " (" + room + ")" : "") + ".",
                 reply_to);
  return {};
}

}  // namespace tyr::engine
