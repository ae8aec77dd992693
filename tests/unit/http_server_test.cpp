// The HTTP server behind every listener, attacked as a hostile client would on loopback: bodies
// without lengths or over the limit, header floods, clients that trickle a byte at a time or
// hold connections idle. Each case is a fault that the earlier listeners had.

#include "engine/http/server.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/raw_http.hpp"

using namespace std::chrono_literals;
using tyr::engine::http::Limits;
using tyr::engine::http::Options;
using tyr::engine::http::Request;
using tyr::engine::http::Response;
using tyr::engine::http::Server;
using tyr::test::RawConn;
using tyr::test::status_of;

namespace {

constexpr const char* kToken = "Bearer letmein";

// A server that echoes the path and body size; requests without the token are screened out.
struct Echo {
  explicit Echo(Limits limits = {}, size_t body_limit = 1024) {
    Options o;
    o.name = "test";
    o.limits = limits;
    o.body_limit = [body_limit](std::string_view, std::string_view) { return body_limit; };
    o.screen = [this](const Request& head) -> std::optional<Response> {
      ++screened;
      if (head.path.rfind("/open", 0) == 0 || head.authorization == kToken) return std::nullopt;
      Response r;
      r.status = 401;
      r.body = "no token";
      return r;
    };
    o.handler = [this](Request& req) {
      ++handled;
      if (req.path == "/throw") throw std::runtime_error("boom");
      if (req.path == "/slow") std::this_thread::sleep_for(200ms);
      Response r;
      r.content_type = "text/plain";
      r.body = req.method + " " + req.path + " " + std::to_string(req.body.size());
      for (const auto& [k, v] : req.query) r.body += " " + k + "=" + v;
      return r;
    };
    server = std::make_unique<Server>(std::move(o));
    REQUIRE(server->start());
  }
  uint16_t port() const { return server->port(); }

  std::atomic<int> screened{0};
  std::atomic<int> handled{0};
  std::unique_ptr<Server> server;
};

std::string get(std::string_view path, std::string_view extra = {}) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n" + std::string(extra) + "\r\n";
}

// One request on a fresh connection; the raw answer.
std::string exchange(uint16_t port, const std::string& bytes, std::chrono::milliseconds t = 2s) {
  RawConn c(port);
  REQUIRE(c.ok());
  REQUIRE(c.send(bytes));
  return c.read_response(t);
}

}  // namespace

TEST_CASE("http server: requests, keep-alive, pipelining, HEAD, query and path decoding",
          "[http]") {
  Echo e;
  RawConn c(e.port());
  REQUIRE(c.send(get("/open/a%20b?x=1&y=%2F+z")));
  std::string r = c.read_response(2s);
  CHECK(status_of(r) == 200);
  CHECK(r.find("GET /open/a b 0 x=1 y=/ z") != std::string::npos);
  // Two pipelined requests on the same connection: both answered, in order.
  REQUIRE(c.send(get("/open/1") + get("/open/2")));
  r = c.read(2s, "/open/2 0");
  CHECK(r.find("/open/1 0") < r.find("/open/2 0"));
  // HEAD: the length of what GET sends, no body.
  REQUIRE(c.send("HEAD /open/h HTTP/1.1\r\nHost: x\r\n\r\n"));
  r = c.read(2s, "\r\n\r\n");
  CHECK(status_of(r) == 200);
  CHECK(r.find("Content-Length: 14\r\n") != std::string::npos);  // "HEAD /open/h 0"
  CHECK(r.substr(r.find("\r\n\r\n") + 4).empty());
  // A body with its length.
  REQUIRE(c.send("PUT /open/p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
  CHECK(c.read_response(2s).find("PUT /open/p 5") != std::string::npos);
}

TEST_CASE("http server: a body without a token is refused before it is read", "[http]") {
  Echo e({}, 200 * 1024 * 1024);
  RawConn c(e.port());
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(c.send("PUT /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string r = c.read_response(2s);
  CHECK(status_of(r) == 401);
  CHECK(r.find("Connection: close") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  // The server closed: the 100 MB that would follow go nowhere.
  const std::string mb(1 << 20, 'x');
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) refused = !c.send("100000\r\n" + mb + "\r\n", 500ms);
  CHECK(refused);
  CHECK(e.handled == 0);
}

TEST_CASE("http server: chunked bodies count against the body limit", "[http]") {
  Echo e({}, 1024);
  SECTION("within the limit: served") {
    const std::string r = exchange(e.port(),
                                   "PUT /t HTTP/1.1\r\nHost: x\r\nAuthorization: letmein\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    CHECK(status_of(r) == 401);  // a wrong scheme is refused like a missing token
    const std::string ok =
        exchange(e.port(), "PUT /t HTTP/1.1\r\nHost: x\r\nAuthorization: " + std::string(kToken) +
                               "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    CHECK(status_of(ok) == 200);
    CHECK(ok.find("PUT /t 5") != std::string::npos);
  }
  SECTION("past the limit: 413, and the rest is never read") {
    RawConn c(e.port());
    REQUIRE(c.send("PUT /t HTTP/1.1\r\nHost: x\r\nAuthorization: " + std::string(kToken) +
                   "\r\nTransfer-Encoding: chunked\r\n\r\n"));
    const std::string chunk = "400\r\n" + std::string(1024, 'a') + "\r\n";
    c.send(chunk + chunk, 500ms);
    CHECK(status_of(c.read_response(2s)) == 413);
    CHECK(e.handled == 0);
  }
  SECTION("a Content-Length over the limit: 413 before the body is sent") {
    const std::string r = exchange(e.port(),
                                   "PUT /open HTTP/1.1\r\nHost: x\r\n"
                                   "Content-Length: 104857600\r\n\r\n");
    CHECK(status_of(r) == 413);
  }
}

TEST_CASE("http server: a PUT or POST with neither length nor chunking is 411", "[http]") {
  Echo e;
  CHECK(status_of(exchange(e.port(), "PUT /open HTTP/1.1\r\nHost: x\r\n\r\n")) == 411);
  CHECK(status_of(exchange(e.port(), "POST /open HTTP/1.1\r\nHost: x\r\n\r\n")) == 411);
  CHECK(status_of(exchange(e.port(), get("/open"))) == 200);  // a GET has no body to measure
}

TEST_CASE("http server: header floods are 431", "[http]") {
  Limits l;
  l.max_header_fields = 20;
  l.max_header_bytes = 4096;
  Echo e(l);
  std::string many;
  for (int i = 0; i < 21; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  CHECK(status_of(exchange(e.port(), get("/open", many))) == 431);
  CHECK(status_of(exchange(e.port(), get("/open", "X-Big: " + std::string(5000, 'b') + "\r\n"))) ==
        431);
  CHECK(status_of(exchange(e.port(), get("/open/" + std::string(5000, 'p')))) == 431);
  // An endless header line is cut off at the limit, not buffered.
  RawConn c(e.port());
  REQUIRE(c.send("GET /open HTTP/1.1\r\nX-Endless: "));
  bool refused = false;
  // More than loopback socket buffers hold, so the send must meet the closed connection.
  for (int i = 0; i < 256 && !refused; ++i) refused = !c.send(std::string(64 * 1024, 'e'), 500ms);
  CHECK(refused);
  CHECK(e.handled == 0);
}

TEST_CASE("http server: a request slower than its deadline is cut off with 408", "[http]") {
  Limits l;
  l.request_deadline = 300ms;
  Echo e(l);
  RawConn c(e.port());
  const auto start = std::chrono::steady_clock::now();
  const std::string req = get("/open");
  std::string answer;
  // One byte every 50 ms: each read succeeds, the whole request never completes in time.
  for (char ch : req) {
    if (!c.send(std::string(1, ch))) break;
    answer += c.read(50ms);
    if (!answer.empty()) break;
  }
  answer += c.read(1s);
  CHECK(status_of(answer) == 408);
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);
  CHECK(e.handled == 0);
}

TEST_CASE("http server: an idle keep-alive connection is closed after the idle timeout", "[http]") {
  Limits l;
  l.idle_timeout = 200ms;
  Echo e(l);
  RawConn c(e.port());
  REQUIRE(c.send(get("/open")));
  CHECK(status_of(c.read_response(2s)) == 200);
  CHECK(c.closed_within(2s));
  // A connection that never sends a byte is closed too.
  RawConn silent(e.port());
  CHECK(silent.closed_within(2s));
}

TEST_CASE("http server: slow and idle clients do not stall good requests", "[http]") {
  // The earlier listeners answered none of 3 good requests within 30 s while 100 clients sent a
  // byte a second. Here 300 trickling and 300 idle connections stay open throughout.
  Echo e;
  std::vector<RawConn> slow;
  for (int i = 0; i < 600; ++i) {
    slow.emplace_back(e.port());
    REQUIRE(slow.back().ok());
    if (i % 2 == 0) REQUIRE(slow.back().send("PUT /t HTTP/1.1\r\nContent-Length: 10\r\n\r\nx"));
  }
  int answered = 0;
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (status_of(exchange(e.port(), get("/open/good"), 1s)) == 200 &&
        std::chrono::steady_clock::now() - start < 1s) {
      ++answered;
    }
    slow[static_cast<size_t>(i) * 2].send("y");  // the trickle goes on
  }
  CHECK(answered == 20);
  CHECK(e.server->stats().open >= 600);
}

TEST_CASE("http server: past the connection cap the oldest idle connection is shed", "[http]") {
  Limits l;
  l.max_connections = 4;
  Echo e(l);
  std::vector<RawConn> idle;
  for (int i = 0; i < 4; ++i) {
    idle.emplace_back(e.port());
    // Serve one request on each so that they are idle keep-alive connections, oldest first.
    REQUIRE(idle.back().send(get("/open")));
    REQUIRE(status_of(idle.back().read_response(2s)) == 200);
  }
  CHECK(status_of(exchange(e.port(), get("/open/new"))) == 200);
  CHECK(idle[0].closed_within(1s));
  CHECK_FALSE(idle[3].closed_within(100ms));
  CHECK(e.server->stats().shed >= 1);

  SECTION("a sender stalled mid-request goes once no connection is idle") {
    std::vector<RawConn> stalled;
    for (int i = 0; i < 4; ++i) {
      stalled.emplace_back(e.port());
      REQUIRE(stalled.back().send("GET /open HTTP/1.1\r\n"));
      std::this_thread::sleep_for(20ms);
    }
    CHECK(status_of(exchange(e.port(), get("/open/new"))) == 200);
  }
}

TEST_CASE("http server: a handler that throws is a 500 and the server goes on", "[http]") {
  Echo e;
  const std::string r =
      exchange(e.port(), "GET /throw HTTP/1.1\r\nHost: x\r\nAuthorization: " + std::string(kToken) +
                             "\r\n\r\n");
  CHECK(status_of(r) == 500);
  CHECK(status_of(exchange(e.port(), get("/open"))) == 200);
}

TEST_CASE("http server: malformed requests are 400, and stop is prompt with clients connected",
          "[http]") {
  Echo e;
  CHECK(status_of(exchange(e.port(), "NONSENSE\r\n\r\n")) == 400);
  CHECK(status_of(exchange(e.port(), "BREW /open HTTP/1.1\r\n\r\n")) == 400);
  CHECK(status_of(exchange(e.port(), "GET /open HTTP/1.1\r\nContent-Length: x\r\n\r\n")) == 400);
  std::vector<RawConn> held;
  for (int i = 0; i < 50; ++i) held.emplace_back(e.port());
  RawConn busy(e.port());
  REQUIRE(busy.send("GET /slow HTTP/1.1\r\nAuthorization: " + std::string(kToken) + "\r\n\r\n"));
  std::this_thread::sleep_for(50ms);
  const auto start = std::chrono::steady_clock::now();
  e.server->stop();
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(held[0].closed_within(1s));
  e.server->stop();  // idempotent
  RawConn after(e.port());
  CHECK_FALSE(after.ok());
}

TEST_CASE("http server: a taken port or a bad address is reported", "[http]") {
  Echo first;
  Options o;
  o.name = "test";
  o.port = first.port();
  o.body_limit = [](std::string_view, std::string_view) { return size_t{0}; };
  o.handler = [](Request&) { return Response{}; };
  Server second(o);
  CHECK_FALSE(second.start());
  o.port = 0;
  o.bind_address = "256.0.0.1";
  Server bad(o);
  CHECK_FALSE(bad.start());
}
