// `rooms`, `rooms add`, `rooms remove`: the rooms Tyr protects.

#include "engine/commands/handlers.hpp"
#include "engine/core/ids.hpp"

namespace tyr::engine::commands {

void rooms(CommandContext& ctx) {
  auto rooms = ctx.host.protected_rooms();
  if (rooms.empty()) {
    ctx.reply("No protected rooms. Invite me to a room, then run `" + ctx.prefix() +
              " rooms add <room>`.");
    return;
  }
  std::string text = "Protected rooms (" + std::to_string(rooms.size()) + "):";
  for (const auto& [id, info] : rooms) {
    text += "\n  " + id;
    if (auto alias = info.value("alias", ""); !alias.empty()) text += " (" + alias + ")";
  }
  ctx.reply(text);
}

// Joining needs the homeserver: the executor's join_protect action joins, checks the room
// against the lists and answers.
void rooms_add(CommandContext& ctx) {
  if (ctx.args.size() != 1 || (!is_room_id(ctx.args[0]) && !is_room_alias(ctx.args[0]))) {
    ctx.reply("Usage: " + ctx.prefix() + " rooms add <room-id|#alias>");
    return;
  }
  const std::string& room = ctx.args[0];
  if (!ctx.host.find_protected_room(room).empty()) {
    ctx.reply(room + " is already protected.");
    return;
  }
  ctx.enqueue(actions::JoinProtect{room, ctx.sender(), ctx.event_id()});
}

void rooms_remove(CommandContext& ctx) {
  if (ctx.args.size() != 1) {
    ctx.reply("Usage: " + ctx.prefix() + " rooms remove <room>");
    return;
  }
  std::string id = ctx.host.find_protected_room(ctx.args[0]);
  if (id.empty()) {
    ctx.reply(ctx.args[0] + " is not a protected room. See `" + ctx.prefix() + " rooms`.");
    return;
  }
  ctx.host.unprotect_room(ctx.batch, id);
  ctx.reply("No longer protecting " + id + ".");
}

}  // namespace tyr::engine::commands

namespace tyr::engine::commands {

// `verify`: the executor reads each protected room's power levels and answers with what Tyr
// can and cannot do there.
void verify(CommandContext& ctx) {
  if (ctx.host.protected_rooms().empty()) {
    ctx.reply("Tyr protects no rooms yet. Add one with `" + ctx.prefix() + " rooms add <room>`.");
    return;
  }
  ctx.enqueue(actions::Verify{ctx.event_id()});
}

}  // namespace tyr::engine::commands
