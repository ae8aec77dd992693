#pragma once
// A real Bot on a real RocksDB store in a temp dir, talking to `homeserver_url` (by default an
// address nothing listens on: handle_event only queues, it never calls the homeserver). Tests
// that need more of the config set it through `tune`, before the Bot is built.

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/client/homeserver_client.hpp"
#include "engine/config/config.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/policy_book.hpp"
#include "engine/store/store.hpp"
#include "temp_dir.hpp"

namespace tyr::test {

struct BotRig {
  TempDir dir;
  engine::Config config;
  std::unique_ptr<engine::Store> store;
  std::unique_ptr<engine::HomeserverClient> client;
  std::unique_ptr<engine::PolicyBook> book;
  std::unique_ptr<engine::Bot> bot;
  int counter = 0;

  explicit BotRig(const std::string& homeserver_url = "http://127.0.0.1:1",
                  const std::function<void(engine::Config&)>& tune = {}) {
    config.homeserver.server_name = "hs";
    config.homeserver.url = homeserver_url;
    config.management.room = "!mgmt:hs";
    config.management.operators = {"@op:hs"};
    if (tune) tune(config);
    store = std::make_unique<engine::Store>(dir.path());
    engine::ClientOptions options{homeserver_url, "t"};
    options.max_attempts = 1;
    client = std::make_unique<engine::HomeserverClient>(options);
    book = std::make_unique<engine::PolicyBook>(*store);
    book->load();
    bot = std::make_unique<engine::Bot>(config, *store, *client, *book);
    bot->set_management_room("!mgmt:hs");
  }
  ~BotRig() {  // the bot and the book before the store they use
    bot.reset();
    book.reset();
    store.reset();
  }

  // A text message from `sender` in `room` (the management room by default).
  nlohmann::json message(const std::string& sender, const std::string& body,
                         const std::string& room = "!mgmt:hs") {
    return {{"event_id", "$e" + std::to_string(++counter)},
            {"room_id", room},
            {"sender", sender},
            {"type", "m.room.message"},
            {"content", {{"msgtype", "m.text"}, {"body", body}}}};
  }

  // Takes every queued action off the outbox, in the order the executor would run them.
  std::vector<nlohmann::json> take_actions() {
    std::vector<nlohmann::json> actions;
    while (auto next = store->next_outbox()) {
      actions.push_back(nlohmann::json::parse(next->json));
      engine::Batch del;
      del.del(engine::Cf::kOutbox, next->key);
      REQUIRE(store->commit(del));
    }
    return actions;
  }

  // Handles one event, commits its effects, and returns the actions it queued.
  std::vector<nlohmann::json> handle(const nlohmann::json& event) {
    engine::Batch batch;
    bot->handle_event(event, batch);
    REQUIRE(store->commit(batch));
    return take_actions();
  }
};

}  // namespace tyr::test
