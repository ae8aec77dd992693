#pragma once
// Composition root of a running Tyr: store, homeserver client, appservice API, pipeline,
// executor and bot, wired together and started in the order the homeserver needs.

#include <atomic>
#include <functional>
#include <string>

#include "engine/config/config.hpp"

namespace tyr::cli {

struct ServiceHooks {
  // Called once Tyr is serving and has joined its management room.
  std::function<void(const std::string& management_room_id)> on_ready;
  // Set (e.g. by SIGHUP) to reload the rules; the service clears it.
  std::atomic<bool>* reload = nullptr;
};

// Runs until `stop` becomes true. Returns a process exit code.
int run_service(const engine::Config& config, const std::atomic<bool>& stop,
                const ServiceHooks& hooks = {});

}  // namespace tyr::cli
