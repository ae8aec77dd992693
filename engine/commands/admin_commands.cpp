// `suspend`, `unsuspend`, `deactivate`, `shutdown room`: the homeserver's admin API, for the
// homeserver's own users and rooms. Each needs homeserver.admin_token (a server admin's access
// token); without it the command says so and does nothing. Operators, Tyr itself and
// allowlisted users are never suspended or deactivated.

#include "engine/commands/handlers.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine::commands {

namespace {

bool has_admin_token(CommandContext& ctx, const std::string& what) {
  if (!ctx.host.config().homeserver.admin_token.empty()) return true;
  ctx.reply("Cannot " + what + ": homeserver.admin_token is not configured. Put a server " +
            "admin's access token there (docs/configuration.md) and restart Tyr.");
  return false;
}

void admin_user(CommandContext& ctx, const std::string& op) {
  if (ctx.args.empty() || !is_user_id(ctx.args[0])) {
    ctx.reply("Usage: " + ctx.prefix() + " " + op + " <@user:server>" +
              (op == "unsuspend" ? "" : " [reason]"));
    return;
  }
  const std::string& user = ctx.args[0];
  const std::string& server = ctx.host.config().homeserver.server_name;
  if (server_of(user) != server) {
    ctx.reply("Cannot " + op + " " + user + ": only users of this homeserver (" + server +
              ") can be; for others use `" + ctx.prefix() + " ban`.");
    return;
  }
  if (op != "unsuspend" && ctx.host.is_exempt_user(user)) {
    ctx.reply("Tyr will not " + op + " " + user +
              ": operators, Tyr itself and allowlisted users are never acted on.");
    return;
  }
  if (!has_admin_token(ctx, op + " " + user)) return;
  std::string reason;
  for (size_t i = 1; i < ctx.args.size(); ++i) reason += (reason.empty() ? "" : " ") + ctx.args[i];
  ctx.enqueue(actions::AdminUser{user, op, reason, ctx.event_id()});
}

}  // namespace

void suspend(CommandContext& ctx) { admin_user(ctx, "suspend"); }
void unsuspend(CommandContext& ctx) { admin_user(ctx, "unsuspend"); }
void deactivate(CommandContext& ctx) { admin_user(ctx, "deactivate"); }

void shutdown_room(CommandContext& ctx) {
  if (ctx.args.empty() || !(is_room_id(ctx.args[0]) || is_room_alias(ctx.args[0]))) {
    ctx.reply("Usage: " + ctx.prefix() + " shutdown room <room-id|#alias> [reason]");
    return;
  }
  std::string room = ctx.args[0];
  if (auto protected_id = ctx.host.find_protected_room(room); !protected_id.empty())
    room = protected_id;
  if (room == ctx.host.command_room()) {
    ctx.reply("Tyr will not shut down its own management room.");
    return;
  }
  if (!has_admin_token(ctx, "shut down " + room)) return;
  std::string reason;
  for (size_t i = 1; i < ctx.args.size(); ++i) reason += (reason.empty() ? "" : " ") + ctx.args[i];
  ctx.enqueue(actions::ShutdownRoom{room, reason, ctx.event_id()});
}

}  // namespace tyr::engine::commands
