#pragma once
// The command handlers, by group; each group lives in engine/commands/<group>_commands.cpp and
// each handler is listed once in the table of registry.cpp.

#include "engine/commands/command.hpp"

namespace tyr::engine::commands {

// status_commands.cpp
void help(CommandContext& ctx);
void status(CommandContext& ctx);
void ping(CommandContext& ctx);

// rooms_commands.cpp
void rooms(CommandContext& ctx);
void rooms_add(CommandContext& ctx);
void rooms_remove(CommandContext& ctx);
void verify(CommandContext& ctx);

// lists_commands.cpp
void lists(CommandContext& ctx);
void lists_watch(CommandContext& ctx);
void lists_unwatch(CommandContext& ctx);
void lists_create(CommandContext& ctx);
void lists_shadow(CommandContext& ctx);
void lists_enforce(CommandContext& ctx);
void lists_default(CommandContext& ctx);
void import_bans(CommandContext& ctx);

// moderation_commands.cpp: rules Tyr writes to its lists, the allowlist, redactions
void ban(CommandContext& ctx);
void unban(CommandContext& ctx);
void takedown(CommandContext& ctx);
void allow(CommandContext& ctx);
void allow_remove(CommandContext& ctx);
void redact(CommandContext& ctx);
void kick(CommandContext& ctx);
void mute(CommandContext& ctx);
void unmute(CommandContext& ctx);

// member_commands.cpp
void since(CommandContext& ctx);

// admin_commands.cpp: the homeserver's admin API (homeserver.admin_token)
void suspend(CommandContext& ctx);
void unsuspend(CommandContext& ctx);
void deactivate(CommandContext& ctx);
void shutdown_room(CommandContext& ctx);

// rules_commands.cpp
void rules(CommandContext& ctx);
void rules_test(CommandContext& ctx);
void rules_reload(CommandContext& ctx);

// protections_commands.cpp
void protections(CommandContext& ctx);

// policyserver_commands.cpp
void policyserver(CommandContext& ctx);

// learn_commands.cpp
void learn(CommandContext& ctx);

// report_commands.cpp
void report(CommandContext& ctx);

// audit_commands.cpp
void audit(CommandContext& ctx);

}  // namespace tyr::engine::commands
