// Ban-list enforcement: judging users against the watched lists, reacting to rule changes, and
// the executor actions that ban, unban, update server ACLs, redact and publish rules.

#include <algorithm>
#include <thread>

#include "engine/core/clock.hpp"
#include "engine/core/text.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/power.hpp"
#include "engine/core/glob.hpp"
#include "engine/policy/policy_rule.hpp"
#include "engine/policy/server_acl.hpp"

namespace tyr::engine {

using policy::EntityKind;
using policy::PolicyRule;
using policy::Recommendation;
using policy::describe_rule;

namespace {

constexpr char kSep = '\x1f';
constexpr std::string_view kAllowPrefix = "allow/";
constexpr std::string_view kBanPrefix = "ban/";          // ban/<room>\x1f<user> -> JSON record
constexpr std::string_view kBanRulePrefix = "banrule/";  // banrule/<list>\x1f<key>\x1f<room>\x1f<user>
constexpr size_t kMaxRedactions = 1000;

bool enforceable(const PolicyRule& r) {
  return r.recommendation == Recommendation::kBan || r.recommendation == Recommendation::kTakedown;
}

EntityKind infer_kind(const std::string& entity) {
  if (!entity.empty() && entity[0] == '@') return EntityKind::kUser;
  if (!entity.empty() && (entity[0] == '!' || entity[0] == '#')) return EntityKind::kRoom;
  return EntityKind::kServer;
}

}  // namespace

// ---- judging ----

bool Bot::is_allowlisted(const std::string& entity) const {
  for (const auto& a : config_.policy.allow) {
    if (glob_matches(a, entity)) return true;
  }
  bool found = false;
  store_.scan(Cf::kState, kAllowPrefix, [&](std::string_view key, std::string_view) {
    if (!found && glob_matches(key.substr(kAllowPrefix.size()), entity)) found = true;
  });
  return found;
}

std::vector<std::string> Bot::protected_servers() const {
  std::vector<std::string> out;
  for (const auto& op : config_.management.operators) out.emplace_back(server_of(op));
  for (const auto& a : config_.policy.allow) {
    if (!a.empty() && a[0] != '@' && a[0] != '!' && a[0] != '#' && !is_glob(a)) out.push_back(a);
  }
  return out;
}

Judgement Bot::judge_user(const std::string& user_id) const {
  policy::JudgeContext ctx;
  ctx.bot_user = bot_user_;
  ctx.own_server = config_.homeserver.server_name;
  ctx.operators = config_.management.operators;
  ctx.protected_servers = protected_servers();
  ctx.dry_run = config_.policy.dry_run;
  ctx.is_shadow = [this](const std::string& list) { return book_.is_shadow(list); };
  ctx.is_allowlisted = [this](const std::string& e) { return is_allowlisted(e); };
  return policy::judge_user(book_.index(), ctx, user_id);
}

// ---- event path ----

void Bot::on_member_event(const nlohmann::json& event, Batch& batch) {
  const auto content = event.value("content", nlohmann::json::object());
  const std::string membership = content.is_object() ? content.value("membership", "") : "";
  if (membership != "join" && membership != "invite" && membership != "knock") return;
  const std::string user = event.value("state_key", "");
  if (!is_user_id(user)) return;
  Judgement j = judge_user(user);
  if (!j.matches.empty() && !j.exempt.empty()) {
    post_notice(batch, "exempt",
                   "Not banning " + user + " (" + j.exempt + ") although it matches " +
                       describe_rule(j.matches.front()) + ".");
    return;
  }
  if (j.act) enqueue_ban(batch, event.value("room_id", ""), user, j);
}

void Bot::on_list_event(const nlohmann::json& event, Batch& batch) {
  const std::string room = event.value("room_id", "");
  std::string problem;
  auto diff = book_.apply_event(batch, room, event, &problem);
  if (!problem.empty()) {
    log::warn("policy", "list " + room + ": invalid rule event " + event.value("event_id", "") +
                            " (" + event.value("type", "") + " " + event.value("state_key", "") +
                            "): " + problem + "; treated as a removal");
  }
  if (diff && (diff->added || diff->removed)) on_rule_diffs({*diff}, batch);
}

void Bot::enqueue_ban(Batch& batch, const std::string& room, const std::string& user,
                      const Judgement& j) {
  const PolicyRule& r = j.matches.front();
  {
    const auto list = book_.find(r.list);
    metrics::tyr_metrics()
        .list_matches.with(metrics::list_label(list ? list->shortcode : "", list ? list->alias : "", r.list),
                           metrics::mode(j.shadow))
        .inc();
  }
  nlohmann::json action = {{"kind", "ban"},        {"room", room},          {"user", user},
                           {"reason", r.reason.empty() ? "listed in " + r.list : r.reason},
                           {"list", r.list},       {"state_key", r.state_key},
                           {"rule", describe_rule(r)}, {"shadow", j.shadow}};
  store_.enqueue_action(batch, dump_json(action), Priority::kBan);
  if (j.takedown) {
    nlohmann::json redact = {{"kind", "redact_user"}, {"room", room}, {"user", user},
                             {"window_s", config_.policy.takedown_redact_window.count()},
                             {"shadow", j.shadow}};
    store_.enqueue_action(batch, dump_json(redact), Priority::kRedact);
  }
}

void Bot::schedule_sweeps(Batch& batch) {
  // Largest rooms first: the member counts seen by the last sweep order them.
  auto rooms = rooms_.snapshot();
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [id, info] : rooms) order.emplace_back(-info.value("members", int64_t{0}), id);
  std::sort(order.begin(), order.end());
  std::lock_guard lock(pending_mu_);
  for (const auto& [neg, id] : order) {
    if (!pending_sweeps_.insert(id).second) continue;
    store_.enqueue_action(batch, nlohmann::json{{"kind", "sweep"}, {"room", id}}.dump());
  }
}

void Bot::schedule_acl(Batch& batch) {
  std::lock_guard lock(pending_mu_);
  for (const auto& [id, info] : rooms_.snapshot()) {
    if (!pending_acl_.insert(id).second) continue;
    store_.enqueue_action(batch, nlohmann::json{{"kind", "acl"}, {"room", id}}.dump(), Priority::kAcl);
  }
}

void Bot::on_rule_diffs(const std::vector<policy::ListDiff>& diffs, Batch& batch) {
  bool sweep = false, acl = false;
  for (const auto& d : diffs) {
    if (d.removed && enforceable(*d.removed)) {
      if (d.removed->kind == EntityKind::kServer) acl = true;
      if (d.removed->kind != EntityKind::kRoom) {
        nlohmann::json check = {{"kind", "unban_check"}, {"list", d.removed->list},
                                {"state_key", d.removed->state_key}};
        store_.enqueue_action(batch, dump_json(check), Priority::kBan);
      }
    }
    if (d.added && enforceable(*d.added)) {
      if (d.added->kind == EntityKind::kServer) acl = true;
      if (d.added->kind != EntityKind::kRoom) sweep = true;
      if (d.added->kind == EntityKind::kRoom) {
        for (const auto& [id, info] : rooms_.snapshot()) {
          std::vector<const PolicyRule*> hits;
          auto snapshot = book_.index().snapshot();
          snapshot->match(EntityKind::kRoom, id, hits);
          const std::string alias = info.value("alias", "");
          if (!alias.empty()) snapshot->match(EntityKind::kRoom, alias, hits);
          if (!hits.empty()) {
            enqueue_notice(batch, management_room_,
                           "Protected room " + id + " is now on a ban list: " +
                               describe_rule(*hits.front()) +
                               ". Consider `" + config_.management.command_prefix +
                               " rooms remove " + id + "`.");
          }
        }
      }
    }
  }
  if (rooms_.size() == 0) return;
  if (sweep) schedule_sweeps(batch);
  if (acl) schedule_acl(batch);
}

size_t Bot::apply_feed(const std::string& name, const std::vector<PolicyRule>& rules, bool shadow) {
  auto diffs = book_.replace_feed(name, rules, shadow);
  if (diffs.empty()) return 0;
  Batch batch;
  on_rule_diffs(diffs, batch);
  if (auto r = store_.commit(batch); !r) log::error("policy", "feed commit: " + r.error().to_string());
  return diffs.size();
}

// ---- commands ----

void Bot::cmd_lists(CommandContext& ctx) {
  auto lists = book_.lists();
  if (lists.empty()) {
    ctx.reply(*this, "No lists. Watch one with `" + config_.management.command_prefix +
                         " lists watch <#alias|!room>` or create one with `" +
                         config_.management.command_prefix + " lists create <shortcode>`.");
    return;
  }
  std::string text = "Lists (" + std::to_string(lists.size()) + "):";
  for (const auto& l : lists) {
    auto c = book_.counts(l.id);
    text += "\n  " + l.id;
    if (!l.alias.empty()) text += " (" + l.alias + ")";
    if (!l.shortcode.empty()) text += " [" + l.shortcode + "]";
    if (l.writable) text += " writable";
    if (l.shadow) text += " shadow";
    text += ": " + std::to_string(c[0]) + " user, " + std::to_string(c[2]) + " server, " +
            std::to_string(c[1]) + " room rules";
    if (auto ignored = book_.ignored_rules(l.id)) {
      text += " (+" + std::to_string(ignored) + " with a recommendation Tyr ignores)";
    }
  }
  ctx.reply(*this, text);
}

void Bot::cmd_lists_watch(CommandContext& ctx) {
  if (ctx.args.size() != 1 || (!is_room_id(ctx.args[0]) && !is_room_alias(ctx.args[0]))) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix + " lists watch <!room|#alias>");
    return;
  }
  if (auto l = book_.find(ctx.args[0])) {
    ctx.reply(*this, "Already watching " + l->id + ".");
    return;
  }
  nlohmann::json action = {{"kind", "watch_list"}, {"room", ctx.args[0]},
                           {"reply_to", ctx.event.value("event_id", "")}};
  store_.enqueue_action(ctx.batch, dump_json(action));
}

void Bot::cmd_lists_unwatch(CommandContext& ctx) {
  if (ctx.args.size() != 1) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix + " lists unwatch <list>");
    return;
  }
  auto l = book_.find(ctx.args[0]);
  if (!l || l->feed) {
    ctx.reply(*this, ctx.args[0] + " is not a watched list room.");
    return;
  }
  auto diffs = book_.unwatch(ctx.batch, l->id);
  on_rule_diffs(diffs, ctx.batch);
  ctx.reply(*this, "No longer watching " + l->id + " (" + std::to_string(diffs.size()) +
                       " rules dropped; bans made because of them will be lifted).");
}

void Bot::cmd_lists_create(CommandContext& ctx) {
  if (ctx.args.size() != 1 || ctx.args[0].empty() || ctx.args[0].size() > 32 ||
      ctx.args[0].find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix +
                         " lists create <shortcode> (lower-case letters, digits, '-' and '_')");
    return;
  }
  if (book_.find(ctx.args[0])) {
    ctx.reply(*this, "A list named " + ctx.args[0] + " exists already.");
    return;
  }
  nlohmann::json action = {{"kind", "create_list"}, {"shortcode", ctx.args[0]},
                           {"reply_to", ctx.event.value("event_id", "")}};
  store_.enqueue_action(ctx.batch, dump_json(action));
}

void Bot::write_rule(CommandContext& ctx, const std::string& recommendation) {
  const std::string& prefix = config_.management.command_prefix;
  auto& a = ctx.args;
  const bool clear = recommendation.empty();
  if (a.size() < 2) {
    ctx.reply(*this, "Usage: " + prefix + (clear ? " unban" : " ban") +
                         " <list> [user|room|server] <entity>" + (clear ? "" : " [reason]"));
    return;
  }
  auto list = book_.find(a[0]);
  if (!list || !list->writable) {
    ctx.reply(*this, a[0] + " is not a list Tyr can write. Create one with `" + prefix +
                         " lists create <shortcode>`.");
    return;
  }
  size_t i = 1;
  std::optional<EntityKind> kind;
  if (a.size() > 2) kind = policy::kind_from_name(a[1]);
  if (kind) ++i;
  const std::string entity = a[i++];
  if (!kind) kind = infer_kind(entity);
  std::string reason;
  for (; i < a.size(); ++i) reason += (reason.empty() ? "" : " ") + a[i];
  if (!clear && *kind == EntityKind::kUser && entity == bot_user_) {
    ctx.reply(*this, "Tyr will not ban itself.");
    return;
  }
  const std::string type = policy::stable_type(*kind);
  if (clear) {
    auto rules = book_.rules_for_entity(list->id, entity);
    if (rules.empty()) {
      ctx.reply(*this, "No rule for " + entity + " in " + a[0] + ".");
      return;
    }
    for (const auto& r : rules) {
      // Clear the key in every family, as Mjolnir does, so no legacy copy survives.
      for (const char* prefix_type : {"m.policy.rule.", "m.room.rule.", "org.matrix.mjolnir.rule."}) {
        nlohmann::json action = {{"kind", "set_rule"},
                                 {"list", list->id},
                                 {"type", std::string(prefix_type) + std::string(policy::kind_name(r.kind))},
                                 {"state_key", r.state_key},
                                 {"content", nlohmann::json::object()},
                                 {"reply_to", ctx.event.value("event_id", "")},
                                 {"summary", std::string(prefix_type) == "m.policy.rule."
                                                 ? "Removed the rule for " + entity + " from " + a[0] + "."
                                                 : ""}};
        store_.enqueue_action(ctx.batch, dump_json(action));
      }
    }
    return;
  }
  nlohmann::json content = {{"entity", entity}, {"recommendation", recommendation}};
  if (recommendation == "m.ban") content["reason"] = reason.empty() ? "banned by Tyr" : reason;
  else if (!reason.empty()) content["reason"] = reason;
  nlohmann::json action = {{"kind", "set_rule"},
                           {"list", list->id},
                           {"type", type},
                           {"state_key", "rule:" + entity},
                           {"content", content},
                           {"reply_to", ctx.event.value("event_id", "")},
                           {"summary", std::string(recommendation == "m.ban" ? "Banned " : "Took down ") +
                                           entity + " (" + std::string(policy::kind_name(*kind)) +
                                           ") in " + a[0] + "."}};
  store_.enqueue_action(ctx.batch, dump_json(action));
}

void Bot::cmd_ban(CommandContext& ctx) { write_rule(ctx, "m.ban"); }
void Bot::cmd_unban(CommandContext& ctx) { write_rule(ctx, ""); }
void Bot::cmd_takedown(CommandContext& ctx) { write_rule(ctx, "m.takedown"); }

void Bot::cmd_allow(CommandContext& ctx) {
  if (ctx.args.empty()) {
    std::string text = "Allowlist (never acted on):";
    for (const auto& a : config_.policy.allow) text += "\n  " + a + " (config)";
    store_.scan(Cf::kState, kAllowPrefix, [&](std::string_view key, std::string_view) {
      text += "\n  " + std::string(key.substr(kAllowPrefix.size()));
    });
    ctx.reply(*this, text);
    return;
  }
  if (ctx.args.size() != 1) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix + " allow <entity>");
    return;
  }
  ctx.batch.put(Cf::kState, std::string(kAllowPrefix) + ctx.args[0], std::to_string(now_ms()));
  ctx.reply(*this, "Allowlisted " + ctx.args[0] + ": no list will make Tyr act on it.");
}

void Bot::cmd_allow_remove(CommandContext& ctx) {
  if (ctx.args.size() != 1) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix + " allow remove <entity>");
    return;
  }
  ctx.batch.del(Cf::kState, std::string(kAllowPrefix) + ctx.args[0]);
  ctx.reply(*this, "Removed " + ctx.args[0] + " from the allowlist.");
  schedule_sweeps(ctx.batch);
  schedule_acl(ctx.batch);
}

void Bot::cmd_redact(CommandContext& ctx) {
  if (ctx.args.empty() || ctx.args.size() > 2 || !is_user_id(ctx.args[0])) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix + " redact <@user:server> [room]");
    return;
  }
  std::vector<std::string> rooms;
  if (ctx.args.size() == 2) {
    std::string id = rooms_.find(ctx.args[1]);
    if (id.empty()) {
      ctx.reply(*this, ctx.args[1] + " is not a protected room.");
      return;
    }
    rooms.push_back(id);
  } else {
    for (const auto& [id, info] : rooms_.snapshot()) rooms.push_back(id);
  }
  for (const auto& room : rooms) {
    nlohmann::json action = {{"kind", "redact_user"}, {"room", room}, {"user", ctx.args[0]},
                             {"window_s", config_.policy.takedown_redact_window.count()},
                             {"shadow", config_.policy.dry_run},
                             {"report", true}};
    store_.enqueue_action(ctx.batch, dump_json(action), Priority::kRedact);
  }
  ctx.reply(*this, "Redacting recent messages of " + ctx.args[0] + " in " +
                       std::to_string(rooms.size()) + " room(s).");
}

// ---- executor actions ----

ActionOutcome Bot::from_error(const std::string& what, const Error& e) {
  ActionOutcome out{is_retryable(e) ? ActionOutcome::Kind::kRetry : ActionOutcome::Kind::kFailed,
                    std::chrono::milliseconds(std::max<int64_t>(e.retry_after_ms, 1000)),
                    what + ": " + e.to_string()};
  out.outage = is_outage(e);
  return out;
}

Result<PowerLevels> Bot::power_in(const std::string& room_id) {
  HttpRequest req;
  req.method = "GET";
  req.path = "/_matrix/client/v3/rooms/" + HomeserverClient::encode_segment(room_id) +
             "/state/m.room.create/";
  req.query = {{"format", "event"}};
  auto create = client_.call(req);
  if (!create) return create.error();
  nlohmann::json create_event = *create;
  if (!create_event.contains("content")) {
    // Older servers ignore format=event and return the content only.
    create_event = {{"content", *create}, {"sender", create->value("creator", "")}};
  }
  auto pl = client_.state_event(room_id, "m.room.power_levels");
  if (!pl && pl.error().code != "M_NOT_FOUND") return pl.error();
  return PowerLevels(create_event, pl ? *pl : nlohmann::json());
}

ActionOutcome Bot::run_watch_list(uint64_t, const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  const std::string reply_to = action.value("reply_to", "");
  auto joined = client_.join(room);
  if (!joined) {
    if (is_retryable(joined.error())) return from_error("join " + room, joined.error());
    enqueue_notice(batch, management_room_,
                   "Could not join list " + room + ": " + joined.error().to_string(), reply_to);
    return {};
  }
  const std::string id = *joined;
  auto state = client_.room_state(id);
  if (!state) return from_error("state of " + id, state.error());
  WatchedList meta;
  if (auto known = book_.find(id)) meta = *known;  // a refresh keeps what Tyr knows of the list
  meta.id = id;
  if (is_room_alias(room)) meta.alias = room;
  for (const auto& s : config_.lists) {
    if (s.room == room || s.room == id) meta.shadow = s.shadow;
  }
  for (const auto& ev : *state) {
    if (ev.value("type", "") == "org.matrix.mjolnir.shortcode" && ev.contains("content")) {
      meta.shortcode = ev["content"].value("shortcode", "");
    }
  }
  book_.watch(batch, meta);
  auto diffs = book_.load_state(batch, id, *state);
  on_rule_diffs(diffs, batch);
  if (action.value("quiet", false)) return {};
  auto c = book_.counts(id);
  enqueue_notice(batch, management_room_,
                 "Watching " + id + (meta.alias.empty() ? "" : " (" + meta.alias + ")") + ": " +
                     std::to_string(c[0]) + " user, " + std::to_string(c[2]) + " server, " +
                     std::to_string(c[1]) + " room rules" + (meta.shadow ? " (shadow mode)" : "") +
                     (book_.ignored_rules(id) ? ", " + std::to_string(book_.ignored_rules(id)) +
                                                    " with a recommendation Tyr ignores"
                                              : std::string()) +
                     ".",
                 reply_to);
  return {};
}

ActionOutcome Bot::run_create_list(uint64_t, const nlohmann::json& action, Batch& batch) {
  const std::string shortcode = action.value("shortcode", "");
  const std::string reply_to = action.value("reply_to", "");
  nlohmann::json invite = nlohmann::json::array();
  for (const auto& op : config_.management.operators) invite.push_back(op);
  nlohmann::json body = {
      {"preset", "public_chat"},
      {"name", "Tyr policy list: " + shortcode},
      {"topic", "Moderation policy list published by Tyr (" + bot_user_ + ")"},
      {"invite", invite},
      {"creation_content", {{"type", "support.feline.policy.lists.msc.v1"}}},
      {"power_level_content_override", {{"events_default", 50}}},
      {"initial_state",
       {{{"type", "org.matrix.mjolnir.shortcode"}, {"state_key", ""},
         {"content", {{"shortcode", shortcode}}}}}}};
  auto room = client_.create_room(body);
  if (!room) {
    if (is_retryable(room.error())) return from_error("create list " + shortcode, room.error());
    enqueue_notice(batch, management_room_,
                   "Could not create list " + shortcode + ": " + room.error().to_string(), reply_to);
    return {};
  }
  WatchedList meta;
  meta.id = *room;
  meta.shortcode = shortcode;
  meta.writable = true;
  book_.watch(batch, meta);
  (void)book_.load_state(batch, meta.id, nlohmann::json::array());
  enqueue_notice(batch, management_room_,
                 "Created policy list " + shortcode + ": " + meta.id + ". Add rules with `" +
                     config_.management.command_prefix + " ban " + shortcode +
                     " <entity> [reason]`; others can watch the room.",
                 reply_to);
  return {};
}

ActionOutcome Bot::run_set_rule(const nlohmann::json& action, Batch& batch) {
  const std::string list = action.value("list", "");
  const std::string type = action.value("type", "");
  const std::string state_key = action.value("state_key", "");
  const nlohmann::json content = action.value("content", nlohmann::json::object());
  auto sent = client_.send_state(list, type, state_key, content);
  if (!sent) {
    if (is_retryable(sent.error())) return from_error("write rule", sent.error());
    enqueue_notice(batch, management_room_,
                   "Could not write " + type + " " + state_key + " in " + list + ": " +
                       sent.error().to_string(),
                   action.value("reply_to", ""));
    return {};
  }
  nlohmann::json event = {{"type", type}, {"state_key", state_key}, {"content", content},
                          {"event_id", *sent}, {"sender", bot_user_}, {"room_id", list}};
  std::string problem;
  if (auto diff = book_.apply_event(batch, list, event, &problem); diff && (diff->added || diff->removed)) {
    on_rule_diffs({*diff}, batch);
  }
  if (auto summary = action.value("summary", ""); !summary.empty()) {
    enqueue_notice(batch, management_room_, summary, action.value("reply_to", ""));
  }
  return {};
}

ActionOutcome Bot::run_sweep(const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  {
    std::lock_guard lock(pending_mu_);
    pending_sweeps_.erase(room);
  }
  if (!rooms_.contains(room)) return {};
  auto members = client_.joined_members(room);
  if (!members) return from_error("members of " + room, members.error());
  const auto& joined = (*members)["joined"];
  size_t queued = 0;
  for (auto it = joined.begin(); it != joined.end(); ++it) {
    Judgement j = judge_user(it.key());
    if (j.act) {
      enqueue_ban(batch, room, it.key(), j);
      ++queued;
    }
  }
  auto info = rooms_.snapshot()[room];
  info["members"] = joined.size();
  batch.put(Cf::kState, "room/" + room, dump_json(info));
  rooms_.add(room, info);
  log::info("policy", "swept " + room + ": " + std::to_string(joined.size()) + " members, " +
                          std::to_string(queued) + " to ban");
  return {};
}

ActionOutcome Bot::run_ban(const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  const std::string user = action.value("user", "");
  const std::string rule = action.value("rule", "");
  if (!rooms_.contains(room)) return {};
  // Judge again at execution time: the rule may be gone, or the user allowlisted since.
  Judgement j = judge_user(user);
  if (!j.act) return {};
  const bool shadow = j.shadow;
  auto member = client_.state_event(room, "m.room.member", user);
  if (member && member->value("membership", "") == "ban") return {};  // never re-issue a ban
  if (shadow) {
    post_notice(batch, "shadow",
                   "[shadow] Would ban " + user + " from " + room + ": " + rule + ".");
    audit_action(batch, action, "ban", nullptr, "shadow");
    return {};
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_ban(bot_user_, user); !why.empty()) {
    post_notice(batch, "bans",
                   "Cannot ban " + user + " from " + room + " (" + rule + "): " + why + ".");
    return {};
  }
  auto banned = client_.ban(room, user, action.value("reason", ""));
  audit_action(batch, action, "ban", banned ? nullptr : &banned.error());
  if (!banned) {
    if (is_retryable(banned.error())) return from_error("ban " + user, banned.error());
    post_notice(batch, "bans",
                   "Banning " + user + " from " + room + " failed: " + banned.error().to_string());
    return {};
  }
  const std::string list = action.value("list", ""), key = action.value("state_key", "");
  nlohmann::json record = {{"list", list}, {"state_key", key}, {"ts", now_ms()}};
  batch.put(Cf::kState, std::string(kBanPrefix) + room + kSep + user, dump_json(record));
  batch.put(Cf::kState, std::string(kBanRulePrefix) + list + kSep + key + kSep + room + kSep + user, "");
  post_notice(batch, "bans", "Banned " + user + " from " + room + ": " + rule + ".");
  ActionOutcome done;
  done.retry_after = config_.policy.ban_pacing;  // pacing before the next action
  return done;
}

ActionOutcome Bot::run_unban_check(const nlohmann::json& action, Batch& batch) {
  const std::string list = action.value("list", ""), key = action.value("state_key", "");
  const std::string prefix = std::string(kBanRulePrefix) + list + kSep + key + kSep;
  store_.scan(Cf::kState, prefix, [&](std::string_view k, std::string_view) {
    std::string_view rest = k.substr(prefix.size());
    const auto sep = rest.find(kSep);
    const std::string room(rest.substr(0, sep)), user(rest.substr(sep + 1));
    batch.del(Cf::kState, k);
    Judgement j = judge_user(user);
    if (j.act && !j.shadow) {
      // Still banned by another rule: the ban now belongs to that rule.
      const auto& r = j.matches.front();
      nlohmann::json record = {{"list", r.list}, {"state_key", r.state_key}, {"ts", now_ms()}};
      batch.put(Cf::kState, std::string(kBanPrefix) + room + kSep + user, dump_json(record));
      batch.put(Cf::kState, std::string(kBanRulePrefix) + r.list + kSep + r.state_key + kSep + room + kSep + user, "");
      return;
    }
    nlohmann::json unban = {{"kind", "unban"}, {"room", room}, {"user", user},
                            {"rule", "rule " + key + " of " + list + " was removed"}};
    store_.enqueue_action(batch, dump_json(unban), Priority::kBan);
  });
  return {};
}

ActionOutcome Bot::run_unban(const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  const std::string user = action.value("user", "");
  if (config_.policy.dry_run) {
    post_notice(batch, "dry run", "[dry run] Would unban " + user + " in " + room + ".");
    return {};
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_unban(bot_user_, user); !why.empty()) {
    post_notice(batch, "unbans", "Cannot unban " + user + " in " + room + ": " + why + ".");
    return {};
  }
  auto r = client_.unban(room, user, action.value("rule", ""));
  audit_action(batch, action, "unban", r || r.error().code == "M_BAD_STATE" ? nullptr : &r.error());
  if (!r && is_retryable(r.error())) return from_error("unban " + user, r.error());
  batch.del(Cf::kState, std::string(kBanPrefix) + room + kSep + user);
  if (r || r.error().code == "M_BAD_STATE") {
    post_notice(batch, "unbans",
                   "Unbanned " + user + " in " + room + ": " + action.value("rule", "") + ".");
  } else {
    post_notice(batch, "unbans",
                   "Unbanning " + user + " in " + room + " failed: " + r.error().to_string());
  }
  return {};
}

ActionOutcome Bot::run_acl(const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  {
    std::lock_guard lock(pending_mu_);
    pending_acl_.erase(room);
  }
  if (!rooms_.contains(room)) return {};
  std::vector<std::string> deny;
  for (auto& g : policy::server_deny_globs(book_.enforced_rules(EntityKind::kServer))) {
    if (!is_allowlisted(g)) deny.push_back(std::move(g));
  }
  auto current = client_.state_event(room, "m.room.server_acl");
  if (!current && current.error().code != "M_NOT_FOUND") return from_error("ACL of " + room, current.error());
  nlohmann::json cur = current ? *current : nlohmann::json();
  if (cur.is_object() && cur.empty()) cur = nlohmann::json();  // never set / redacted: treat as none
  if (deny.empty() && cur.is_null()) return {};  // nothing to deny and no ACL to maintain
  auto plan = policy::plan_server_acl(deny, cur, config_.homeserver.server_name, protected_servers());
  if (plan.error) {
    enqueue_notice(batch, management_room_, "Server ACL for " + room + " not sent: " + *plan.error);
    return {};
  }
  if (plan.withheld != withheld_[room]) {
    withheld_[room] = plan.withheld;
    if (!plan.withheld.empty()) {
      std::string text = "Server ACL of " + room +
                         ": withheld (would deny Tyr's or an operator's server):";
      for (const auto& w : plan.withheld) text += " " + w;
      enqueue_notice(batch, management_room_, text);
    }
  }
  if (!plan.changed) return {};
  if (config_.policy.dry_run) {
    enqueue_notice(batch, management_room_,
                   "[dry run] Would set the server ACL of " + room + " to deny " +
                       std::to_string(plan.content["deny"].size()) + " servers.");
    return {};
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_set_state(bot_user_, "m.room.server_acl"); !why.empty()) {
    enqueue_notice(batch, management_room_, "Cannot update the server ACL of " + room + ": " + why + ".");
    return {};
  }
  auto sent = client_.send_state(room, "m.room.server_acl", "", plan.content);
  audit_action(batch, action, "acl", sent ? nullptr : &sent.error(), "live",
               "deny " + std::to_string(plan.content["deny"].size()) + " servers");
  if (!sent) {
    if (is_retryable(sent.error())) return from_error("ACL of " + room, sent.error());
    enqueue_notice(batch, management_room_,
                   "Updating the server ACL of " + room + " failed: " + sent.error().to_string());
    return {};
  }
  enqueue_notice(batch, management_room_, "Server ACL of " + room + " updated: " +
                                              std::to_string(plan.content["deny"].size()) +
                                              " servers denied.");
  return {};
}

ActionOutcome Bot::run_redact_user(uint64_t seq, const nlohmann::json& action, Batch& batch) {
  const std::string room = action.value("room", "");
  const std::string user = action.value("user", "");
  const int64_t since = now_ms() - action.value("window_s", int64_t{86400}) * 1000;
  if (action.value("shadow", false)) {
    post_notice(batch, "shadow", "[shadow] Would redact recent messages of " + user +
                                                " in " + room + ".");
    audit_action(batch, action, "redact_user", nullptr, "shadow");
    return {};
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_redact(bot_user_, user); !why.empty()) {
    post_notice(batch, "redactions", "Cannot redact " + user + " in " + room + ": " + why + ".");
    return {};
  }
  std::vector<std::string> targets;
  std::string from;
  const nlohmann::json filter = {{"senders", {user}}};
  for (int page = 0; page < 50 && targets.size() < kMaxRedactions; ++page) {
    auto res = client_.messages(room, "b", from, 100, filter);
    if (!res) return from_error("history of " + room, res.error());
    bool older = false;
    for (const auto& ev : (*res)["chunk"]) {
      if (ev.value("origin_server_ts", int64_t{0}) < since) {
        older = true;
        break;
      }
      if (ev.contains("state_key") || ev.value("type", "") == "m.room.redaction") continue;
      if (ev.contains("unsigned") && ev["unsigned"].contains("redacted_because")) continue;
      if (ev.value("content", nlohmann::json::object()).empty()) continue;
      targets.push_back(ev.value("event_id", ""));
    }
    if (older || !res->contains("end")) break;
    from = (*res)["end"].get<std::string>();
  }
  size_t done = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    // Each redaction's txnId derives from this action's: a retry after a crash is deduplicated.
    auto r = client_.redact(room, targets[i], "tyr." + store_.instance_id() + "." + std::to_string(seq) + "." + std::to_string(i), "Removed by Tyr");
    if (!r) {
      if (is_retryable(r.error())) return from_error("redact in " + room, r.error());
      continue;
    }
    ++done;
  }
  audit_action(batch, action, "redact_user", nullptr, "live", std::to_string(done) + " events redacted");
  if (done > 0 || action.value("report", false)) {
    post_notice(batch, "redactions", "Redacted " + std::to_string(done) + " events of " +
                                                user + " in " + room + ".");
  }
  return {};
}

}  // namespace tyr::engine
