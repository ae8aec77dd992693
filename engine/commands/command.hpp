#pragma once
// Management-room commands: one table of specs (words, usage, summary, handler) that drives
// both dispatch and `help`. Handlers are free functions, one file per group
// (engine/commands/*_commands.cpp), declared in handlers.hpp and listed in registry.cpp.
//
// Adding a command: write its handler in the group's file, declare it in handlers.hpp, add one
// line to the table in registry.cpp (help lists it from there), and test it in
// tests/unit/commands_*_test.cpp against the fake host.

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/actions/action.hpp"
#include "engine/commands/command_host.hpp"
#include "engine/store/store.hpp"

namespace tyr::engine::commands {

// One command being run: the operator's message, the words after the command's own words,
// and the batch its effects (state, queued actions, replies) commit in.
struct CommandContext {
  CommandHost& host;
  const nlohmann::json& event;
  std::vector<std::string> args;
  Batch& batch;

  // A notice in the management room, in reply to the command.
  void reply(const std::string& body) const;
  // Queues one executor action in the command's batch.
  void enqueue(const actions::Action& action) const { host.enqueue_action(batch, action); }
  const std::string& prefix() const { return host.config().management.command_prefix; }
  std::string event_id() const { return event.value("event_id", ""); }
  std::string sender() const { return event.value("sender", ""); }
};

using CommandHandler = void (*)(CommandContext&);

struct CommandSpec {
  std::array<std::string_view, 2> words;  // lower case; the second is "" for one-word commands
  std::string_view usage;                 // as `help` shows it, without the prefix
  std::string_view summary;
  CommandHandler handler;

  size_t word_count() const { return words[1].empty() ? 1 : 2; }
};

// Every command, in the order `help` lists them. Dispatch takes the first spec whose words
// start the command (case-insensitively), so a longer word path comes before its prefix.
std::span<const CommandSpec> command_table();

// The spec `words` (everything after the prefix) invoke; null when none does.
const CommandSpec* find_command(const std::vector<std::string>& words);

// The spec `words` most likely meant (a misspelling within two edits), or null.
const CommandSpec* closest_command(const std::vector<std::string>& words);

// The text of `help`: one line per spec.
std::string help_text(std::string_view prefix);

// Handles one m.room.message in the management room: ignored unless it is a command (prefix,
// not an edit) from an operator; otherwise answered or run, its effects in `batch`.
void dispatch_command(CommandHost& host, const nlohmann::json& event, Batch& batch);

}  // namespace tyr::engine::commands
