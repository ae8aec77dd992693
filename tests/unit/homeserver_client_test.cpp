// HomeserverClient against a scripted homeserver: a real httplib::Server on a loopback port
// chosen at run time, answering each request from a test-supplied handler.

#include "engine/client/homeserver_client.hpp"
#include "engine/pipeline/policy_book.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include "cli/sandbox/synapse_process.hpp"

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using tyr::engine::ClientOptions;
using tyr::engine::HomeserverClient;
using tyr::engine::HttpRequest;

struct Recorded {
  std::string method;
  std::string target;  // raw request target as sent, still percent-encoded
  std::string path;    // decoded path
  std::string authorization;
  std::string body;
  httplib::Params params;  // decoded query
};

class MockHomeserver {
 public:
  // `n` is the 1-based index of the request among all the server has received.
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, int n)>;

  explicit MockHomeserver(Handler handler) : handler_(std::move(handler)) {
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      int n = 0;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(Recorded{req.method, req.target, req.path,
                                     req.get_header_value("Authorization"), req.body, req.params});
        n = static_cast<int>(requests_.size());
      }
      handler_(req, res, n);
    };
    server_.Get(".*", route);
    server_.Post(".*", route);
    server_.Put(".*", route);
    server_.Delete(".*", route);
    // Bounds how long a pooled keep-alive connection can hold a worker at teardown.
    server_.set_keep_alive_timeout(1);
    server_.set_tcp_nodelay(true);  // else each answer stalls on delayed ACKs
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs, so wait for it before any test can end.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    REQUIRE(server_.is_running());
  }

  ~MockHomeserver() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<Recorded> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  int count() const {
    std::lock_guard lock(mutex_);
    return static_cast<int>(requests_.size());
  }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<Recorded> requests_;
};

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

ClientOptions options_for(const std::string& url) {
  ClientOptions options;
  options.base_url = url;
  options.as_token = "as_secret";
  options.connect_timeout = milliseconds(2000);
  options.request_timeout = milliseconds(5000);
  options.max_attempts = 3;
  options.backoff_initial = milliseconds(100);
  options.backoff_max = milliseconds(1000);
  return options;
}

// Records the waits the client asks for instead of sleeping.
struct SleepLog {
  explicit SleepLog(HomeserverClient& client) {
    client.set_sleep_for_testing([this](milliseconds wait) {
      std::lock_guard lock(mutex);
      waits.push_back(wait);
    });
  }
  std::vector<milliseconds> get() {
    std::lock_guard lock(mutex);
    return waits;
  }
  std::mutex mutex;
  std::vector<milliseconds> waits;
};

// A loopback port with nothing listening (the sandbox's helper: bind port 0, release).
int unused_port() { return tyr::cli::sandbox::free_loopback_port(); }

}  // namespace

TEST_CASE("client: encode_segment keeps only unreserved characters", "[client]") {
  CHECK(HomeserverClient::encode_segment("!room:hs") == "%21room%3Ahs");
  CHECK(HomeserverClient::encode_segment("#a:hs") == "%23a%3Ahs");
  CHECK(HomeserverClient::encode_segment("$ev/x+y") == "%24ev%2Fx%2By");
  CHECK(HomeserverClient::encode_segment("AZaz09-._~") == "AZaz09-._~");
  CHECK(HomeserverClient::encode_segment("a b@é") == "a%20b%40%C3%A9");
  CHECK(HomeserverClient::encode_segment("") == "");
}

TEST_CASE("client: auth header and user_id masquerade arrive", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 200, {{"user_id", "@_tyr_x:hs"}});
  });
  HomeserverClient client(options_for(hs.url()));

  auto me = client.whoami("@_tyr_x:hs");
  REQUIRE(me.ok());
  CHECK(*me == "@_tyr_x:hs");
  auto sender = client.whoami();
  REQUIRE(sender.ok());

  auto requests = hs.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].method == "GET");
  CHECK(requests[0].target == "/_matrix/client/v3/account/whoami?user_id=%40_tyr_x%3Ahs");
  CHECK(requests[0].authorization == "Bearer as_secret");
  CHECK(requests[0].params.find("user_id")->second == "@_tyr_x:hs");
  CHECK(requests[1].target == "/_matrix/client/v3/account/whoami");
  CHECK(requests[1].params.count("user_id") == 0);
}

TEST_CASE("client: bearer_token overrides the as_token", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 200, json::object());
  });
  HomeserverClient client(options_for(hs.url()));
  HttpRequest request;
  request.method = "GET";
  request.path = "/_synapse/admin/v1/event_reports";
  request.query = {{"from", "0"}, {"dir", "b"}};
  request.bearer_token = "admin_token";
  auto answer = client.call(request);
  REQUIRE(answer.ok());
  CHECK(*answer == json::object());
  auto requests = hs.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].authorization == "Bearer admin_token");
  CHECK(requests[0].target == "/_synapse/admin/v1/event_reports?from=0&dir=b");
}

TEST_CASE("client: path segments are percent-encoded", "[client]") {
  MockHomeserver hs([](const httplib::Request& req, httplib::Response& res, int) {
    if (req.method == "GET") {
      reply(res, 200, {{"room_id", "!r:hs"}, {"servers", {"hs", "other"}}});
    } else {
      reply(res, 200, {{"event_id", "$redaction"}});
    }
  });
  HomeserverClient client(options_for(hs.url()));

  auto resolved = client.resolve_alias("#a:hs");
  REQUIRE(resolved.ok());
  CHECK(resolved->room_id == "!r:hs");
  CHECK(resolved->servers == std::vector<std::string>{"hs", "other"});

  auto redaction = client.redact("!r:hs", "$ev:hs", "txn1", "spam");
  REQUIRE(redaction.ok());
  CHECK(*redaction == "$redaction");

  auto requests = hs.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].target == "/_matrix/client/v3/directory/room/%23a%3Ahs");
  CHECK(requests[1].method == "PUT");
  CHECK(requests[1].target == "/_matrix/client/v3/rooms/%21r%3Ahs/redact/%24ev%3Ahs/txn1");
  CHECK(json::parse(requests[1].body) == json{{"reason", "spam"}});
}

TEST_CASE("client: send_event returns event_id", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 200, {{"event_id", "$sent:hs"}});
  });
  HomeserverClient client(options_for(hs.url()));
  json content = {{"msgtype", "m.notice"}, {"body", "hello"}};
  auto sent = client.send_event("!r:hs", "m.room.message", content, "txn 7", "@_tyr_x:hs");
  REQUIRE(sent.ok());
  CHECK(*sent == "$sent:hs");
  auto requests = hs.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "PUT");
  CHECK(requests[0].target ==
        "/_matrix/client/v3/rooms/%21r%3Ahs/send/m.room.message/txn%207?user_id=%40_tyr_x%3Ahs");
  CHECK(json::parse(requests[0].body) == content);
}

TEST_CASE("client: join sends via servers and reason, returns room_id", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 200, {{"room_id", "!joined:hs"}});
  });
  HomeserverClient client(options_for(hs.url()));
  auto joined = client.join("#a:hs", {"a.example", "b.example"}, "moderating");
  REQUIRE(joined.ok());
  CHECK(*joined == "!joined:hs");
  auto requests = hs.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].target == "/_matrix/client/v3/join/%23a%3Ahs?via=a.example&via=b.example");
  CHECK(json::parse(requests[0].body) == json{{"reason", "moderating"}});
}

TEST_CASE("client: messages encodes its query and returns the whole answer", "[client]") {
  json answer = {{"start", "s1"}, {"end", "s2"}, {"chunk", json::array()}};
  MockHomeserver hs(
      [&answer](const httplib::Request&, httplib::Response& res, int) { reply(res, 200, answer); });
  HomeserverClient client(options_for(hs.url()));
  json filter = {{"senders", {"@x:hs"}}, {"types", {"m.room.message"}}};
  auto page = client.messages("!r:hs", "b", "t1+2", 50, filter);
  REQUIRE(page.ok());
  CHECK(*page == answer);
  auto requests = hs.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].path == "/_matrix/client/v3/rooms/!r:hs/messages");
  CHECK(requests[0].target.find("?dir=b&from=t1%2B2&limit=50&filter=%7B%22senders%22") !=
        std::string::npos);
  CHECK(requests[0].params.find("from")->second == "t1+2");
  CHECK(json::parse(requests[0].params.find("filter")->second) == filter);
}

TEST_CASE("client: members returns the chunk, kick sends user_id and reason", "[client]") {
  MockHomeserver hs([](const httplib::Request& req, httplib::Response& res, int) {
    if (req.method == "GET") {
      reply(res, 200, {{"chunk", {{{"type", "m.room.member"}, {"state_key", "@u:hs"}}}}});
    } else {
      reply(res, 200, json::object());
    }
  });
  HomeserverClient client(options_for(hs.url()));
  auto chunk = client.members("!r:hs", "ban");
  REQUIRE(chunk.ok());
  REQUIRE(chunk->is_array());
  CHECK((*chunk)[0]["state_key"] == "@u:hs");
  auto kicked = client.kick("!r:hs", "@u:hs", "spam");
  CHECK(kicked.ok());
  auto unbanned = client.unban("!r:hs", "@u:hs");
  CHECK(unbanned.ok());
  auto requests = hs.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].target == "/_matrix/client/v3/rooms/%21r%3Ahs/members?membership=ban");
  CHECK(requests[1].target == "/_matrix/client/v3/rooms/%21r%3Ahs/kick");
  CHECK(json::parse(requests[1].body) == json{{"user_id", "@u:hs"}, {"reason", "spam"}});
  CHECK(json::parse(requests[2].body) == json{{"user_id", "@u:hs"}});
}

TEST_CASE("client: ping_appservice returns duration_ms", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 200, {{"duration_ms", 42}});
  });
  HomeserverClient client(options_for(hs.url()));
  auto ping = client.ping_appservice("tyr", "ping-1");
  REQUIRE(ping.ok());
  CHECK(*ping == 42);
  auto requests = hs.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target == "/_matrix/client/v1/appservice/tyr/ping");
  CHECK(json::parse(requests[0].body) == json{{"transaction_id", "ping-1"}});
}

TEST_CASE("client: error keeps errcode, message and status", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 404, {{"errcode", "M_NOT_FOUND"}, {"error", "Event not found."}});
  });
  HomeserverClient client(options_for(hs.url()));
  auto acl = client.state_event("!r:hs", "m.room.server_acl");
  REQUIRE_FALSE(acl.ok());
  CHECK(acl.error().code == "M_NOT_FOUND");
  CHECK(acl.error().message == "Event not found.");
  CHECK(acl.error().status == 404);
  CHECK(acl.error().retry_after_ms == -1);
}

TEST_CASE("client: error body that is not JSON gives M_UNKNOWN", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    res.status = 400;
    res.set_content("<html>Bad Request</html>", "text/html");
  });
  HomeserverClient client(options_for(hs.url()));
  auto left = client.leave("!r:hs");
  REQUIRE_FALSE(left.ok());
  CHECK(left.error().code == "M_UNKNOWN");
  CHECK(left.error().status == 400);
  CHECK(hs.count() == 1);
}

TEST_CASE("client: state_event with empty key ends the path with a slash", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 200, {{"allow", {"*"}}, {"deny", {"evil.example"}}});
  });
  HomeserverClient client(options_for(hs.url()));
  auto acl = client.state_event("!r:hs", "m.room.server_acl", "");
  REQUIRE(acl.ok());
  CHECK((*acl)["deny"][0] == "evil.example");
  auto requests = hs.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target == "/_matrix/client/v3/rooms/%21r%3Ahs/state/m.room.server_acl/");
}

TEST_CASE("client: 429 waits for the Retry-After header, then succeeds", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int n) {
    if (n == 1) {
      res.set_header("Retry-After", "1");
      reply(res, 429,
            {{"errcode", "M_LIMIT_EXCEEDED"},
             {"error", "Too Many Requests"},
             {"retry_after_ms", 957}});
    } else {
      reply(res, 200, {{"event_id", "$ok"}});
    }
  });
  HomeserverClient client(options_for(hs.url()));
  SleepLog sleeps(client);
  auto sent = client.send_event("!r:hs", "m.room.message", {{"body", "x"}}, "t1");
  REQUIRE(sent.ok());
  CHECK(*sent == "$ok");
  CHECK(hs.count() == 2);
  CHECK(sleeps.get() == std::vector<milliseconds>{milliseconds(1000)});
}

TEST_CASE("client: 429 without header waits retry_after_ms from the body", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int n) {
    if (n == 1) {
      reply(res, 429, {{"errcode", "M_LIMIT_EXCEEDED"}, {"retry_after_ms", 1234}});
    } else {
      reply(res, 200, {{"room_id", "!new:hs"}});
    }
  });
  HomeserverClient client(options_for(hs.url()));
  SleepLog sleeps(client);
  auto room = client.create_room({{"preset", "private_chat"}});
  REQUIRE(room.ok());
  CHECK(*room == "!new:hs");
  CHECK(hs.count() == 2);
  CHECK(sleeps.get() == std::vector<milliseconds>{milliseconds(1234)});
}

TEST_CASE("client: 429 asking for longer than max_retry_after fails at once", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    res.set_header("Retry-After", "600");
    reply(res, 429, {{"errcode", "M_LIMIT_EXCEEDED"}, {"error", "Too Many Requests"}});
  });
  HomeserverClient client(options_for(hs.url()));
  SleepLog sleeps(client);
  auto result = client.invite("!r:hs", "@u:hs");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "M_LIMIT_EXCEEDED");
  CHECK(result.error().status == 429);
  CHECK(result.error().retry_after_ms == 600000);
  CHECK(hs.count() == 1);
  CHECK(sleeps.get().empty());
}

TEST_CASE("client: 500 twice then success, with capped exponential backoff", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int n) {
    if (n <= 2) {
      reply(res, 500, {{"errcode", "M_UNKNOWN"}, {"error", "Internal server error"}});
    } else {
      reply(res, 200, {{"joined", {{"@u:hs", json::object()}}}});
    }
  });
  HomeserverClient client(options_for(hs.url()));
  SleepLog sleeps(client);
  auto joined = client.joined_members("!r:hs");
  REQUIRE(joined.ok());
  CHECK(joined->at("joined").contains("@u:hs"));
  CHECK(hs.count() == 3);
  auto waits = sleeps.get();
  REQUIRE(waits.size() == 2);
  // Equal jitter: attempt k waits within [base/2, base], base = 100 ms * 2^(k-1).
  CHECK(waits[0] >= milliseconds(50));
  CHECK(waits[0] <= milliseconds(100));
  CHECK(waits[1] >= milliseconds(100));
  CHECK(waits[1] <= milliseconds(200));
}

TEST_CASE("client: 5xx exhausting max_attempts returns the last error", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 502, {{"errcode", "M_UNKNOWN"}, {"error", "Bad gateway"}});
  });
  ClientOptions options = options_for(hs.url());
  options.max_attempts = 5;
  options.backoff_max = milliseconds(300);
  HomeserverClient client(options);
  SleepLog sleeps(client);
  auto state = client.room_state("!r:hs");
  REQUIRE_FALSE(state.ok());
  CHECK(state.error().status == 502);
  CHECK(state.error().message == "Bad gateway");
  CHECK(hs.count() == 5);
  auto waits = sleeps.get();
  REQUIRE(waits.size() == 4);
  for (auto wait : waits) CHECK(wait <= milliseconds(300));
  CHECK(waits[3] >= milliseconds(150));  // 100, 200, then capped at 300
}

TEST_CASE("client: 403 is not retried", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 403, {{"errcode", "M_FORBIDDEN"}, {"error", "You don't have permission to ban"}});
  });
  HomeserverClient client(options_for(hs.url()));
  SleepLog sleeps(client);
  auto banned = client.ban("!r:hs", "@u:hs", "spam");
  REQUIRE_FALSE(banned.ok());
  CHECK(banned.error().code == "M_FORBIDDEN");
  CHECK(banned.error().message == "You don't have permission to ban");
  CHECK(banned.error().status == 403);
  CHECK(hs.count() == 1);
  CHECK(sleeps.get().empty());
}

TEST_CASE("client: 501 is not retried", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 501, {{"errcode", "M_UNRECOGNIZED"}, {"error", "Unrecognized request"}});
  });
  HomeserverClient client(options_for(hs.url()));
  auto ping = client.ping_appservice("tyr");
  REQUIRE_FALSE(ping.ok());
  CHECK(ping.error().code == "M_UNRECOGNIZED");
  CHECK(ping.error().status == 501);
  CHECK(hs.count() == 1);
}

TEST_CASE("client: transport failure gives TYR_NETWORK after max_attempts", "[client]") {
  HomeserverClient client(options_for("http://127.0.0.1:" + std::to_string(unused_port())));
  SleepLog sleeps(client);
  auto me = client.whoami();
  REQUIRE_FALSE(me.ok());
  CHECK(me.error().code == "TYR_NETWORK");
  CHECK(me.error().message == httplib::to_string(httplib::Error::Connection));
  CHECK(me.error().status == 0);
  CHECK(sleeps.get().size() == 2);  // max_attempts = 3
}

TEST_CASE("client: invalid base_url is reported on each call", "[client]") {
  HomeserverClient client(options_for("ftp://hs"));
  auto me = client.whoami();
  REQUIRE_FALSE(me.ok());
  CHECK(me.error().code == "TYR_BAD_CONFIG");
  CHECK(me.error().message == "invalid homeserver base_url 'ftp://hs'");
}

TEST_CASE("client: register treats M_USER_IN_USE as success", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 400, {{"errcode", "M_USER_IN_USE"}, {"error", "User ID already taken."}});
  });
  HomeserverClient client(options_for(hs.url()));
  auto registered = client.register_appservice_user("_tyr_x");
  CHECK(registered.ok());
  auto requests = hs.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target == "/_matrix/client/v3/register");
  CHECK(json::parse(requests[0].body) == json{{"type", "m.login.application_service"},
                                              {"username", "_tyr_x"},
                                              {"inhibit_login", true}});
}

TEST_CASE("client: register passes other errors through", "[client]") {
  MockHomeserver hs([](const httplib::Request&, httplib::Response& res, int) {
    reply(res, 400, {{"errcode", "M_EXCLUSIVE"}, {"error", "outside the namespace"}});
  });
  HomeserverClient client(options_for(hs.url()));
  auto registered = client.register_appservice_user("alice");
  REQUIRE_FALSE(registered.ok());
  CHECK(registered.error().code == "M_EXCLUSIVE");
}

TEST_CASE("client: 2xx answers that break the contract are TYR_BAD_RESPONSE", "[client]") {
  MockHomeserver hs([](const httplib::Request& req, httplib::Response& res, int) {
    if (req.path.find("/createRoom") != std::string::npos) {
      res.status = 200;
      res.set_content("{not json", "application/json");
    } else if (req.path.find("/send/") != std::string::npos) {
      reply(res, 200, {{"event", "missing"}});
    } else {
      res.status = 200;  // empty body
    }
  });
  HomeserverClient client(options_for(hs.url()));

  auto room = client.create_room(json::object());
  REQUIRE_FALSE(room.ok());
  CHECK(room.error().code == "TYR_BAD_RESPONSE");
  CHECK(room.error().status == 200);

  auto sent = client.send_event("!r:hs", "m.room.message", json::object(), "t");
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.error().code == "TYR_BAD_RESPONSE");
  CHECK(sent.error().message == "send answer lacks string 'event_id'");

  HttpRequest request;
  request.method = "POST";
  request.path = "/_matrix/client/v3/rooms/%21r%3Ahs/leave";
  request.body = json::object();
  auto empty = client.call(request);
  REQUIRE(empty.ok());
  CHECK(*empty == json::object());
  CHECK(hs.count() == 3);  // none of these is retried
}

TEST_CASE("client: concurrent calls from 4 threads all succeed", "[client]") {
  MockHomeserver hs([](const httplib::Request& req, httplib::Response& res, int) {
    // Echo the txnId (last path segment) so each caller can check it got its own answer.
    reply(res, 200, {{"event_id", "$" + req.path.substr(req.path.rfind('/') + 1)}});
  });
  HomeserverClient client(options_for(hs.url()));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<int> ok(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&client, &ok, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string txn = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto sent = client.send_event("!r:hs", "m.room.message", {{"body", txn}}, txn);
        if (sent.ok() && *sent == "$" + txn) ++ok[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) CHECK(ok[t] == kPerThread);
  CHECK(hs.count() == kThreads * kPerThread);
}

TEST_CASE("client: room_state_text hands the body over, with room_state's errors", "[client]") {
  const std::vector<std::string> bodies = {
      R"([{"type":"m.room.create"}])", "[]", "{}", "[1,", "", "null"};
  for (const auto& body : bodies) {
    INFO(body);
    MockHomeserver hs([&](const httplib::Request&, httplib::Response& res, int) {
      res.status = 200;
      res.set_content(body, "application/json");
    });
    HomeserverClient client(options_for(hs.url()));
    auto dom = client.room_state("!r:hs");
    auto text = client.room_state_text("!r:hs");
    if (body.empty()) {
      REQUIRE_FALSE(text.ok());
      REQUIRE_FALSE(dom.ok());
      CHECK(text.error().to_string() == dom.error().to_string());
      continue;
    }
    REQUIRE(text.ok());
    CHECK(text->body == body);
    CHECK(text->status == 200);
    auto state = tyr::engine::PolicyBook::read_state("!r:hs", text->body);
    CHECK(state.ok == dom.ok());
    if (!dom.ok()) {
      auto error = HomeserverClient::room_state_error("!r:hs", *text, state.not_array);
      CHECK(error.code == dom.error().code);
      CHECK(error.message == dom.error().message);
      CHECK(error.status == dom.error().status);
    }
  }
}
