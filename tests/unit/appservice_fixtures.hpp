#pragma once
// What the appservice server tests share: a config, a server over a fresh store, transaction
// bodies, and checks of status and errcode together.

#include "engine/appservice/appservice_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include "cli/sandbox/synapse_process.hpp"
#include "tests/unit/raw_http.hpp"
#include "tests/unit/temp_dir.hpp"

namespace tyr::test {

using nlohmann::json;
using tyr::engine::AppserviceRequest;
using tyr::engine::AppserviceResponse;
using tyr::engine::AppserviceServer;
using tyr::engine::Config;
using tyr::engine::random_token;
using tyr::engine::Store;

inline constexpr const char* kToken = "secret-hs";
inline constexpr const char* kBearer = "Bearer secret-hs";
inline constexpr size_t kMaxBody = 4096;

// A loopback port with nothing listening (the sandbox's helper: bind port 0, release).
inline uint16_t free_port() { return tyr::cli::sandbox::free_loopback_port(); }

using tyr::test::TempDir;

inline Config make_config(uint16_t port) {
  Config c;
  c.homeserver.url = "http://127.0.0.1:1";
  c.homeserver.server_name = "example.org";
  c.appservice.hs_token = kToken;
  c.appservice.as_token = "secret-as";
  c.appservice.bind_address = "127.0.0.1";
  c.appservice.port = port;
  c.appservice.user_prefix = "_tyr_";
  c.appservice.sender_localpart = "tyr";
  c.appservice.max_body_bytes = kMaxBody;
  return c;
}

// How the provision_user hook answers; kNone installs no hook at all.
enum class Provision { kNone, kYes, kNo };

// A server over a fresh store. Members are declared in construction order: the server last, so
// it is stopped before the store closes.
class Harness {
 public:
  explicit Harness(Provision provision = Provision::kNone)
      : config_(make_config(free_port())), store_(dir_.path()) {
    AppserviceServer::Hooks hooks;
    hooks.on_events_accepted = [this] { ++accepted_calls_; };
    hooks.on_txn_gap = [this](int64_t last_ms, const std::string& txn_id) {
      std::lock_guard lock(mutex_);
      gaps_.emplace_back(txn_id, last_ms);
    };
    hooks.on_transaction = [this](bool resent) {
      std::lock_guard lock(mutex_);
      arrivals_.push_back(resent);
    };
    if (provision != Provision::kNone) {
      const bool answer = provision == Provision::kYes;
      hooks.provision_user = [this, answer](const std::string& user_id) {
        std::lock_guard lock(mutex_);
        provisioned_.push_back(user_id);
        return answer;
      };
    }
    server_.emplace(config_, store_, std::move(hooks));
  }

  AppserviceServer& server() { return *server_; }
  Store& store() { return store_; }
  int accepted_calls() const { return accepted_calls_; }
  std::vector<std::pair<std::string, int64_t>> gaps() const {
    std::lock_guard lock(mutex_);
    return gaps_;
  }
  std::vector<std::string> provisioned() const {
    std::lock_guard lock(mutex_);
    return provisioned_;
  }
  std::vector<bool> arrivals() const {  // on_transaction's `resent`, per stored transaction
    std::lock_guard lock(mutex_);
    return arrivals_;
  }

  // Starts the HTTP server and waits, with a deadline, until it has answered a request: until
  // then its accept loop may not run yet, and stop() would not end it.
  httplib::Client start_http() {
    REQUIRE(server_->start());
    REQUIRE(server_->port() == config_.appservice.port);
    httplib::Client client("127.0.0.1", server_->port());
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(5));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    httplib::Result res = client.Get("/");
    while (!res && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      res = client.Get("/");
    }
    REQUIRE(res);
    REQUIRE(res->status == 401);  // no token: the server is up and refusing
    return client;
  }

 private:
  TempDir dir_;
  Config config_;
  Store store_;
  std::atomic<int> accepted_calls_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> provisioned_;
  std::vector<std::pair<std::string, int64_t>> gaps_;
  std::vector<bool> arrivals_;
  std::optional<AppserviceServer> server_;
};

inline AppserviceRequest request(std::string method, std::string path, std::string body = {},
                                 std::string authorization = kBearer) {
  AppserviceRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.authorization = std::move(authorization);
  r.body = std::move(body);
  return r;
}

inline AppserviceRequest put_txn(const std::string& txn_id, std::string body) {
  return request("PUT", "/_matrix/app/v1/transactions/" + txn_id, std::move(body));
}

inline std::string event(const std::string& event_id) {
  return json{{"event_id", event_id},
              {"type", "m.room.message"},
              {"room_id", "!r:example.org"},
              {"sender", "@alice:example.org"},
              {"content", {{"body", "hi"}}}}
      .dump();
}

inline std::string txn_body(const std::vector<std::string>& event_ids) {
  json events = json::array();
  for (const auto& id : event_ids) events.push_back(json::parse(event(id)));
  return json{{"events", events}}.dump();
}

// Event IDs in the inbox, in sequence order.
inline std::vector<std::string> inbox_ids(const Store& store) {
  std::vector<std::string> ids;
  uint64_t after = 0;
  while (auto next = store.next_inbox(after)) {
    ids.push_back(json::parse(next->second).at("event_id").get<std::string>());
    after = next->first;
  }
  return ids;
}

inline std::string errcode_of(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("errcode")) return "(no errcode)";
  return j["errcode"].get<std::string>();
}

// Checks status and errcode together so that a failure shows both.
inline void check_error(const AppserviceResponse& r, int status, const std::string& errcode) {
  INFO("body: " << r.body);
  CHECK(r.status == status);
  CHECK(errcode_of(r.body) == errcode);
  CHECK(json::parse(r.body).at("error").is_string());
}

inline void check_error(const httplib::Result& r, int status, const std::string& errcode) {
  REQUIRE(r);
  INFO("body: " << r->body);
  CHECK(r->status == status);
  CHECK(errcode_of(r->body) == errcode);
  CHECK(r->get_header_value("Content-Type") == "application/json");
}

inline void check_ok(const AppserviceResponse& r) {
  INFO("body: " << r.body);
  CHECK(r.status == 200);
  CHECK(r.body == "{}");
}

inline void check_ok(const httplib::Result& r) {
  REQUIRE(r);
  INFO("body: " << r->body);
  CHECK(r->status == 200);
  CHECK(r->body == "{}");
}

using Strings = std::vector<std::string>;

}  // namespace tyr::test
