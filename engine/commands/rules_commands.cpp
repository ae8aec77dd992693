// `rules`, `rules test`, `rules reload`: the custom rules loaded, a dry score of a message, and
// a reload of the rule files.

#include <cstdio>

#include "engine/commands/handlers.hpp"
#include "engine/core/clock.hpp"

namespace tyr::engine::commands {

namespace {

constexpr const char* kNoRules = "No rules are configured (set rules.dir in Tyr's config).";

std::string fmt_score(double score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", score);
  return buf;
}

}  // namespace

void rules(CommandContext& ctx) {
  EventScorer* scorer = ctx.host.scorer();
  if (scorer == nullptr) {
    ctx.reply(kNoRules);
    return;
  }
  std::string text = "Rules:";
  for (const auto& line : scorer->describe()) text += "\n  " + line;
  const VerdictCounts v = ctx.host.verdict_counts();
  text += "\nVerdicts: " + std::to_string(v.notify) + " notify, " + std::to_string(v.redact) +
          " redact, " + std::to_string(v.kick) + " kick, " + std::to_string(v.ban) +
          " ban; shadow rules would have acted " + std::to_string(v.shadow) + " times";
  ctx.reply(text);
}

// Scored as if sent by the operator in the first protected room (the management room when
// there is none), without advancing any rate window.
void rules_test(CommandContext& ctx) {
  EventScorer* scorer = ctx.host.scorer();
  if (scorer == nullptr) {
    ctx.reply(kNoRules);
    return;
  }
  // The raw text after "rules test", so spacing and quotes are scored as typed.
  std::string body = ctx.event["content"].value("body", "");
  const auto pos = body.find("test");
  std::string text = pos == std::string::npos ? "" : body.substr(pos + 4);
  text.erase(0, text.find_first_not_of(" \t"));
  if (text.empty()) {
    ctx.reply("Usage: " + ctx.prefix() + " rules test <text>");
    return;
  }
  const auto rooms = ctx.host.protected_rooms();
  nlohmann::json event = {
      {"type", "m.room.message"},
      {"event_id", "$rules-test"},
      {"room_id", rooms.empty() ? ctx.host.command_room() : rooms.begin()->first},
      {"sender", ctx.sender()},
      {"origin_server_ts", now_ms()},
      {"content", {{"msgtype", "m.text"}, {"body", text}}}};
  EventVerdict v = scorer->explain(event);
  std::string reply =
      "Verdict: " + std::string(action_name(v.action)) + ", score " + fmt_score(v.score);
  if (v.shadow_action > v.action) {
    reply += std::string(" (shadow rules: ") + action_name(v.shadow_action) + ")";
  }
  reply += v.explanation.empty() ? "\nNo rule matched." : "\n" + v.explanation;
  ctx.reply(reply);
}

void rules_reload(CommandContext& ctx) { ctx.host.request_rules_reload(ctx.batch, ctx.event_id()); }

}  // namespace tyr::engine::commands
