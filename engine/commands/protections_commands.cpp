// `protections …`: the built-in protections' state, counters and settings. The scorer parses
// the words and answers; changed settings persist in the command's batch.

#include "engine/commands/handlers.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine::commands {

void protections(CommandContext& ctx) {
  EventScorer* scorer = ctx.host.scorer();
  if (scorer == nullptr) {
    ctx.reply("No protections are available.");
    return;
  }
  auto [text, changed] = scorer->protections_command(ctx.args);
  // Read back at start (cli/service.cpp): "protections/settings" -> the scorer's settings JSON.
  if (changed) {
    ctx.batch.put(Cf::kState, "protections/settings", dump_json(scorer->save_settings()));
  }
  ctx.reply(text);
}

}  // namespace tyr::engine::commands
