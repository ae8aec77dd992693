#pragma once
// A real HTTP server on a free loopback port for tests of Tyr's HTTP clients (feeds, the
// homeserver): answers GET, PUT and POST from the test's handler and records every request.

#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tyr::test {

class LoopbackServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  struct Seen {
    std::string method, path, body;
    httplib::Headers headers;
  };

  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        seen_.push_back({req.method, req.path, req.body, req.headers});
      }
      handler_(req, res);
    };
    server_.Get(".*", route);
    server_.Put(".*", route);
    server_.Post(".*", route);
    server_.Delete(".*", route);
    server_.set_keep_alive_timeout(1);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(server_.is_running());
  }
  ~LoopbackServer() {
    server_.stop();
    thread_.join();
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  // Headers of the n-th request (0-based).
  httplib::Headers request(std::size_t n) const {
    std::lock_guard lock(mu_);
    REQUIRE(n < seen_.size());
    return seen_[n].headers;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  std::size_t count(const std::string& path) const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& s : seen_) n += s.path == path ? 1 : 0;
    return n;
  }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
};

}  // namespace tyr::test
