// `help`, `status` and `ping`: what Tyr can do, how it is doing, and whether it listens.

#include <array>

#include "engine/commands/handlers.hpp"
#include "engine/core/version.hpp"

namespace tyr::engine::commands {

namespace {

std::string format_duration(std::chrono::seconds s) {
  auto total = s.count();
  const long d = total / 86400, h = (total / 3600) % 24, m = (total / 60) % 60, sec = total % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d ";
  if (d || h) out += std::to_string(h) + "h ";
  if (d || h || m) out += std::to_string(m) + "m ";
  out += std::to_string(sec) + "s";
  return out;
}

}  // namespace

void help(CommandContext& ctx) { ctx.reply(help_text(ctx.prefix())); }

void status(CommandContext& ctx) {
  CommandHost& host = ctx.host;
  std::string text = std::string("Tyr ") + kVersion + ", up " + format_duration(host.uptime());
  text += "\nProtected rooms: " + std::to_string(host.protected_rooms().size());
  size_t lists = 0;
  std::array<size_t, policy::kEntityKinds> totals{};
  for (const auto& l : host.policy_book().lists()) {
    ++lists;
    auto c = host.policy_book().counts(l.id);
    for (int k = 0; k < policy::kEntityKinds; ++k) totals[k] += c[k];
  }
  text += "\nWatched lists: " + std::to_string(lists) + " (" + std::to_string(totals[0]) +
          " user, " + std::to_string(totals[2]) + " server, " + std::to_string(totals[1]) +
          " room rules)";
  if (host.config().policy.dry_run) {
    text += "\nDry run: Tyr reports what it would do and does nothing";
  }
  if (host.scorer() != nullptr) {
    const VerdictCounts v = host.verdict_counts();
    text += "\nVerdicts: " + std::to_string(v.notify) + " notify, " + std::to_string(v.redact) +
            " redact, " + std::to_string(v.kick) + " kick, " + std::to_string(v.ban) +
            " ban; shadow rules would have acted " + std::to_string(v.shadow) + " times";
  }
  for (const auto& line : host.status_lines()) text += "\n" + line;
  ctx.reply(text);
}

void ping(CommandContext& ctx) {
  std::string text = "pong";
  for (const auto& a : ctx.args) text += " " + a;
  ctx.reply(text);
}

}  // namespace tyr::engine::commands
