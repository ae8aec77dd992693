// `report <id> redact|kick|ban|ignore`: an operator's answer to an abuse report that Tyr posted
// (Bot::on_report stores it as "report/<id>" in the state family until it is answered).

#include "engine/commands/handlers.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine::commands {

void report(CommandContext& ctx) {
  const std::string usage = "Usage: " + ctx.prefix() + " report <id> redact|kick|ban|ignore";
  if (ctx.args.size() != 2) {
    ctx.reply(usage);
    return;
  }
  const std::string& id = ctx.args[0];
  const std::string key = std::string(state_keys::kReport) + id;
  auto saved = ctx.host.store().get(Cf::kState, key);
  if (!saved) {
    ctx.reply("No report " + id + ".");
    return;
  }
  auto r = nlohmann::json::parse(*saved, nullptr, false);
  const std::string verb = ctx.args[1];
  const std::string room = r.value("room_id", ""), sender = r.value("sender", "");
  const std::string reason = "Abuse report " + id;
  if (verb == "ignore") {
    ctx.batch.del(Cf::kState, key);
    ctx.reply("Report " + id + " ignored.");
    return;
  }
  if (verb != "redact" && verb != "kick" && verb != "ban") {
    ctx.reply(usage);
    return;
  }
  if (ctx.host.is_exempt_user(sender)) {
    ctx.reply("Not acting on report " + id + ": " + sender + " is exempt.");
    return;
  }
  if (verb != "redact") {
    if (verb == "ban")
      ctx.enqueue(actions::Ban{room, sender, reason, {}});
    else
      ctx.enqueue(actions::Kick{room, sender, reason, {}});
  }
  const std::string event_id = r.value("event_id", "");
  ctx.enqueue(actions::RedactEvent{room, event_id, sender, reason, {}});
  // A report a moderator confirmed is a spam example for the classifier.
  if (classifier::Classifier* c = ctx.host.classifier();
      c != nullptr && c->options().learn_reports && !event_id.empty()) {
    auto learned = c->learn_recent(ctx.batch, event_id, classifier::Source::kReport, true);
    if (learned) {
      metrics::tyr_metrics().classifier_learned.with("report").inc();
    } else if (learned.error().code == "TYR_NOT_SEEN") {
      ctx.enqueue(actions::Learn{room, event_id, "spam", "report", {}});
    }
  }
  ctx.batch.del(Cf::kState, key);
  const char* doing = verb == "redact" ? "redacting"
                      : verb == "kick" ? "redacting and kicking"
                                       : "redacting and banning";
  ctx.reply("Report " + id + ": " + doing + " " + sender + ".");
}

}  // namespace tyr::engine::commands
