// AppserviceServer: the pure handle() and the real HTTP server on a loopback port chosen at run
// time, with a real Store in a fresh temp directory. Status codes and errcodes follow
// matrix-protocol.md §1.2–1.4.

#include "engine/appservice/appservice_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <catch2/catch.hpp>

#include "cli/sandbox/synapse_process.hpp"
#include "tests/unit/raw_http.hpp"
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include "tests/unit/temp_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using tyr::engine::AppserviceRequest;
using tyr::engine::AppserviceResponse;
using tyr::engine::AppserviceServer;
using tyr::engine::Config;
using tyr::engine::random_token;
using tyr::secure_equals;
using tyr::engine::Store;

namespace {

constexpr const char* kToken = "secret-hs";
constexpr const char* kBearer = "Bearer secret-hs";
constexpr size_t kMaxBody = 4096;

// A loopback port with nothing listening (the sandbox's helper: bind port 0, release).
uint16_t free_port() { return tyr::sandbox::free_loopback_port(); }

using tyr::test::TempDir;

Config make_config(uint16_t port) {
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

AppserviceRequest request(std::string method, std::string path, std::string body = {},
                          std::string authorization = kBearer) {
  AppserviceRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.authorization = std::move(authorization);
  r.body = std::move(body);
  return r;
}

AppserviceRequest put_txn(const std::string& txn_id, std::string body) {
  return request("PUT", "/_matrix/app/v1/transactions/" + txn_id, std::move(body));
}

std::string event(const std::string& event_id) {
  return json{{"event_id", event_id},
              {"type", "m.room.message"},
              {"room_id", "!r:example.org"},
              {"sender", "@alice:example.org"},
              {"content", {{"body", "hi"}}}}
      .dump();
}

std::string txn_body(const std::vector<std::string>& event_ids) {
  json events = json::array();
  for (const auto& id : event_ids) events.push_back(json::parse(event(id)));
  return json{{"events", events}}.dump();
}

// Event IDs in the inbox, in sequence order.
std::vector<std::string> inbox_ids(const Store& store) {
  std::vector<std::string> ids;
  uint64_t after = 0;
  while (auto next = store.next_inbox(after)) {
    ids.push_back(json::parse(next->second).at("event_id").get<std::string>());
    after = next->first;
  }
  return ids;
}

std::string errcode_of(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("errcode")) return "(no errcode)";
  return j["errcode"].get<std::string>();
}

// Checks status and errcode together so that a failure shows both.
void check_error(const AppserviceResponse& r, int status, const std::string& errcode) {
  INFO("body: " << r.body);
  CHECK(r.status == status);
  CHECK(errcode_of(r.body) == errcode);
  CHECK(json::parse(r.body).at("error").is_string());
}

void check_error(const httplib::Result& r, int status, const std::string& errcode) {
  REQUIRE(r);
  INFO("body: " << r->body);
  CHECK(r->status == status);
  CHECK(errcode_of(r->body) == errcode);
  CHECK(r->get_header_value("Content-Type") == "application/json");
}

void check_ok(const AppserviceResponse& r) {
  INFO("body: " << r.body);
  CHECK(r.status == 200);
  CHECK(r.body == "{}");
}

void check_ok(const httplib::Result& r) {
  REQUIRE(r);
  INFO("body: " << r->body);
  CHECK(r->status == 200);
  CHECK(r->body == "{}");
}

using Strings = std::vector<std::string>;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Authentication

TEST_CASE("appservice: a request without a token is 401 M_MISSING_TOKEN", "[appservice]") {
  Harness h;
  auto r = h.server().handle(
      request("PUT", "/_matrix/app/v1/transactions/1", txn_body({"$a"}), /*authorization=*/""));
  check_error(r, 401, "M_MISSING_TOKEN");
  CHECK(h.store().inbox_depth() == 0);
  CHECK(h.server().stats().auth_failures == 1);
  CHECK(h.server().stats().transactions == 0);
}

TEST_CASE("appservice: an Authorization header that is not Bearer is 401 M_MISSING_TOKEN",
          "[appservice]") {
  Harness h;
  for (const char* header : {"Basic c2VjcmV0LWhz", "secret-hs", "Bearer "}) {
    INFO(header);
    check_error(h.server().handle(request("POST", "/_matrix/app/v1/ping", "{}", header)), 401,
                "M_MISSING_TOKEN");
  }
}

TEST_CASE("appservice: a wrong Bearer token is 403 M_FORBIDDEN", "[appservice]") {
  Harness h;
  for (const char* header : {"Bearer wrong", "Bearer secret-hs2", "Bearer secret-h",
                             "Bearer SECRET-HS"}) {
    INFO(header);
    check_error(h.server().handle(request("PUT", "/_matrix/app/v1/transactions/1",
                                          txn_body({"$a"}), header)),
                403, "M_FORBIDDEN");
  }
  CHECK(h.store().inbox_depth() == 0);
  CHECK(h.accepted_calls() == 0);
}

TEST_CASE("appservice: the token is accepted from the header or the access_token query",
          "[appservice]") {
  Harness h;
  SECTION("Bearer header") { check_ok(h.server().handle(put_txn("1", txn_body({"$a"})))); }
  SECTION("lower-case bearer") {
    check_ok(h.server().handle(request("PUT", "/_matrix/app/v1/transactions/1",
                                       txn_body({"$a"}), "bearer secret-hs")));
  }
  SECTION("access_token query parameter") {
    auto req = request("PUT", "/_matrix/app/v1/transactions/1", txn_body({"$a"}), "");
    req.query.emplace("access_token", kToken);
    check_ok(h.server().handle(req));
  }
  SECTION("header and query both right") {
    auto req = put_txn("1", txn_body({"$a"}));
    req.query.emplace("access_token", kToken);
    check_ok(h.server().handle(req));
  }
  CHECK(inbox_ids(h.store()) == Strings{"$a"});
}

TEST_CASE("appservice: header and query both present, one wrong, is 403 M_FORBIDDEN",
          "[appservice]") {
  Harness h;
  SECTION("query wrong") {
    auto req = put_txn("1", txn_body({"$a"}));
    req.query.emplace("access_token", "wrong");
    check_error(h.server().handle(req), 403, "M_FORBIDDEN");
  }
  SECTION("header wrong") {
    auto req = request("PUT", "/_matrix/app/v1/transactions/1", txn_body({"$a"}), "Bearer no");
    req.query.emplace("access_token", kToken);
    check_error(h.server().handle(req), 403, "M_FORBIDDEN");
  }
  CHECK(h.store().inbox_depth() == 0);
}

TEST_CASE("appservice: authentication comes before routing", "[appservice]") {
  Harness h;
  check_error(h.server().handle(request("GET", "/foo", "", "")), 401, "M_MISSING_TOKEN");
  check_error(h.server().handle(request("GET", "/foo", "", "Bearer wrong")), 403, "M_FORBIDDEN");
  CHECK(h.server().stats().auth_failures == 2);
}

// ---------------------------------------------------------------------------------------------
// Transactions

TEST_CASE("appservice: a valid transaction is 200 {} and its events are in the inbox",
          "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$a", "$b"}))));
  CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
  // The stored JSON is the event as received.
  auto first = h.store().next_inbox();
  REQUIRE(first);
  CHECK(json::parse(first->second) == json::parse(event("$a")));
  CHECK(h.accepted_calls() == 1);
  CHECK(h.server().stats().transactions == 1);
  CHECK(h.server().stats().events_accepted == 2);
}

TEST_CASE("appservice: unknown keys and ephemeral data in a transaction are ignored",
          "[appservice]") {
  Harness h;
  json body = {{"events", json::array({json::parse(event("$a"))})},
               {"ephemeral", json::array({{{"type", "m.typing"}, {"room_id", "!r:example.org"}}})},
               {"de.sorunome.msc2409.to_device", json::array()},
               {"org.matrix.msc3202.device_lists", {{"changed", json::array()}}}};
  check_ok(h.server().handle(put_txn("1", body.dump())));
  CHECK(inbox_ids(h.store()) == Strings{"$a"});
}

TEST_CASE("appservice: an empty events array is 200 and stores nothing", "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", R"({"events":[]})")));
  CHECK(h.store().inbox_depth() == 0);
  CHECK(h.accepted_calls() == 0);
}

TEST_CASE("appservice: a malformed JSON body is 400 M_NOT_JSON and stores nothing",
          "[appservice]") {
  Harness h;
  for (const char* body : {"{", "", "{\"events\": [", "not json", "{\"events\": []} trailing"}) {
    INFO(body);
    check_error(h.server().handle(put_txn("1", body)), 400, "M_NOT_JSON");
  }
  CHECK(h.store().inbox_depth() == 0);
  CHECK_FALSE(h.store().get(tyr::engine::Cf::kTxns, "1"));
  CHECK(h.accepted_calls() == 0);
  CHECK(h.server().stats().transactions == 0);
}

TEST_CASE("appservice: a JSON body that is not a transaction is 400", "[appservice]") {
  Harness h;
  SECTION("not an object") {
    for (const char* body : {"[]", R"([{"events":[]}])", "42", "\"events\"", "null"}) {
      INFO(body);
      check_error(h.server().handle(put_txn("1", body)), 400, "M_NOT_JSON");
    }
  }
  SECTION("no events") {
    for (const char* body : {"{}", R"({"ephemeral":[]})", R"({"Events":[]})"}) {
      INFO(body);
      check_error(h.server().handle(put_txn("1", body)), 400, "M_BAD_JSON");
    }
  }
  SECTION("events not an array") {
    for (const char* body : {R"({"events":{}})", R"({"events":null})", R"({"events":"$a"})",
                             R"({"events":1})"}) {
      INFO(body);
      check_error(h.server().handle(put_txn("1", body)), 400, "M_BAD_JSON");
    }
  }
  CHECK(h.store().inbox_depth() == 0);
  CHECK_FALSE(h.store().get(tyr::engine::Cf::kTxns, "1"));
}

TEST_CASE("appservice: a retried transaction is 200 and stores nothing new", "[appservice]") {
  Harness h;
  const std::string body = txn_body({"$a", "$b"});
  check_ok(h.server().handle(put_txn("5", body)));
  check_ok(h.server().handle(put_txn("5", body)));
  CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
  CHECK(h.accepted_calls() == 1);  // not called again for a pure retry
  const auto& stats = h.server().stats();
  CHECK(stats.transactions == 2);
  CHECK(stats.transactions_retried == 1);
  CHECK(stats.events_accepted == 2);
  CHECK(stats.events_duplicate == 2);
}

TEST_CASE("appservice: a reused txnId with new events accepts them", "[appservice]") {
  // The homeserver restarted its txn counter.
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$a"}))));
  check_ok(h.server().handle(put_txn("1", txn_body({"$b"}))));
  CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
  CHECK(h.accepted_calls() == 2);
  CHECK(h.server().stats().transactions_retried == 0);
}

TEST_CASE("appservice: on_events_accepted is called once per transaction with new events",
          "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$a", "$b", "$c"}))));
  CHECK(h.accepted_calls() == 1);
  // Only already-seen events under a new txnId: nothing new, no wake-up.
  check_ok(h.server().handle(put_txn("2", txn_body({"$a", "$c"}))));
  CHECK(h.accepted_calls() == 1);
  // One new event among old ones: one call.
  check_ok(h.server().handle(put_txn("3", txn_body({"$b", "$d"}))));
  CHECK(h.accepted_calls() == 2);
  // Refused requests never call it.
  check_error(h.server().handle(put_txn("4", "{")), 400, "M_NOT_JSON");
  CHECK(h.accepted_calls() == 2);
}

TEST_CASE("appservice: entries that are not events with an event_id are skipped",
          "[appservice]") {
  Harness h;
  json events = json::array({json::parse(event("$a")),
                             {{"type", "m.room.message"}, {"content", json::object()}},
                             {{"event_id", 7}},
                             {{"event_id", ""}},
                             "$not-an-object",
                             nullptr,
                             json::parse(event("$b"))});
  check_ok(h.server().handle(put_txn("1", json{{"events", events}}.dump())));
  CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
  CHECK(h.server().stats().events_invalid == 5);
  CHECK(h.server().stats().events_accepted == 2);
  CHECK(h.accepted_calls() == 1);

  SECTION("a transaction of only invalid entries is still 200, so it cannot block the queue") {
    check_ok(h.server().handle(put_txn("2", R"({"events":[{},{"event_id":null}]})")));
    CHECK(h.store().inbox_depth() == 2);
    CHECK(h.accepted_calls() == 1);
  }
}

TEST_CASE("appservice: wrong method on transactions is 405 M_UNRECOGNIZED", "[appservice]") {
  Harness h;
  for (const char* method : {"GET", "POST", "DELETE"}) {
    INFO(method);
    check_error(h.server().handle(request(method, "/_matrix/app/v1/transactions/1",
                                          txn_body({"$a"}))),
                405, "M_UNRECOGNIZED");
  }
  CHECK(h.store().inbox_depth() == 0);
}

// ---------------------------------------------------------------------------------------------
// Ping, user and alias queries, unknown routes

TEST_CASE("appservice: ping is 200 {}", "[appservice]") {
  Harness h;
  check_ok(h.server().handle(request("POST", "/_matrix/app/v1/ping", "{}")));
  check_ok(h.server().handle(request("POST", "/_matrix/app/v1/ping",
                                     R"({"transaction_id":"mautrix-go_1"})")));
  check_ok(h.server().handle(request("POST", "/_matrix/app/v1/ping", "")));
  CHECK(h.server().stats().pings == 3);
  check_error(h.server().handle(request("POST", "/_matrix/app/v1/ping", "[]")), 400, "M_NOT_JSON");
  check_error(h.server().handle(request("GET", "/_matrix/app/v1/ping")), 405, "M_UNRECOGNIZED");
}

TEST_CASE("appservice: a user in Tyr's namespace is 200 when provision_user succeeds",
          "[appservice]") {
  Harness h(Provision::kYes);
  check_ok(h.server().handle(request("GET", "/_matrix/app/v1/users/@_tyr_x:example.org")));
  CHECK(h.provisioned() == Strings{"@_tyr_x:example.org"});
  // The bot itself is Tyr's too.
  check_ok(h.server().handle(request("GET", "/_matrix/app/v1/users/@tyr:example.org")));
  CHECK(h.provisioned() == Strings{"@_tyr_x:example.org", "@tyr:example.org"});
  check_error(h.server().handle(request("PUT", "/_matrix/app/v1/users/@_tyr_x:example.org")),
              405, "M_UNRECOGNIZED");
}

TEST_CASE("appservice: a user in Tyr's namespace is 404 M_NOT_FOUND without provisioning",
          "[appservice]") {
  SECTION("no hook") {
    Harness h(Provision::kNone);
    check_error(h.server().handle(request("GET", "/_matrix/app/v1/users/@_tyr_x:example.org")),
                404, "M_NOT_FOUND");
  }
  SECTION("hook answers false") {
    Harness h(Provision::kNo);
    check_error(h.server().handle(request("GET", "/_matrix/app/v1/users/@_tyr_x:example.org")),
                404, "M_NOT_FOUND");
    CHECK(h.provisioned() == Strings{"@_tyr_x:example.org"});
  }
}

TEST_CASE("appservice: a user outside Tyr's namespace is 404 and the hook is not called",
          "[appservice]") {
  Harness h(Provision::kYes);
  for (const char* user : {"@alice:example.org", "@_tyr_x:other.org", "@_tyr_x:example.org:8448",
                           "@_tyr_:example.org", "@tyr:other.org", "@x_tyr_y:example.org",
                           "_tyr_x:example.org", "@_tyr_x"}) {
    INFO(user);
    check_error(h.server().handle(request("GET", std::string("/_matrix/app/v1/users/") + user)),
                404, "M_NOT_FOUND");
  }
  CHECK(h.provisioned().empty());
}

TEST_CASE("appservice: a room alias query is 404 M_NOT_FOUND", "[appservice]") {
  Harness h(Provision::kYes);
  check_error(h.server().handle(request("GET", "/_matrix/app/v1/rooms/#a:example.org")), 404,
              "M_NOT_FOUND");
  check_error(h.server().handle(request("GET", "/_matrix/app/v1/rooms/#_tyr_a:example.org")), 404,
              "M_NOT_FOUND");
  CHECK(h.provisioned().empty());
}

TEST_CASE("appservice: an unknown path is 404 M_UNRECOGNIZED", "[appservice]") {
  Harness h;
  for (const char* path :
       {"/foo", "/", "/_matrix/app/v1/thirdparty/protocol/x", "/_matrix/app/v1/thirdparty/user",
        "/_matrix/app/v1/", "/_matrix/app/v1/transactions/", "/_matrix/app/v1/transactions/1/x",
        "/_matrix/app/v1/users/", "/_matrix/app/v1/pingx", "/_matrix/app/v2/ping",
        "/transactions/1"}) {
    INFO(path);
    check_error(h.server().handle(request("GET", path)), 404, "M_UNRECOGNIZED");
  }
}

// ---------------------------------------------------------------------------------------------
// Real HTTP through start()

TEST_CASE("appservice: over HTTP, auth failures carry status and errcode", "[appservice]") {
  Harness h;
  auto client = h.start_http();
  const std::string path = "/_matrix/app/v1/transactions/1";
  const std::string body = txn_body({"$a"});

  check_error(client.Put(path.c_str(), body, "application/json"), 401, "M_MISSING_TOKEN");
  check_error(client.Put(path.c_str(), {{"Authorization", "Bearer wrong"}}, body,
                         "application/json"),
              403, "M_FORBIDDEN");
  check_error(client.Put((path + "?access_token=wrong").c_str(), {{"Authorization", kBearer}},
                         body, "application/json"),
              403, "M_FORBIDDEN");
  check_error(client.Put((path + "?access_token=secret-hs").c_str(),
                         {{"Authorization", "Bearer wrong"}}, body, "application/json"),
              403, "M_FORBIDDEN");
  CHECK(h.store().inbox_depth() == 0);

  check_ok(client.Put((path + "?access_token=secret-hs").c_str(), body, "application/json"));
  CHECK(inbox_ids(h.store()) == Strings{"$a"});
}

TEST_CASE("appservice: over HTTP, events are stored before the 200 is seen", "[appservice]") {
  Harness h;
  auto client = h.start_http();
  const httplib::Headers auth = {{"Authorization", kBearer}};

  auto res = client.Put("/_matrix/app/v1/transactions/1", auth, txn_body({"$a", "$b"}),
                        "application/json");
  // Read the store before anything else: the answer must mean the events are durable.
  const auto stored = inbox_ids(h.store());
  check_ok(res);
  CHECK(stored == Strings{"$a", "$b"});
  CHECK(h.accepted_calls() == 1);

  SECTION("a retry is 200 with no new inbox entries") {
    check_ok(client.Put("/_matrix/app/v1/transactions/1", auth, txn_body({"$a", "$b"}),
                        "application/json"));
    CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
    CHECK(h.accepted_calls() == 1);
  }
  SECTION("an entry without event_id is skipped") {
    json events = json::array({json::parse(event("$c")), {{"type", "m.room.message"}},
                               json::parse(event("$d"))});
    check_ok(client.Put("/_matrix/app/v1/transactions/2", auth, json{{"events", events}}.dump(),
                        "application/json"));
    CHECK(inbox_ids(h.store()) == Strings{"$a", "$b", "$c", "$d"});
    CHECK(h.accepted_calls() == 2);
  }
  SECTION("malformed bodies are 400 and store nothing") {
    check_error(client.Put("/_matrix/app/v1/transactions/2", auth, "{", "application/json"), 400,
                "M_NOT_JSON");
    check_error(client.Put("/_matrix/app/v1/transactions/2", auth, "[1]", "application/json"),
                400, "M_NOT_JSON");
    check_error(client.Put("/_matrix/app/v1/transactions/2", auth, "{}", "application/json"), 400,
                "M_BAD_JSON");
    check_error(client.Put("/_matrix/app/v1/transactions/2", auth, R"({"events":{}})",
                           "application/json"),
                400, "M_BAD_JSON");
    CHECK(h.store().inbox_depth() == 2);
  }
}

TEST_CASE("appservice: over HTTP, a body over max_body_bytes is 413 M_TOO_LARGE",
          "[appservice]") {
  Harness h;
  auto client = h.start_http();
  // A valid transaction, only too big: one event with a long body.
  json ev = json::parse(event("$big"));
  ev["content"]["body"] = std::string(kMaxBody, 'x');
  const std::string body = json{{"events", json::array({ev})}}.dump();
  REQUIRE(body.size() > kMaxBody);

  check_error(client.Put("/_matrix/app/v1/transactions/1", {{"Authorization", kBearer}}, body,
                         "application/json"),
              413, "M_TOO_LARGE");
  CHECK(h.store().inbox_depth() == 0);
  CHECK(h.accepted_calls() == 0);

  // A body that fits is still served.
  check_ok(client.Put("/_matrix/app/v1/transactions/2", {{"Authorization", kBearer}},
                      txn_body({"$small"}), "application/json"));
  CHECK(inbox_ids(h.store()) == Strings{"$small"});
}

TEST_CASE("appservice: over HTTP, a body without the hs_token is refused before it is read",
          "[appservice]") {
  // Earlier listeners read a chunked body whole, without a limit, before checking the token:
  // 100 MB took RSS from 20 to 220 MB.
  Harness h;
  h.start_http();
  const uint64_t failures_before = h.server().stats().auth_failures;
  tyr::test::RawConn c(h.server().port());
  REQUIRE(c.send("PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"));
  const std::string answer = c.read_response(std::chrono::seconds(2));
  CHECK(tyr::test::status_of(answer) == 401);
  CHECK(answer.find("M_MISSING_TOKEN") != std::string::npos);
  bool refused = false;
  const std::string mb(1 << 20, 'x');
  for (int i = 0; i < 100 && !refused; ++i) {
    refused = !c.send("100000\r\n" + mb + "\r\n", std::chrono::milliseconds(500));
  }
  CHECK(refused);
  CHECK(h.server().stats().auth_failures == failures_before + 1);
  CHECK(h.store().inbox_depth() == 0);

  SECTION("with the token, a chunked body is counted against max_body_bytes") {
    tyr::test::RawConn t(h.server().port());
    REQUIRE(t.send(std::string("PUT /_matrix/app/v1/transactions/2 HTTP/1.1\r\nHost: x\r\n") +
                   "Authorization: " + kBearer + "\r\nTransfer-Encoding: chunked\r\n\r\n"));
    t.send("1000\r\n" + std::string(4096, 'x') + "\r\n1\r\nx\r\n0\r\n\r\n");
    const std::string r = t.read_response(std::chrono::seconds(2));
    CHECK(tyr::test::status_of(r) == 413);
    CHECK(r.find("M_TOO_LARGE") != std::string::npos);
  }
}

TEST_CASE("appservice: over HTTP, ping, queries and unknown routes", "[appservice]") {
  Harness h(Provision::kYes);
  auto client = h.start_http();
  const httplib::Headers auth = {{"Authorization", kBearer}};

  check_ok(client.Post("/_matrix/app/v1/ping", auth, "{}", "application/json"));
  check_ok(client.Post("/_matrix/app/v1/ping", auth, R"({"transaction_id":"t1"})",
                       "application/json"));

  // Synapse percent-encodes the path segment; the server decodes it.
  check_ok(client.Get("/_matrix/app/v1/users/%40_tyr_x%3Aexample.org", auth));
  check_error(client.Get("/_matrix/app/v1/users/@alice:example.org", auth), 404, "M_NOT_FOUND");
  check_error(client.Get("/_matrix/app/v1/users/%40_tyr_x%3Aother.org", auth), 404,
              "M_NOT_FOUND");
  CHECK(h.provisioned() == Strings{"@_tyr_x:example.org"});

  check_error(client.Get("/_matrix/app/v1/rooms/%23a%3Aexample.org", auth), 404, "M_NOT_FOUND");
  check_error(client.Get("/_matrix/app/v1/thirdparty/protocol/x", auth), 404, "M_UNRECOGNIZED");
  check_error(client.Get("/foo", auth), 404, "M_UNRECOGNIZED");
  check_error(client.Get("/_matrix/app/v1/transactions/1", auth), 405, "M_UNRECOGNIZED");
  check_error(client.Delete("/_matrix/app/v1/transactions/1", auth), 405, "M_UNRECOGNIZED");
  CHECK(h.store().inbox_depth() == 0);
}

TEST_CASE("appservice: stop ends the HTTP server and is idempotent", "[appservice]") {
  Harness h;
  auto client = h.start_http();
  h.server().stop();
  h.server().stop();
  client.set_connection_timeout(std::chrono::seconds(1));
  auto res = client.Post("/_matrix/app/v1/ping", {{"Authorization", kBearer}}, "{}",
                         "application/json");
  CHECK_FALSE(res);
}

// ---------------------------------------------------------------------------------------------

TEST_CASE("appservice: secure_equals compares whole strings", "[appservice]") {
  CHECK(secure_equals("", ""));
  CHECK(secure_equals("secret-hs", "secret-hs"));
  CHECK_FALSE(secure_equals("secret-hs", "secret-hx"));
  CHECK_FALSE(secure_equals("secret-hs", "xecret-hs"));
  CHECK_FALSE(secure_equals("secret-hs", "secret-h"));   // prefix
  CHECK_FALSE(secure_equals("secret-h", "secret-hs"));
  CHECK_FALSE(secure_equals("secret-hs", ""));
  CHECK_FALSE(secure_equals("", "secret-hs"));
  CHECK_FALSE(secure_equals("Secret-hs", "secret-hs"));  // case matters
  // Embedded NULs are compared, not treated as terminators.
  CHECK_FALSE(secure_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
  CHECK(secure_equals(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  // Every byte value counts, including high ones.
  CHECK_FALSE(secure_equals("\xff", "\x7f"));
}

TEST_CASE("appservice: a jump in transaction numbers is reported once, retries and restarts are not",
          "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$g1"}))));
  check_ok(h.server().handle(put_txn("2", txn_body({"$g2"}))));
  check_ok(h.server().handle(put_txn("2", txn_body({"$g2"}))));  // a retry
  CHECK(h.gaps().empty());
  check_ok(h.server().handle(put_txn("5", txn_body({"$g5"}))));  // 3 and 4 never came
  REQUIRE(h.gaps().size() == 1);
  CHECK(h.gaps()[0].first == "5");
  CHECK(h.gaps()[0].second > 0);  // when transaction 2 arrived
  check_ok(h.server().handle(put_txn("6", txn_body({"$g6"}))));
  check_ok(h.server().handle(put_txn("1", txn_body({"$r1"}))));  // numbering started over
  check_ok(h.server().handle(put_txn("2", txn_body({"$r2"}))));
  check_ok(h.server().handle(put_txn("not-a-number", txn_body({"$x"}))));
  CHECK(h.gaps().size() == 1);
  // The homeserver's clock of "last transaction" is kept in the store for the pass at start.
  CHECK(h.store().get(tyr::engine::Cf::kMeta, "last_txn_ms").has_value());
}

TEST_CASE("appservice: every stored transaction is reported, resends as such", "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$a1"}))));
  check_ok(h.server().handle(put_txn("3", txn_body({"$a3"}))));  // the queue sent 3 first
  check_ok(h.server().handle(put_txn("2", txn_body({"$a2"}))));  // the recoverer resends 2
  check_ok(h.server().handle(put_txn("3", txn_body({"$a3"}))));  // 3 again, as Tyr stored it
  check_ok(h.server().handle(put_txn("4", txn_body({"$a4"}))));
  check_ok(h.server().handle(put_txn("x", txn_body({"$ax"}))));  // not a number, new
  CHECK(h.server().handle(put_txn("5", "{")).status == 400);    // refused: not reported
  CHECK(h.arrivals() == std::vector<bool>{false, false, true, true, false, false});
}
