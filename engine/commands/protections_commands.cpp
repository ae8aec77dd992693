// `protections …`: the built-in protections' state, counters and settings. A room named in the
// command must be one Tyr protects (by ID, or the alias it was added with); it reaches the
// protections as its room ID, so a typo never becomes a setting for a room that does not exist.
// The protections parse the rest and answer; changed settings persist in the command's batch.

#include <algorithm>

#include "engine/commands/handlers.hpp"
#include "engine/core/text.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine::commands {

namespace {

bool looks_like_room(const std::string& word) {
  return !word.empty() && (word[0] == '!' || word[0] == '#');
}

// Where the optional trailing room is, given the verb: `protections [room]`,
// `enable|disable|shadow|show <name> [room]`, `config <name> <key> <value…> [room]`; npos when
// the command names no room.
size_t room_index(const std::vector<std::string>& args) {
  if (args.empty()) return std::string::npos;
  const std::string& verb = args[0];
  if (args.size() == 1) return looks_like_room(verb) ? 0 : std::string::npos;
  if (verb == "enable" || verb == "disable" || verb == "shadow" || verb == "show") {
    return args.size() == 3 && looks_like_room(args[2]) ? 2 : std::string::npos;
  }
  if (verb == "config") {  // the value takes at least one word; a room is the last of more
    return args.size() >= 5 && looks_like_room(args.back()) ? args.size() - 1 : std::string::npos;
  }
  return std::string::npos;
}

}  // namespace

void protections(CommandContext& ctx) {
  protection::Host* protections = ctx.host.protections();
  if (protections == nullptr) {
    ctx.reply("No protections are available.");
    return;
  }
  std::vector<std::string> args = ctx.args;
  if (const size_t at = room_index(args); at != std::string::npos) {
    const std::string room_id = ctx.host.find_protected_room(args[at]);
    if (room_id.empty()) {
      ctx.reply(escape_untrusted(args[at], kMaxQuotedName) +
                " is not a room Tyr protects (by room ID, or the alias it was added with). `" +
                ctx.prefix() + " rooms` lists them.");
      return;
    }
    args[at] = room_id;
  }
  auto [text, changed] = protections->command(args);
  // Read back at start (cli/service.cpp): "protections/settings" -> the scorer's settings JSON.
  if (changed) {
    ctx.batch.put(Cf::kState, state_keys::kProtectionSettings,
                  dump_json(protections->save_settings()));
  }
  ctx.reply(text);
}

}  // namespace tyr::engine::commands
