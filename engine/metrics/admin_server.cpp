#include "engine/metrics/admin_server.hpp"

#include <exception>

#include "engine/core/log.hpp"
#include "engine/http/server.hpp"

namespace tyr::engine::metrics {

namespace {

// Probes and scrapes carry no body; anything larger is not a request for this listener.
constexpr size_t kMaxBodyBytes = 4096;
// Prometheus keeps its connection alive between scrapes; two handler threads are plenty.
constexpr size_t kWorkers = 2;
constexpr std::chrono::seconds kTimeout{5};

AdminResponse text(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.body = std::move(body);
  if (r.body.empty() || r.body.back() != '\n') r.body += '\n';
  return r;
}

AdminResponse run_probe(const Probe& probe, std::string_view ok_body, std::string_view what) {
  if (!probe) return text(200, std::string(ok_body));
  ProbeResult result;
  try {
    result = probe();
  } catch (const std::exception& e) {
    return text(503, std::string(what) + " check failed: " + e.what());
  } catch (...) {
    return text(503, std::string(what) + " check failed");
  }
  if (result.ok) return text(200, std::string(ok_body));
  if (result.reason.empty()) return text(503, "not " + std::string(ok_body));
  return text(503, result.reason);
}

}  // namespace

AdminServer::AdminServer(std::string bind_address, uint16_t port, const Registry& registry,
                         Probe healthy, Probe ready)
    : bind_address_(std::move(bind_address)),
      requested_port_(port),
      registry_(registry),
      healthy_(std::move(healthy)),
      ready_(std::move(ready)) {}

AdminServer::~AdminServer() { stop(); }

AdminResponse AdminServer::handle(std::string_view method, std::string_view path) const {
  const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz";
  if (!known) return text(404, "not found");
  if (method != "GET" && method != "HEAD") return text(405, "method not allowed");
  if (path == "/healthz") return run_probe(healthy_, "ok", "health");
  if (path == "/readyz") return run_probe(ready_, "ready", "readiness");
  AdminResponse r;
  r.content_type = std::string(kMetricsContentType);
  try {
    registry_.render(r.body);
  } catch (const std::exception& e) {
    log::error("admin", std::string("rendering metrics failed: ") + e.what());
    return text(500, "rendering metrics failed");
  }
  return r;
}

bool AdminServer::start() {
  if (http_) {
    log::error("admin", "admin listener already started");
    return false;
  }
  http::Options o;
  o.name = "admin";
  o.bind_address = bind_address_;
  o.port = requested_port_;
  o.limits.handler_threads = kWorkers;
  o.limits.request_deadline = kTimeout;
  o.limits.write_timeout = kTimeout;
  o.body_limit = [](std::string_view, std::string_view) { return kMaxBodyBytes; };
  o.handler = [this](http::Request& req) {
    AdminResponse out = handle(req.method, req.path);
    http::Response r;
    r.status = out.status;
    r.content_type = std::move(out.content_type);
    r.body = std::move(out.body);
    if (out.status == 405) r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  };
  // The server's own refusals (400 malformed, 408 too slow, 413 too large, 431…) as text.
  o.error = [](int status, std::string_view message) {
    http::Response r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::string(message) + "\n";
    return r;
  };
  auto server = std::make_unique<http::Server>(std::move(o));
  if (!server->start()) return false;
  bound_port_ = server->port();
  http_ = std::move(server);
  log::info("admin", "serving /metrics, /healthz and /readyz on " + bind_address_ + ":" +
                         std::to_string(bound_port_));
  return true;
}

void AdminServer::stop() {
  if (http_) http_->stop();
  http_.reset();
}

}  // namespace tyr::engine::metrics
