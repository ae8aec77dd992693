#include "engine/pipeline/bot.hpp"

#include "engine/metrics/tyr_metrics.hpp"

#include <algorithm>

#include "engine/actions/codec.hpp"
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

// ---- Bot ----

Bot::Bot(const Config& config, Store& store, HomeserverClient& client, PolicyBook& book)
    : config_(config), store_(store), client_(client), book_(book),
      lists_(config, store, book, rooms_, *this), audit_(store), room_state_(config.management.operators), bot_user_(config.bot_user_id()) {
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
  if (scorer_ != nullptr) {
    text += "\nVerdicts: " + std::to_string(verdicts_[1].load()) + " notify, " +
            std::to_string(verdicts_[2].load()) + " redact, " + std::to_string(verdicts_[3].load()) +
            " kick, " + std::to_string(verdicts_[4].load()) + " ban; shadow rules would have acted " +
            std::to_string(shadow_verdicts_.load()) + " times";
  }
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

}  // namespace tyr::engine
