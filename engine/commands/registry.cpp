// The one table of management-room commands: dispatch (dispatch.cpp) and `help` read it.

#include <algorithm>
#include <array>
#include <cctype>

#include "engine/commands/command.hpp"
#include "engine/commands/handlers.hpp"

namespace tyr::engine {

namespace {

namespace c = commands;

// Longer word paths first so that "rooms add" wins over "rooms".
constexpr auto kCommands = std::to_array<CommandSpec>({
    {{"rooms", "add"}, "rooms add <room-id|#alias>", "join a room and protect it", &c::rooms_add},
    {{"rooms", "remove"}, "rooms remove <room-id|#alias>",
     "stop protecting a room", &c::rooms_remove},
    {{"rooms"}, "rooms", "list the protected rooms", &c::rooms},
    {{"lists", "watch"}, "lists watch <!room|#alias>",
     "follow a policy list room", &c::lists_watch},
    {{"lists", "unwatch"}, "lists unwatch <list>",
     "stop following a policy list", &c::lists_unwatch},
    {{"lists", "create"}, "lists create <shortcode>",
     "create a policy list Tyr can write", &c::lists_create},
    {{"lists"}, "lists", "the lists Tyr follows, with rule counts", &c::lists},
    {{"ban"}, "ban <list> [user|room|server] <entity> [reason]",
     "add a ban rule to a list Tyr writes", &c::ban},
    {{"unban"}, "unban <list> [user|room|server] <entity>",
     "remove that entity's rules", &c::unban},
    {{"takedown"}, "takedown <list> [user|room|server] <entity>",
     "add a takedown rule (ban and redact history)", &c::takedown},
    {{"allow", "remove"}, "allow remove <entity>",
     "take an entity off the allowlist", &c::allow_remove},
    {{"allow"}, "allow [entity]",
     "never act on an entity (no argument: show the allowlist)", &c::allow},
    {{"redact"}, "redact <user> [room]", "redact a user's recent messages", &c::redact},
    {{"rules", "test"}, "rules test <text>",
     "score a message as if sent in a protected room", &c::rules_test},
    {{"rules", "reload"}, "rules reload",
     "reload the rule files (also on SIGHUP)", &c::rules_reload},
    {{"rules"}, "rules", "the loaded rules and verdict counters", &c::rules},
    {{"report"}, "report <id> redact|kick|ban|ignore", "answer an abuse report", &c::report},
    {{"audit"}, "audit <user|room> [count]",
     "latest audit-trail entries about a user or room", &c::audit},
    {{"protections"},
     "protections [room] | protections enable|disable|shadow <name> [room] | "
     "protections config <name> <key> <value> [room]",
     "built-in protections: state, counters and settings", &c::protections},
    {{"status"}, "status", "version, uptime, protected rooms, lists and queues", &c::status},
    {{"ping"}, "ping [text]", "check that Tyr is listening", &c::ping},
    {{"help"}, "help", "this list", &c::help},
});

bool word_is(const std::string& word, std::string_view lower) {
  return std::equal(word.begin(), word.end(), lower.begin(), lower.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == static_cast<unsigned char>(b);
  });
}

}  // namespace

std::span<const CommandSpec> command_table() { return kCommands; }

const CommandSpec* find_command(const std::vector<std::string>& words) {
  for (const auto& spec : kCommands) {
    const size_t n = spec.word_count();
    if (words.size() < n) continue;
    bool match = true;
    for (size_t i = 0; i < n && match; ++i) match = word_is(words[i], spec.words[i]);
    if (match) return &spec;
  }
  return nullptr;
}

std::string help_text(std::string_view prefix) {
  std::string text = "Tyr commands (prefix " + std::string(prefix) + "):";
  for (const auto& spec : kCommands) {
    text += "\n  " + std::string(spec.usage) + " — " + std::string(spec.summary);
  }
  return text;
}

}  // namespace tyr::engine
