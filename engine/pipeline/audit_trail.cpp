// What Tyr did, kept: every action (and every action it would have taken in shadow or dry-run
// mode, and every inline-veto refusal) recorded in the audit trail in the same batch as its
// completion (`!tyr audit` reads them: engine/commands/audit_commands.cpp).

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

}  // namespace tyr::engine
