// From an operator's message in the management room to the command it names.

#include <algorithm>

#include "engine/commands/command.hpp"
#include "engine/commands/command_parser.hpp"
#include "engine/core/json_fields.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine::commands {

void CommandContext::reply(const std::string& body) const {
  enqueue(actions::Notice{host.command_room(), body, event_id()});
}

void dispatch_command(CommandHost& host, const nlohmann::json& event, Batch& batch) {
  auto content = event.find("content");
  if (content == event.end() || !content->is_object()) return;
  const std::string* body = string_field(*content, "body");
  const std::string* sender = string_field(event, "sender");
  if (!body || !sender) return;
  if (auto rel = content->find("m.relates_to");
      rel != content->end() && rel->is_object() && rel->value("rel_type", "") == "m.replace") {
    return;  // edits are not new commands
  }
  const auto& management = host.config().management;
  auto parsed = parse_command(*body, management.command_prefix);
  if (!parsed) return;
  const auto& ops = management.operators;
  if (std::find(ops.begin(), ops.end(), *sender) == ops.end()) {
    log::info("bot", "ignored a command from non-operator " + *sender);
    return;
  }
  CommandContext ctx{host, event, {}, batch};
  if (!*parsed) {
    ctx.reply("Could not read that command: " + parsed->error().message);
    return;
  }
  const auto& words = parsed->value().words;
  if (words.empty()) {
    ctx.reply("Tyr is here. Try `" + management.command_prefix + " help`.");
    return;
  }
  const std::string& prefix = management.command_prefix;
  const CommandSpec* spec = find_command(words);
  // A command without arguments given some ("rooms ad #x") is a misspelt longer one.
  const bool takes_args = spec != nullptr && spec->usage.find_first_of("<[") != std::string::npos;
  if (spec == nullptr || (!takes_args && words.size() > spec->word_count())) {
    std::string text =
        "Unknown command '" +
        escape_untrusted(words.size() > 1 && spec != nullptr ? words[0] + " " + words[1] : words[0],
                         kMaxQuotedName) +
        "'.";
    if (const CommandSpec* near = closest_command(words)) {
      text += " Did you mean `" + prefix + " " + std::string(near->usage) + "`?";
    } else {
      text += " Try `" + prefix + " help` for the list of commands.";
    }
    ctx.reply(text);
    return;
  }
  ctx.args.assign(words.begin() + static_cast<long>(spec->word_count()), words.end());
  log::info("bot", *sender + " ran: " + *body);
  spec->handler(ctx);
}

}  // namespace tyr::engine::commands
