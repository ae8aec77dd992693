#pragma once
// The admin listener: Prometheus scrapes and liveness/readiness probes on their own port, apart
// from the appservice API so that it can stay on loopback or a private network.
//
//   GET /metrics  200, the registry in text format 0.0.4
//   GET /healthz  200 "ok"    | 503 and the reason (liveness: restart me)
//   GET /readyz   200 "ready" | 503 and the reason (readiness: do not rely on me yet)
//   other paths 404; other methods on these paths 405 (HEAD is served like GET).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "engine/metrics/metrics.hpp"

namespace tyr::engine::http {
class Server;
}

namespace tyr::engine::metrics {

struct ProbeResult {
  bool ok = true;
  std::string reason;  // shown in the 503 body; say what is wrong, not just "unhealthy"
};
// Runs on an HTTP worker thread for each probe request: must be thread-safe and quick.
using Probe = std::function<ProbeResult()>;

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

class AdminServer {
 public:
  // `port` 0 picks a free port (see port() after start()). An empty probe always passes.
  AdminServer(std::string bind_address, uint16_t port, const Registry& registry, Probe healthy,
              Probe ready);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Pure request handling (no sockets): used by the HTTP server and by unit tests.
  AdminResponse handle(std::string_view method, std::string_view path) const;

  // Binds and serves on a background thread. Returns false (with a log line) when the address
  // cannot be bound or the server is already running.
  bool start();
  // Stops accepting, finishes requests in flight and joins the thread. Idempotent.
  void stop();
  uint16_t port() const { return bound_port_; }

 private:
  std::string bind_address_;
  uint16_t requested_port_;
  const Registry& registry_;
  Probe healthy_;
  Probe ready_;
  std::unique_ptr<http::Server> http_;
  uint16_t bound_port_ = 0;
};

}  // namespace tyr::engine::metrics
