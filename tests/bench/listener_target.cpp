// Tyr's three listeners, served for scripts/hostile_clients.py to attack (not part of ctest).
//
//   tyr_listener_target
//
// Starts the real AppserviceServer (over a real RocksDB store in a fresh temp directory), the
// inline veto server (over a backend that allows everything at once) and the admin listener, on
// free loopback ports, and prints one JSON line: {"pid", "appservice", "veto", "admin",
// "hs_token", "veto_secret"}. Serves until its standard input closes, then stops and removes
// the store.

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/appservice/appservice_server.hpp"
#include "engine/config/config.hpp"
#include "engine/core/log.hpp"
#include "engine/metrics/admin_server.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/store/store.hpp"
#include "engine/veto/veto.hpp"

namespace {

class AllowAll : public tyr::engine::veto::Backend {
 public:
  bool veto_ready() const override { return true; }
  tyr::engine::veto::Decision decide_membership(const tyr::engine::veto::Request&) override {
    return {};
  }
  tyr::engine::veto::Decision decide_event(const tyr::engine::veto::Request&,
                                           std::chrono::milliseconds) override {
    return {};
  }
};

}  // namespace

int main() {
  namespace fs = std::filesystem;
  using namespace tyr::engine;
  tyr::log::set_level(tyr::log::Level::kError);
  const fs::path dir = fs::temp_directory_path() / ("tyr_listener_target_" + random_token());

  Config config;
  config.homeserver.url = "http://127.0.0.1:1";
  config.homeserver.server_name = "example.org";
  config.appservice.hs_token = random_token();
  config.appservice.as_token = random_token();
  config.appservice.bind_address = "127.0.0.1";
  config.appservice.port = 0;
  config.veto.enabled = true;
  config.veto.port = 0;
  config.veto.secret = random_token();

  int status = 0;
  {
    Store store(dir);
    AppserviceServer appservice(config, store, {});
    AllowAll backend;
    veto::Server veto_server(config.veto, backend);
    metrics::AdminServer admin("127.0.0.1", 0, metrics::tyr_metrics().registry, {}, {});
    if (!appservice.start() || !veto_server.start() || !admin.start()) {
      std::fprintf(stderr, "cannot start the listeners\n");
      status = 1;
    } else {
      nlohmann::json ready = {{"pid", ::getpid()},
                              {"appservice", appservice.port()},
                              {"veto", veto_server.port()},
                              {"admin", admin.port()},
                              {"hs_token", config.appservice.hs_token},
                              {"veto_secret", config.veto.secret}};
      std::cout << ready.dump() << std::endl;
      std::string line;
      while (std::getline(std::cin, line)) {
      }
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return status;
}
