// `policyserver enable|disable|status [room]`: Tyr as the policy server (MSC4284) of the rooms
// it protects. Enabling writes m.room.policy naming Tyr's homeserver and Tyr's policy key, after
// which every other server in the room asks Tyr to sign each event (docs/policy-server.md).

#include "engine/commands/handlers.hpp"

namespace tyr::engine::commands {

namespace {

// The rooms a subcommand applies to: the one named, or every protected room. Empty (with a
// reply) when the named room is not protected.
std::vector<std::string> target_rooms(CommandContext& ctx, size_t arg) {
  if (ctx.args.size() <= arg) {
    std::vector<std::string> all;
    for (const auto& [id, info] : ctx.host.protected_rooms()) all.push_back(id);
    if (all.empty())
      ctx.reply("Tyr protects no rooms yet. Add one with `" + ctx.prefix() + " rooms add <room>`.");
    return all;
  }
  std::string id = ctx.host.find_protected_room(ctx.args[arg]);
  if (id.empty()) {
    ctx.reply(ctx.args[arg] +
              " is not a room Tyr protects (by room ID, or the alias it was added with). `" +
              ctx.prefix() + " rooms` lists them.");
    return {};
  }
  return {id};
}

}  // namespace

void policyserver(CommandContext& ctx) {
  const std::string usage = "Usage: " + ctx.prefix() + " policyserver enable|disable|status [room]";
  if (ctx.args.empty() || ctx.args.size() > 2) {
    ctx.reply(usage);
    return;
  }
  const std::string& verb = ctx.args[0];
  if (verb != "enable" && verb != "disable" && verb != "status") {
    ctx.reply(usage);
    return;
  }
  const auto view = ctx.host.policy_server_view();
  if (!view) {
    ctx.reply(
        "The policy server is off. Add a `policy_server:` section to Tyr's config, route "
        "/_matrix/policy/ on the homeserver's federation port to it, and restart Tyr "
        "(docs/policy-server.md).");
    return;
  }
  const auto rooms = target_rooms(ctx, 1);
  if (rooms.empty()) return;
  if (verb == "status") {
    std::string text = "Policy server for " + view->server_name + " (ed25519:policy_server " +
                       view->public_key + ").\nRequests:";
    bool first = true;
    for (const auto& [outcome, n] : view->outcomes) {
      if (n == 0) continue;
      text += std::string(first ? " " : ", ") + std::to_string(n) + " " + outcome;
      first = false;
    }
    if (first) text += " none yet";
    text += ".";
    for (const auto& room : rooms) {
      auto it = view->rooms.find(room);
      const uint64_t signed_n = it == view->rooms.end() ? 0 : it->second.first;
      const uint64_t refused_n = it == view->rooms.end() ? 0 : it->second.second;
      text += "\n  " + room + ": " + std::to_string(signed_n) + " signed, " +
              std::to_string(refused_n) + " refused";
    }
    ctx.reply(text);
    return;
  }
  for (const auto& room : rooms) {
    actions::SetPolicyServer a;
    a.room = room;
    a.disable = verb == "disable";
    if (!a.disable) {
      a.via = view->server_name;
      a.public_key = view->public_key;
    }
    a.reply_to = ctx.event_id();
    ctx.enqueue(a);
  }
}

}  // namespace tyr::engine::commands
