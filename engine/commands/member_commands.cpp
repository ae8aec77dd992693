// `kick`, `mute`, `unmute`: one member, in one protected room or in every one. Operators, Tyr
// itself and allowlisted users are never acted on. The executor checks Tyr's power in each room
// and skips rooms where there is nothing to do (not a member, already muted).

#include "engine/commands/handlers.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine::commands {

namespace {

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
  std::vector<std::string> rooms;
  if (ctx.args.size() > 1 && (ctx.args[1][0] == '!' || ctx.args[1][0] == '#')) {
    const std::string id = ctx.host.find_protected_room(ctx.args[1]);
    if (id.empty()) {
      ctx.reply(escape_untrusted(ctx.args[1], kMaxQuotedName) + " is not a room Tyr protects. `" +
                ctx.prefix() + " rooms` lists them.");
      return;
    }
    rooms.push_back(id);
    next = 2;
  } else {
    for (const auto& [id, info] : ctx.host.protected_rooms()) rooms.push_back(id);
  }
  if (rooms.empty()) {
    ctx.reply("Tyr protects no rooms yet.");
    return;
  }
  std::string reason;
  for (size_t i = next; i < ctx.args.size(); ++i)
    reason += (reason.empty() ? "" : " ") + ctx.args[i];
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

}  // namespace

void kick(CommandContext& ctx) { member_action(ctx, MemberVerb::kKick); }
void mute(CommandContext& ctx) { member_action(ctx, MemberVerb::kMute); }
void unmute(CommandContext& ctx) { member_action(ctx, MemberVerb::kUnmute); }

}  // namespace tyr::engine::commands
