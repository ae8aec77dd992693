// The list commands of the management room (lists, ban, unban, takedown, allow, redact).

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

EntityKind infer_kind(const std::string& entity) {
  if (!entity.empty() && entity[0] == '@') return EntityKind::kUser;
  if (!entity.empty() && (entity[0] == '!' || entity[0] == '#')) return EntityKind::kRoom;
  return EntityKind::kServer;
}

}  // namespace

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
  lists_.reapply(ctx.batch);
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
