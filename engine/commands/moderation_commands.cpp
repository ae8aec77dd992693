// `ban`, `unban`, `takedown`: rules Tyr writes to the lists it created; `allow`, `allow remove`:
// the allowlist; `redact`: a user's recent messages.

#include <algorithm>
#include <optional>

#include "engine/commands/handlers.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"
#include "engine/policy/policy_rule.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine::commands {

using policy::EntityKind;

namespace {

EntityKind infer_kind(const std::string& entity) {
  if (!entity.empty() && entity[0] == '@') return EntityKind::kUser;
  if (!entity.empty() && (entity[0] == '!' || entity[0] == '#')) return EntityKind::kRoom;
  return EntityKind::kServer;
}

// Queues set_rule actions: `recommendation` m.ban or m.takedown adds a rule; "" clears every
// rule for the entity. The executor writes them and answers with the summary.
void write_rule(CommandContext& ctx, const std::string& recommendation) {
  const std::string& prefix = ctx.prefix();
  auto& a = ctx.args;
  const bool clear = recommendation.empty();
  const std::string verb = clear ? "unban" : recommendation == "m.ban" ? "ban" : "takedown";
  const std::string usage = "Usage: " + prefix + " " + verb +
                            " [list] [user|room|server] <entity>" + (clear ? "" : " [reason]") +
                            " (the default list when none is named)";
  if (a.empty()) {
    ctx.reply(usage);
    return;
  }
  // The list is named first, or left out for the default list (`lists default`).
  auto list = ctx.host.policy_book().find(a[0]);
  size_t i = 1;
  if (!list || !list->writable) {
    const bool names_entity = a[0].find_first_of("@!#:.*?") != std::string::npos ||
                              policy::kind_from_name(a[0]).has_value();
    if (list || !names_entity) {
      ctx.reply(escape_untrusted(a[0], kMaxQuotedName) + " is not a list Tyr can write. " +
                "Create one with `" + prefix + " lists create <shortcode>`.");
      return;
    }
    list = ctx.host.policy_book().default_list();
    if (!list) {
      ctx.reply("Which list? Name one (`" + prefix + " " + verb + " <list> " + a[0] +
                "`), or set a default with `" + prefix + " lists default <list>`.");
      return;
    }
    i = 0;
  }
  const std::string list_label = i == 1                     ? a[0]
                                 : !list->shortcode.empty() ? list->shortcode
                                                            : list->id;
  if (i >= a.size()) {
    ctx.reply(usage);
    return;
  }
  std::optional<EntityKind> kind;
  if (a.size() > i + 1) kind = policy::kind_from_name(a[i]);
  if (kind) ++i;
  const std::string entity = a[i++];
  if (!kind) kind = infer_kind(entity);
  std::string reason;
  for (; i < a.size(); ++i) reason += (reason.empty() ? "" : " ") + a[i];
  if (!clear && *kind == EntityKind::kUser && entity == ctx.host.config().bot_user_id()) {
    ctx.reply("Tyr will not ban itself.");
    return;
  }
  const auto& operators = ctx.host.config().management.operators;
  if (!clear && *kind == EntityKind::kUser &&
      std::find(operators.begin(), operators.end(), entity) != operators.end()) {
    ctx.reply("Tyr will not ban " + entity + ": operators are never acted on.");
    return;
  }
  if (clear) {
    auto rules = ctx.host.policy_book().rules_for_entity(list->id, entity);
    if (rules.empty()) {
      ctx.reply("No rule for " + entity + " in " + list_label + ".");
      return;
    }
    for (const auto& r : rules) {
      // Clear the key in every family, as Mjolnir does, so no legacy copy survives.
      for (const char* family : {"m.policy.rule.", "m.room.rule.", "org.matrix.mjolnir.rule."}) {
        const bool stable = std::string_view(family) == "m.policy.rule.";
        ctx.enqueue(actions::SetRule{
            list->id, std::string(family) + std::string(policy::kind_name(r.kind)), r.state_key,
            nlohmann::json::object(), ctx.event_id(),
            stable ? "Removed the rule for " + entity + " from " + list_label + "." : ""});
      }
    }
    return;
  }
  nlohmann::json content = {{"entity", entity}, {"recommendation", recommendation}};
  if (recommendation == "m.ban") {
    content["reason"] = reason.empty() ? "banned by Tyr" : reason;
  } else if (!reason.empty()) {
    content["reason"] = reason;
  }
  ctx.enqueue(actions::SetRule{
      list->id, policy::stable_type(*kind), "rule:" + entity, content, ctx.event_id(),
      std::string(recommendation == "m.ban" ? "Banned " : "Took down ") + entity + " (" +
          std::string(policy::kind_name(*kind)) + ") in " + list_label + "."});
}

}  // namespace

void ban(CommandContext& ctx) { write_rule(ctx, "m.ban"); }
void unban(CommandContext& ctx) { write_rule(ctx, ""); }
void takedown(CommandContext& ctx) { write_rule(ctx, "m.takedown"); }

void allow(CommandContext& ctx) {
  if (ctx.args.empty()) {
    std::string text = "Allowlist (never acted on):";
    for (const auto& a : ctx.host.config().policy.allow) text += "\n  " + a + " (config)";
    ctx.host.store().scan(Cf::kState, state_keys::kAllow,
                          [&](std::string_view key, std::string_view) {
                            text += "\n  " + std::string(key.substr(state_keys::kAllow.size()));
                          });
    ctx.reply(text);
    return;
  }
  if (ctx.args.size() != 1) {
    ctx.reply("Usage: " + ctx.prefix() + " allow <entity>");
    return;
  }
  ctx.batch.put(Cf::kState, std::string(state_keys::kAllow) + ctx.args[0],
                std::to_string(now_ms()));
  ctx.reply("Allowlisted " + ctx.args[0] + ": no list will make Tyr act on it.");
}

// Users the allowlist spared may be banned now: every protected room is swept again.
void allow_remove(CommandContext& ctx) {
  if (ctx.args.size() != 1) {
    ctx.reply("Usage: " + ctx.prefix() + " allow remove <entity>");
    return;
  }
  ctx.batch.del(Cf::kState, std::string(state_keys::kAllow) + ctx.args[0]);
  ctx.reply("Removed " + ctx.args[0] + " from the allowlist.");
  ctx.host.schedule_enforcement(ctx.batch);
}

void redact(CommandContext& ctx) {
  if (ctx.args.empty() || ctx.args.size() > 2 || !is_user_id(ctx.args[0])) {
    ctx.reply("Usage: " + ctx.prefix() + " redact <@user:server> [room]");
    return;
  }
  std::vector<std::string> rooms;
  if (ctx.args.size() == 2) {
    std::string id = ctx.host.find_protected_room(ctx.args[1]);
    if (id.empty()) {
      ctx.reply(ctx.args[1] + " is not a protected room.");
      return;
    }
    rooms.push_back(id);
  } else {
    for (const auto& [id, info] : ctx.host.protected_rooms()) rooms.push_back(id);
  }
  const PolicyConfig& settings = ctx.host.config().policy;
  for (const auto& room : rooms) {
    ctx.enqueue(actions::RedactUser{
        room, ctx.args[0], settings.takedown_redact_window.count(), settings.dry_run, true, {}});
  }
  ctx.reply("Redacting recent messages of " + ctx.args[0] + " in " + std::to_string(rooms.size()) +
            " room(s).");
}

}  // namespace tyr::engine::commands
