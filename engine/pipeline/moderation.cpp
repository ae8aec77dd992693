// Ban-list enforcement: judging users against the watched lists and reacting to rule changes
// (the actions they lead to run in list_actions.cpp).

#include <algorithm>
#include <thread>

#include "engine/actions/codec.hpp"
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

constexpr std::string_view kAllowPrefix = "allow/";

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
    if (policy::glob_matches(a, entity)) return true;
  }
  bool found = false;
  store_.scan(Cf::kState, kAllowPrefix, [&](std::string_view key, std::string_view) {
    if (!found && policy::glob_matches(key.substr(kAllowPrefix.size()), entity)) found = true;
  });
  return found;
}

std::vector<std::string> Bot::protected_servers() const {
  std::vector<std::string> out;
  for (const auto& op : config_.management.operators) out.emplace_back(server_of(op));
  for (const auto& a : config_.policy.allow) {
    if (!a.empty() && a[0] != '@' && a[0] != '!' && a[0] != '#' && !policy::is_glob(a)) out.push_back(a);
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
  actions::enqueue(store_, batch,
                   actions::ListBan{.room = room,
                                    .user = user,
                                    .reason = r.reason.empty() ? "listed in " + r.list : r.reason,
                                    .list = r.list,
                                    .state_key = r.state_key,
                                    .rule = describe_rule(r),
                                    .shadow = j.shadow});
  if (j.takedown) {
    actions::enqueue(store_, batch,
                     actions::RedactUser{.room = room,
                                         .user = user,
                                         .window_s = config_.policy.takedown_redact_window.count(),
                                         .shadow = j.shadow});
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
    actions::enqueue(store_, batch, actions::Sweep{id});
  }
}

void Bot::schedule_acl(Batch& batch) {
  std::lock_guard lock(pending_mu_);
  for (const auto& [id, info] : rooms_.snapshot()) {
    if (!pending_acl_.insert(id).second) continue;
    actions::enqueue(store_, batch, actions::Acl{id});
  }
}

void Bot::on_rule_diffs(const std::vector<policy::ListDiff>& diffs, Batch& batch) {
  bool sweep = false, acl = false;
  for (const auto& d : diffs) {
    if (d.removed && enforceable(*d.removed)) {
      if (d.removed->kind == EntityKind::kServer) acl = true;
      if (d.removed->kind != EntityKind::kRoom) {
        actions::enqueue(store_, batch, actions::UnbanCheck{d.removed->list, d.removed->state_key});
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

}  // namespace tyr::engine
