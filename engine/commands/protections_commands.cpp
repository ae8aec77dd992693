// `protections …`: the built-in protections' state, counters and settings. The protections parse
// the words and answers; changed settings persist in the command's batch.

#include "engine/commands/handlers.hpp"
#include "engine/core/text.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine::commands {

void protections(CommandContext& ctx) {
  ProtectionHost* protections = ctx.host.protections();
  if (protections == nullptr) {
    ctx.reply("No protections are available.");
    return;
  }
  auto [text, changed] = protections->command(ctx.args);
  // Read back at start (cli/service.cpp): "protections/settings" -> the scorer's settings JSON.
  if (changed) {
    ctx.batch.put(Cf::kState, state_keys::kProtectionSettings, dump_json(protections->save_settings()));
  }
  ctx.reply(text);
}

}  // namespace tyr::engine::commands
