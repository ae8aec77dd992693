// FeedPoller against a real httplib::Server on a loopback port chosen at run time: validators,
// redirects, address checks, timeouts, failures and saved state.

#include "engine/policy/feed.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include "tests/unit/feed_fixtures.hpp"
#include "tests/unit/loopback_server.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tyr::test;  // feed_fixtures.hpp: the feed types too

using FeedServer = tyr::test::LoopbackServer;

std::string header(const httplib::Headers& headers, const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? "(absent)" : it->second;
}

// The test servers listen on loopback, which a feed reaches only with allow_private.
FeedPoller text_poller(const std::string& url, FetchLimits limits = {}) {
  FeedConfig feed = feed_config(FeedConfig::Format::kText);
  feed.url = url;
  feed.allow_private = true;
  limits.timeout = std::chrono::milliseconds(5000);
  return FeedPoller(feed, limits);
}

// A server below HTTP: accepts connections on a loopback port and sends `reply` to each, one
// byte every `pace`; an empty reply means it never says anything.
class SlowServer {
 public:
  SlowServer(std::string reply, std::chrono::milliseconds pace)
      : reply_(std::move(reply)), pace_(pace) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~SlowServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  SlowServer(const SlowServer&) = delete;
  SlowServer& operator=(const SlowServer&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  void run() {
    struct Client {
      int fd;
      std::size_t sent;
    };
    std::vector<Client> clients;
    auto next = std::chrono::steady_clock::now();
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) clients.push_back({fd, 0});
      }
      if (reply_.empty() || std::chrono::steady_clock::now() < next) continue;
      next += pace_;
      for (Client& c : clients) {
        if (c.sent < reply_.size() && ::send(c.fd, &reply_[c.sent], 1, MSG_NOSIGNAL) == 1) {
          ++c.sent;
        }
      }
    }
    for (const Client& c : clients) ::close(c.fd);
  }

  std::string reply_;
  std::chrono::milliseconds pace_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Polls `url` with a total budget of `total` (per read: far more) and says how long it took.
std::pair<tyr::Result<bool>, std::chrono::milliseconds> timed_poll(const std::string& url,
                                                                   std::chrono::milliseconds total,
                                                                   FeedState& state) {
  FeedConfig feed = feed_config(FeedConfig::Format::kText);
  feed.url = url;
  feed.allow_private = true;
  FetchLimits limits;
  limits.timeout = std::chrono::milliseconds(30000);
  limits.total_timeout = total;
  const auto start = std::chrono::steady_clock::now();
  auto result = FeedPoller(feed, limits).poll(state);
  return {std::move(result), std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - start)};
}

}  // namespace

TEST_CASE("feed: the poller revalidates with ETag and Last-Modified", "[feed]") {
  std::mutex mutex;
  std::string body = "a.example\nb.example\n";
  std::string etag = "\"v1\"";
  FeedServer server([&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    if (req.get_header_value("If-None-Match") == etag) {
      res.status = 304;
      return;
    }
    res.set_header("ETag", etag);
    res.set_header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT");
    res.set_content(body, "text/plain");
  });
  const FeedPoller poller = text_poller(server.url("/list.txt"));
  FeedState state;

  auto first = poller.poll(state);
  REQUIRE(first.ok());
  CHECK(*first == true);
  CHECK(state.rules.size() == 2);
  CHECK(state.etag == "\"v1\"");
  CHECK(state.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT");
  CHECK(state.last_success_ms > 0);
  CHECK(state.last_attempt_ms <= state.last_success_ms);
  CHECK(header(server.request(0), "If-None-Match") == "(absent)");
  CHECK(header(server.request(0), "If-Modified-Since") == "(absent)");

  auto second = poller.poll(state);
  INFO(state.last_error);
  REQUIRE(second.ok());
  CHECK(*second == false);
  CHECK(state.rules.size() == 2);
  CHECK(header(server.request(1), "If-None-Match") == "\"v1\"");
  CHECK(header(server.request(1), "If-Modified-Since") == "Wed, 21 Oct 2015 07:28:00 GMT");

  {
    std::lock_guard lock(mutex);
    body = "a.example\nc.example\n";
    etag = "\"v2\"";
  }
  auto third = poller.poll(state);
  REQUIRE(third.ok());
  CHECK(*third == true);
  CHECK(state.rules.at(1).entity == "c.example");
  CHECK(state.etag == "\"v2\"");

  // A server without validators that sends the same list again: nothing changed.
  {
    std::lock_guard lock(mutex);
    etag = "";
  }
  auto fourth = poller.poll(state);
  REQUIRE(fourth.ok());
  CHECK(*fourth == false);
  CHECK(state.etag.empty());
  CHECK(server.count() == 4);
}

TEST_CASE("feed: the poller follows redirects and revalidates at their end", "[feed]") {
  FeedServer server([](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/old/list.txt") {
      res.status = 301;
      res.set_header("Location", "/new/list.txt");
    } else if (req.path == "/new/list.txt") {
      res.status = 302;
      res.set_header("Location", "final.txt");  // relative to /new/
    } else if (req.path == "/new/final.txt") {
      if (req.get_header_value("If-None-Match") == "\"v1\"") {
        res.status = 304;
        return;
      }
      res.set_header("ETag", "\"v1\"");
      res.set_content("a.example\n", "text/plain");
    } else {
      res.status = 302;
      res.set_header("Location", req.path);  // a loop
    }
  });
  const FeedPoller poller = text_poller(server.url("/old/list.txt"));
  FeedState state;
  auto first = poller.poll(state);
  INFO(state.last_error);
  REQUIRE(first.ok());
  CHECK(state.rules.size() == 1);
  auto second = poller.poll(state);
  REQUIRE(second.ok());
  CHECK(*second == false);
  CHECK(server.count() == 6);
  CHECK(header(server.request(5), "If-None-Match") == "\"v1\"");

  const std::string loop = server.url("/loop");
  auto looping = text_poller(loop).poll(state);
  REQUIRE_FALSE(looping.ok());
  CHECK(looping.error().message == "feed 'test': GET " + loop + ": more than 5 redirects");
  CHECK(state.rules.size() == 1);
}

TEST_CASE("feed: redirects to an unusable URL end the poll", "[feed]") {
  FeedServer server([](const httplib::Request& req, httplib::Response& res) {
    res.status = 302;
    if (req.path == "/ftp") res.set_header("Location", "ftp://example.org/list.txt");
    // A port beyond int once made httplib::Client's constructor throw std::out_of_range.
    if (req.path == "/port") res.set_header("Location", "http://127.0.0.1:99999999999/list.txt");
    if (req.path == "/space") res.set_header("Location", "/a b");
  });
  FeedState state;
  for (const auto& [path, location] :
       {std::pair<std::string, std::string>{"/ftp", "ftp://example.org/list.txt"},
        {"/port", "http://127.0.0.1:99999999999/list.txt"},
        {"/space", server.url("/a b")}}) {
    auto result = text_poller(server.url(path)).poll(state);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == "TYR_FEED_HTTP");
    CHECK(result.error().message == "feed 'test': GET " + server.url(path) +
                                        ": redirect to an unusable URL '" + location + "'");
  }
}

TEST_CASE("feed: redirects keep their scheme or upgrade to https", "[feed]") {
  using tyr::engine::policy::redirect_problem;
  CHECK(redirect_problem("http://a.example/x", "http://b.example/y") == std::nullopt);
  CHECK(redirect_problem("http://a.example/x", "https://b.example/y") == std::nullopt);
  CHECK(redirect_problem("https://a.example/x", "https://b.example:8443/y") == std::nullopt);
  CHECK(redirect_problem("HTTPS://a.example/x", "http://a.example/x") ==
        "from https to http (the feed would travel unencrypted)");
  CHECK(redirect_problem("https://a.example/x", "ftp://a.example/x") == "not a usable http(s) URL");
  CHECK(redirect_problem("https://a.example/x", "http://user:pw@a.example/x") ==
        "not a usable http(s) URL");
}

TEST_CASE("feed: loopback, private and other local addresses are named", "[feed]") {
  using tyr::engine::policy::address_problem;
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases = {
      {"93.184.215.14", std::nullopt},
      {"2606:2800:21f:cb07:6820:80da:af6b:8b2c", std::nullopt},
      {"100.63.255.255", std::nullopt},
      {"100.128.0.0", std::nullopt},
      {"172.32.0.1", std::nullopt},
      {"64:ff9b::808:808", std::nullopt},
      {"127.0.0.1", "a loopback address"},
      {"127.255.255.254", "a loopback address"},
      {"::1", "a loopback address"},
      {"::ffff:127.0.0.1", "a loopback address"},
      {"10.1.2.3", "a private address (RFC 1918)"},
      {"172.16.0.1", "a private address (RFC 1918)"},
      {"172.31.255.255", "a private address (RFC 1918)"},
      {"192.168.1.1", "a private address (RFC 1918)"},
      {"::ffff:192.168.1.1", "a private address (RFC 1918)"},
      {"64:ff9b::a00:1", "a private address (RFC 1918)"},
      {"100.64.0.1", "a shared address (CGNAT, 100.64.0.0/10)"},
      {"100.127.255.255", "a shared address (CGNAT, 100.64.0.0/10)"},
      {"169.254.169.254", "a link-local address"},
      {"fe80::1", "a link-local address"},
      {"fec0::1", "a site-local address"},
      {"fd12:3456::1", "a unique-local address"},
      {"fc00::1", "a unique-local address"},
      {"0.0.0.0", "an unspecified address (0.0.0.0/8)"},
      {"::", "an unspecified address"},
      {"224.0.0.1", "a multicast address"},
      {"ff02::1", "a multicast address"},
      {"255.255.255.255", "a reserved address (240.0.0.0/4)"},
      {"example.org", "not an IP address"},
  };
  for (const auto& [address, problem] : cases) {
    INFO(address);
    CHECK(address_problem(address) == problem);
  }
}

TEST_CASE("feed: a feed on a loopback address is refused before any request unless allowed",
          "[feed]") {
  FeedServer server([](const httplib::Request&, httplib::Response& res) {
    res.set_content("a.example\n", "text/plain");
  });
  FeedConfig feed = feed_config(FeedConfig::Format::kText);
  feed.url = server.url("/list.txt");
  FeedState state;
  auto refused = FeedPoller(feed).poll(state);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "TYR_FEED_REFUSED");
  CHECK(refused.error().message == "feed 'test': GET " + feed.url +
                                       ": 127.0.0.1 is a loopback address (the feed's "
                                       "allow_private is off)");
  CHECK(state.last_error == refused.error().message);

  // A name is resolved by Tyr, and every address it has is checked.
  feed.url = "http://localhost:" + feed.url.substr(feed.url.rfind(':') + 1);
  auto by_name = FeedPoller(feed).poll(state);
  REQUIRE_FALSE(by_name.ok());
  CHECK(by_name.error().code == "TYR_FEED_REFUSED");
  CHECK_THAT(by_name.error().message,
             Catch::StartsWith("feed 'test': GET " + feed.url + ": localhost resolves to "));
  CHECK(server.count() == 0);

  feed.allow_private = true;
  auto allowed = FeedPoller(feed).poll(state);
  INFO(state.last_error);
  REQUIRE(allowed.ok());
  CHECK(state.rules.size() == 1);
  CHECK(server.count() == 1);
}

TEST_CASE("feed: a server that trickles its headers is cut off at the total timeout", "[feed]") {
  // Each byte comes long before the per-read timeout (30 s): only the total budget ends this.
  SlowServer server("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: " +
                        std::string(1000, 'a') + "\r\n\r\na.example\n",
                    std::chrono::milliseconds(50));
  FeedState state;
  auto [result, took] = timed_poll(server.url("/list.txt"), std::chrono::milliseconds(1000), state);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "TYR_NETWORK");
  CHECK(result.error().message ==
        "feed 'test': GET " + server.url("/list.txt") +
            ": no complete answer within 1000 ms (connecting, headers, body and redirects "
            "together)");
  CHECK(took >= std::chrono::milliseconds(1000));
  CHECK(took < std::chrono::milliseconds(2500));
}

TEST_CASE("feed: a server that accepts and never answers is cut off at the total timeout",
          "[feed]") {
  SlowServer server("", std::chrono::milliseconds(50));
  FeedState state;
  auto [result, took] = timed_poll(server.url("/list.txt"), std::chrono::milliseconds(1000), state);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "TYR_NETWORK");
  CHECK_THAT(result.error().message, Catch::EndsWith(": no complete answer within 1000 ms "
                                                     "(connecting, headers, body and redirects "
                                                     "together)"));
  CHECK(took < std::chrono::milliseconds(2500));
}

TEST_CASE("feed: a failed poll keeps the last good contents", "[feed]") {
  std::mutex mutex;
  int status = 200;
  std::string body = "a.example\n";
  FeedServer server([&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mutex);
    res.status = status;
    res.set_header("ETag", "\"v1\"");
    res.set_content(body, "text/plain");
  });
  const std::string url = server.url("/list.txt");
  FetchLimits limits;
  limits.max_body_bytes = 1024;
  const FeedPoller poller = text_poller(url, limits);
  FeedState state;
  REQUIRE(poller.poll(state).ok());
  const int64_t good_at = state.last_success_ms;
  auto still_good = [&] {
    CHECK(state.rules.size() == 1);
    CHECK(state.etag == "\"v1\"");
    CHECK(state.last_success_ms == good_at);
    CHECK(state.last_attempt_ms >= good_at);
  };

  {
    std::lock_guard lock(mutex);
    status = 503;
  }
  auto unavailable = poller.poll(state);
  REQUIRE_FALSE(unavailable.ok());
  CHECK(unavailable.error().code == "TYR_FEED_HTTP");
  CHECK(unavailable.error().status == 503);
  CHECK(state.last_error == "feed 'test': GET " + url + ": HTTP 503");
  still_good();

  {
    std::lock_guard lock(mutex);
    status = 200;
    body = std::string(2000, 'x');
  }
  auto too_large = poller.poll(state);
  REQUIRE_FALSE(too_large.ok());
  CHECK(too_large.error().code == "TYR_FEED_TOO_LARGE");
  CHECK(state.last_error == "feed 'test': GET " + url + ": body larger than 1024 bytes");
  still_good();

  // The text parser never fails; a CSV feed served from the same place does.
  FeedConfig csv = poller.feed();
  csv.format = FeedConfig::Format::kCsv;
  {
    std::lock_guard lock(mutex);
    body = "example.com,suspend\n";
  }
  auto unreadable = FeedPoller(csv).poll(state);
  REQUIRE_FALSE(unreadable.ok());
  CHECK(unreadable.error().code == "TYR_FEED_PARSE");
  CHECK(state.last_error == "test:1: no 'domain' column in the CSV header");
  still_good();

  {
    std::lock_guard lock(mutex);
    body = "b.example\n";
  }
  auto recovered = poller.poll(state);
  REQUIRE(recovered.ok());
  CHECK(*recovered == true);
  CHECK(state.last_error.empty());
  CHECK(state.rules.at(0).entity == "b.example");
}

TEST_CASE("feed: a poll of a server that is gone is a network error", "[feed]") {
  std::string url;
  {
    FeedServer server([](const httplib::Request&, httplib::Response& res) {
      res.set_content("a.example\n", "text/plain");
    });
    url = server.url("/list.txt");
  }
  FeedState state;
  state.rules.resize(1);
  auto result = text_poller(url).poll(state);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "TYR_NETWORK");
  CHECK(result.error().status == 0);
  CHECK(state.last_error == "feed 'test': GET " + url + ": cannot connect");
  CHECK(state.rules.size() == 1);
}

TEST_CASE("feed: validators are not sent when the feed's settings changed", "[feed]") {
  FeedServer server([](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("If-None-Match")) {
      res.status = 304;
      return;
    }
    res.set_header("ETag", "\"v1\"");
    res.set_content("a.example\n", "text/plain");
  });
  FeedState state;
  REQUIRE(text_poller(server.url("/list.txt")).poll(state).ok());
  FeedConfig reworded = text_poller(server.url("/list.txt")).feed();
  reworded.reason = "new reason";
  auto result = FeedPoller(reworded).poll(state);
  REQUIRE(result.ok());
  CHECK(*result == true);
  CHECK(header(server.request(1), "If-None-Match") == "(absent)");
  CHECK(state.rules.at(0).reason == "new reason");
}

TEST_CASE("feed: state survives a JSON round trip and revalidates after restart", "[feed]") {
  FeedServer server([](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("If-None-Match") == "\"v1\"") {
      res.status = 304;
      return;
    }
    res.set_header("ETag", "\"v1\"");
    res.set_content("a.example\nbad@x\n", "text/plain");
  });
  const FeedPoller poller = text_poller(server.url("/list.txt"));
  FeedState state;
  REQUIRE(poller.poll(state).ok());
  state.last_error = "an old failure";
  PolicyRule hashed;
  hashed.list = "feed:test";
  hashed.kind = EntityKind::kUser;
  hashed.family = tyr::engine::policy::Family::kMjolnir;
  hashed.state_key = "k";
  hashed.sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  hashed.recommendation = Recommendation::kTakedown;
  hashed.recommendation_raw = "m.takedown";
  hashed.reason = "r";
  hashed.event_id = "$e";
  state.rules.push_back(hashed);

  const std::string stored = json(state).dump();
  const FeedState restored = json::parse(stored).get<FeedState>();
  CHECK(json(restored) == json(state));
  CHECK(restored.skipped == 1);
  CHECK(restored.warnings ==
        std::vector<std::string>{"test:2: 'bad@x' is not a server name: contains '@'"});
  REQUIRE(restored.rules.size() == 2);
  CHECK(restored.rules[1].kind == EntityKind::kUser);
  CHECK(restored.rules[1].family == tyr::engine::policy::Family::kMjolnir);
  CHECK(restored.rules[1].recommendation == Recommendation::kTakedown);
  CHECK(restored.rules[1].sha256 == hashed.sha256);
  CHECK(restored.rules[1].event_id == "$e");

  // After a restart the first poll is conditional, so an unchanged feed costs one 304.
  FeedState after_restart = restored;
  auto result = poller.poll(after_restart);
  REQUIRE(result.ok());
  CHECK(*result == false);
  CHECK(header(server.request(1), "If-None-Match") == "\"v1\"");
  CHECK(after_restart.rules.size() == 2);
  CHECK(after_restart.last_error.empty());

  json wrong_version = json(state);
  wrong_version["version"] = 2;
  CHECK_THROWS_AS(wrong_version.get<FeedState>(), json::exception);
  json bad_kind = json(state);
  bad_kind["rules"][0]["kind"] = "planet";
  CHECK_THROWS_AS(bad_kind.get<FeedState>(), json::exception);
  json missing = json(state);
  missing.erase("etag");
  CHECK_THROWS_AS(missing.get<FeedState>(), json::exception);
}
