// What Tyr did, kept: every action (and every action it would have taken in shadow or dry-run
// mode, and every inline-veto refusal) recorded in the audit trail in the same batch as its
// completion, and `!tyr audit` to read the latest entries from the management room.

#include "engine/audit/audit_format.hpp"
#include "engine/core/ids.hpp"
#include "engine/pipeline/bot.hpp"

namespace tyr::engine {

void Bot::audit_action(Batch& batch, const nlohmann::json& action, std::string_view what,
                       const Error* error, std::string_view mode, std::string detail) {
  AuditEntry e;
  e.action = std::string(what);
  e.mode = std::string(mode);
  e.user = action.value("user", action.value("sender", ""));
  e.room = action.value("room", "");
  e.event_id = action.value("event_id", "");
  e.target = action.value("entity", "");
  e.reason_text = action.value("reason", "");
  for (const char* key : {"list", "state_key", "rule", "rules", "score", "protection", "report"}) {
    if (auto it = action.find(key); it != action.end()) e.reason[key] = *it;
  }
  if (error != nullptr) {
    e.outcome = error->code.empty() ? "error" : error->code;
    e.detail = error->message;
  } else {
    e.outcome = mode == "live" ? "ok" : mode == "veto" ? "refused" : "would";
  }
  if (!detail.empty()) e.detail = e.detail.empty() ? std::move(detail) : e.detail + "; " + detail;
  audit_.record(batch, std::move(e));
}

void Bot::cmd_audit(CommandContext& ctx) {
  if (ctx.args.empty() || ctx.args.size() > 2) {
    ctx.reply(*this, "Usage: " + config_.management.command_prefix + " audit <@user|!room|#alias> [count]");
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
      ctx.reply(*this, "The count must be a number from 1 to 50.");
      return;
    }
  }
  AuditQuery q;
  const std::string& who = ctx.args[0];
  if (is_user_id(who)) {
    q.user = who;
  } else if (!who.empty() && (who[0] == '!' || who[0] == '#')) {
    const std::string found = rooms_.find(who);
    q.room = found.empty() ? who : found;
  } else {
    ctx.reply(*this, "'" + who + "' is neither a user ID (@user:server) nor a room (!id:server or #alias:server).");
    return;
  }
  q.limit = count + 1;
  auto entries = audit_.query(q);
  if (entries.empty()) {
    ctx.reply(*this, "The audit trail has nothing about " + who + ".");
    return;
  }
  ctx.reply(*this, "Audit trail for " + who + ", newest first:\n" + format_audit_for_room(entries, count));
}

}  // namespace tyr::engine
