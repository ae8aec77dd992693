// `audit <user|room> [count]`: the latest audit-trail entries about a user or room.

#include "engine/audit/audit_format.hpp"
#include "engine/commands/handlers.hpp"
#include "engine/core/ids.hpp"

namespace tyr::engine::commands {

void audit(CommandContext& ctx) {
  if (ctx.args.empty() || ctx.args.size() > 2) {
    ctx.reply("Usage: " + ctx.prefix() + " audit <@user|!room|#alias> [count]");
    return;
  }
  size_t count = 10;
  if (ctx.args.size() == 2) {
    try {
      count = std::stoul(ctx.args[1]);
    } catch (...) {
      count = 0;
    }
    if (count == 0 || count > 50) {
      ctx.reply("The count must be a number from 1 to 50.");
      return;
    }
  }
  AuditQuery q;
  const std::string& who = ctx.args[0];
  if (is_user_id(who)) {
    q.user = who;
  } else if (!who.empty() && (who[0] == '!' || who[0] == '#')) {
    const std::string found = ctx.host.find_protected_room(who);
    q.room = found.empty() ? who : found;
  } else {
    ctx.reply("'" + who +
              "' is neither a user ID (@user:server) nor a room (a room ID such as !aBcD…, or "
              "#alias:server).");
    return;
  }
  q.limit = count + 1;  // one more than shown: the formatter says when there are older ones
  auto entries = ctx.host.audit_log().query(q);
  if (entries.empty()) {
    ctx.reply("The audit trail has nothing about " + who + ".");
    return;
  }
  ctx.reply("Audit trail for " + who + ", newest first:\n" + format_audit_for_room(entries, count));
}

}  // namespace tyr::engine::commands
