// The one table of management-room commands: dispatch (dispatch.cpp) and `help` read it.

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "engine/commands/command.hpp"
#include "engine/commands/handlers.hpp"

namespace tyr::engine::commands {

namespace {

// Longer word paths first so that "rooms add" wins over "rooms".
constexpr auto kCommands = std::to_array<CommandSpec>({
    {{"rooms", "add"}, "rooms add <room-id|#alias>", "join a room and protect it", &rooms_add},
    {{"rooms", "remove"}, "rooms remove <room-id|#alias>", "stop protecting a room", &rooms_remove},
    {{"rooms"}, "rooms", "list the protected rooms", &rooms},
    {{"verify"}, "verify", "check Tyr's power in every protected room", &verify},
    {{"lists", "watch"}, "lists watch <!room|#alias>", "follow a policy list room", &lists_watch},
    {{"lists", "unwatch"}, "lists unwatch <list>", "stop following a policy list", &lists_unwatch},
    {{"lists", "create"},
     "lists create <shortcode>",
     "create a policy list Tyr can write",
     &lists_create},
    {{"lists", "shadow"},
     "lists shadow <list>",
     "report a list's matches without acting",
     &lists_shadow},
    {{"lists", "enforce"}, "lists enforce <list>", "act on a list's rules", &lists_enforce},
    {{"lists", "default"},
     "lists default [list]",
     "the list ban, unban and takedown use when none is named",
     &lists_default},
    {{"lists"}, "lists", "the lists Tyr follows, with rule counts", &lists},
    {{"import"}, "import <room> [list]", "add a room's existing bans to a list", &import_bans},
    {{"ban"},
     "ban [list] [user|room|server] <entity> [reason]",
     "add a ban rule to a list Tyr writes",
     &ban},
    {{"unban"}, "unban [list] [user|room|server] <entity>", "remove that entity's rules", &unban},
    {{"takedown"},
     "takedown [list] [user|room|server] <entity> [reason]",
     "add a takedown rule (ban and redact history)",
     &takedown},
    {{"allow", "remove"},
     "allow remove <entity>",
     "take an entity off the allowlist",
     &allow_remove},
    {{"allow"},
     "allow [entity]",
     "never act on an entity (no argument: show the allowlist)",
     &allow},
    {{"redact"}, "redact <user> [room]", "redact a user's recent messages", &redact},
    {{"kick"}, "kick <user> [room] [reason]", "kick a user from one protected room or all", &kick},
    {{"mute"},
     "mute <user> [room] [reason]",
     "take a user's voice (power level below events_default)",
     &mute},
    {{"unmute"}, "unmute <user> [room]", "give a muted user their voice back", &unmute},
    {{"since"},
     "since <duration> kick|ban|redact|mute [room] [reason]",
     "act on everyone who joined or spoke in the last 30m, 2h, 1d…",
     &since},
    {{"suspend"},
     "suspend <@user> [reason]",
     "suspend a local user (admin API; homeserver.admin_token)",
     &suspend},
    {{"unsuspend"}, "unsuspend <@user>", "lift a suspension (admin API)", &unsuspend},
    {{"deactivate"},
     "deactivate <@user> [reason]",
     "deactivate a local user's account (admin API)",
     &deactivate},
    {{"shutdown", "room"},
     "shutdown room <room> [reason]",
     "remove everyone from a room, block and purge it (admin API)",
     &shutdown_room},
    {{"rules", "test"},
     "rules test <text>",
     "score a message as if sent in a protected room",
     &rules_test},
    {{"rules", "reload"}, "rules reload", "reload the rule files (also on SIGHUP)", &rules_reload},
    {{"rules"}, "rules", "the loaded rules and verdict counters", &rules},
    {{"report"}, "report <id> redact|kick|ban|ignore", "answer an abuse report", &report},
    {{"learn"},
     "learn spam|ham|undo <event> [room] | learn stats",
     "teach the classifier a message, or take it back",
     &learn},
    {{"audit"},
     "audit <user|room> [count]",
     "latest audit-trail entries about a user or room",
     &audit},
    {{"protections"},
     "protections [room] | protections show|enable|disable|shadow <name> [room] | "
     "protections config <name> <key> <value>[,<value>…] [room]",
     "built-in protections: state, counters and settings",
     &protections},
    {{"policyserver"},
     "policyserver enable|disable|status [room]",
     "Tyr as the rooms' policy server: other servers ask it before accepting an event",
     &policyserver},
    {{"status"}, "status", "version, uptime, protected rooms, lists and queues", &status},
    {{"ping"}, "ping [text]", "check that Tyr is listening", &ping},
    {{"help"}, "help", "this list", &help},
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

namespace {

// Edit distance (insertions, deletions, substitutions, swaps of neighbours), case-insensitive.
size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  auto low = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = low(a[i - 1]) == low(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && low(a[i - 1]) == low(b[j - 2]) && low(a[i - 2]) == low(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

const CommandSpec* closest_command(const std::vector<std::string>& words) {
  if (words.empty() || words[0].size() > 64) return nullptr;
  const CommandSpec* best = nullptr;
  size_t best_distance = 3;  // at most two edits
  for (const auto& spec : kCommands) {
    size_t dist = distance(words[0], spec.words[0]);
    // "rooms ad": a second word given to a command that takes none was likely meant as part of
    // a longer command, which wins a tie (longer word paths come first in the table).
    if (spec.word_count() == 1 && words.size() >= 2 &&
        spec.usage.find_first_of("<[") == std::string_view::npos)
      ++dist;
    if (spec.word_count() == 2) {
      // "rooms ad" → "rooms add": the second word counts too, when one was given.
      if (words.size() < 2 || words[1].size() > 64) continue;
      dist += distance(words[1], spec.words[1]);
    }
    if (dist < best_distance && dist < spec.words[0].size()) {
      best = &spec;
      best_distance = dist;
    }
  }
  return best;
}

std::string help_text(std::string_view prefix) {
  std::string text = "Tyr commands (prefix " + std::string(prefix) + "):";
  for (const auto& spec : kCommands) {
    text += "\n  " + std::string(spec.usage) + " — " + std::string(spec.summary);
  }
  return text;
}

}  // namespace tyr::engine::commands
