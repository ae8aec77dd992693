// `kick`, `mute`, `unmute`: one member, in one protected room or in every one; `since`: everyone
// who joined or spoke in a window. Operators, Tyr itself and allowlisted users are never acted
// on. The executor checks Tyr's power in each room and skips rooms where there is nothing to do
// (not a member, already muted).

#include <cctype>
#include <optional>

#include "engine/commands/handlers.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine::commands {

namespace {

// The rooms a command acts in: the protected room named at args[at] (then `at` moves past it),
// or every protected room; replies and returns nullopt when the named room is not protected or
// there are none. The words from `at` on are the reason.
std::optional<std::vector<std::string>> target_rooms(CommandContext& ctx, size_t& at,
                                                     std::string& reason) {
  std::vector<std::string> rooms;
  if (ctx.args.size() > at && (ctx.args[at][0] == '!' || ctx.args[at][0] == '#')) {
    const std::string id = ctx.host.find_protected_room(ctx.args[at]);
    if (id.empty()) {
      ctx.reply(escape_untrusted(ctx.args[at], kMaxQuotedName) + " is not a room Tyr protects. `" +
                ctx.prefix() + " rooms` lists them.");
      return std::nullopt;
    }
    rooms.push_back(id);
    ++at;
  } else {
    for (const auto& [id, info] : ctx.host.protected_rooms()) rooms.push_back(id);
  }
  if (rooms.empty()) {
    ctx.reply("Tyr protects no rooms yet.");
    return std::nullopt;
  }
  for (size_t i = at; i < ctx.args.size(); ++i) reason += (reason.empty() ? "" : " ") + ctx.args[i];
  return rooms;
}

enum class MemberVerb { kKick, kMute, kUnmute };

void member_action(CommandContext& ctx, MemberVerb verb) {
  const std::string word = verb == MemberVerb::kKick   ? "kick"
                           : verb == MemberVerb::kMute ? "mute"
                                                       : "unmute";
  if (ctx.args.empty() || !is_user_id(ctx.args[0])) {
    ctx.reply("Usage: " + ctx.prefix() + " " + word + " <@user:server> [room] [reason]");
    return;
  }
  const std::string& user = ctx.args[0];
  if (verb != MemberVerb::kUnmute && ctx.host.is_exempt_user(user)) {
    ctx.reply("Tyr will not " + word + " " + user + ": operators, Tyr itself and allowlisted " +
              "users are never acted on.");
    return;
  }
  size_t next = 1;
  std::string reason;
  const auto targets = target_rooms(ctx, next, reason);
  if (!targets) return;
  const auto& rooms = *targets;
  for (const auto& room : rooms) {
    if (verb == MemberVerb::kKick) {
      ctx.enqueue(actions::Kick{room, user, reason, {}});
    } else {
      ctx.enqueue(actions::Mute{room, user, reason, verb == MemberVerb::kUnmute, {}});
    }
  }
  const std::string where =
      rooms.size() == 1 ? " in " + rooms[0] : " in " + std::to_string(rooms.size()) + " rooms";
  switch (verb) {
    case MemberVerb::kKick:
      ctx.reply("Kicking " + user + where + " (where they are a member).");
      break;
    case MemberVerb::kMute:
      ctx.reply("Muting " + user + where + ": they can send nothing until `" + ctx.prefix() +
                " unmute " + user + "`.");
      break;
    case MemberVerb::kUnmute: ctx.reply("Unmuting " + user + where + "."); break;
  }
}

// "30m", "2h", "90s", "1d", or a bare number of minutes; nullopt when unreadable or longer
// than a week.
std::optional<int64_t> duration_ms(const std::string& text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return std::nullopt;
  const int64_t n = std::stoll(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  int64_t scale = 0;
  if (unit.empty() || unit == "m" || unit == "min")
    scale = 60'000;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit == "d")
    scale = 86'400'000;
  else
    return std::nullopt;
  if (n <= 0 || n > 7 * 86'400'000 / scale) return std::nullopt;
  return n * scale;
}

}  // namespace

void kick(CommandContext& ctx) { member_action(ctx, MemberVerb::kKick); }
void mute(CommandContext& ctx) { member_action(ctx, MemberVerb::kMute); }
void unmute(CommandContext& ctx) { member_action(ctx, MemberVerb::kUnmute); }

// `since <duration> kick|ban|redact|mute [room] [reason]`: after a raid, act on everyone who
// joined or spoke in the window. The executor reads each room's history back to the start of
// the window and queues one action per user (operators, Tyr and allowlisted users left out).
void since(CommandContext& ctx) {
  const std::string usage = "Usage: " + ctx.prefix() +
                            " since <duration> kick|ban|redact|mute [room] [reason] (duration: "
                            "30m, 2h, 1d, up to 7d)";
  if (ctx.args.size() < 2) {
    ctx.reply(usage);
    return;
  }
  const auto window = duration_ms(ctx.args[0]);
  if (!window) {
    ctx.reply(escape_untrusted(ctx.args[0], kMaxQuotedName) + " is not a duration Tyr reads. " +
              usage);
    return;
  }
  std::string verb = ctx.args[1];
  for (auto& c : verb) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (verb != "kick" && verb != "ban" && verb != "redact" && verb != "mute") {
    ctx.reply(escape_untrusted(ctx.args[1], kMaxQuotedName) + " is not an action `since` takes. " +
              usage);
    return;
  }
  size_t next = 2;
  std::string reason;
  const auto targets = target_rooms(ctx, next, reason);
  if (!targets) return;
  const auto& rooms = *targets;
  const int64_t start = now_ms() - *window;
  for (const auto& room : rooms)
    ctx.enqueue(actions::Since{room, start, verb, reason, ctx.event_id()});
  ctx.reply("Looking for everyone who joined or spoke in the last " + ctx.args[0] + " in " +
            (rooms.size() == 1 ? rooms[0] : std::to_string(rooms.size()) + " rooms") +
            "; each room's answer follows.");
}

}  // namespace tyr::engine::commands
