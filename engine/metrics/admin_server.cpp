#include "engine/metrics/admin_server.hpp"

#include <httplib.h>

#include <sys/socket.h>

#include <exception>

#include "engine/core/log.hpp"

namespace tyr::engine::metrics {

namespace {

// Probes and scrapes carry no body; anything larger is not a request for this listener.
constexpr size_t kMaxBodyBytes = 4096;
// Prometheus keeps its connection alive between scrapes; a few workers are plenty, and short
// timeouts stop an idle or trickling client from holding one for long.
constexpr size_t kWorkers = 4;
constexpr time_t kTimeoutSeconds = 5;

AdminResponse text(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.body = std::move(body);
  if (r.body.empty() || r.body.back() != '\n') r.body += '\n';
  return r;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "bad request";
    case 408: return "request timeout";
    case 411: return "length required";
    case 413: return "payload too large";
    case 414: return "uri too long";
    case 416: return "range not satisfiable";
    default: return status >= 500 ? "internal error" : "request refused";
  }
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
  auto http = std::make_unique<httplib::Server>();
  http->new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  http->set_payload_max_length(kMaxBodyBytes);
  http->set_read_timeout(kTimeoutSeconds);
  http->set_write_timeout(kTimeoutSeconds);
  http->set_keep_alive_timeout(2);  // stop() waits for idle keep-alive connections

  auto dispatch = [this](const httplib::Request& req, httplib::Response& res) {
    AdminResponse out = handle(req.method, req.path);
    res.status = out.status;
    if (out.status == 405) res.set_header("Allow", "GET, HEAD");
    res.set_content(std::move(out.body), out.content_type.c_str());
  };
  // Every method reaches handle(), so that a POST to /metrics is a 405 and not httplib's 404.
  const std::string any = ".*";
  http->Get(any, dispatch);  // also serves HEAD
  http->Post(any, dispatch);
  http->Put(any, dispatch);
  http->Delete(any, dispatch);
  http->Patch(any, dispatch);
  http->Options(any, dispatch);
  // httplib's default also sets SO_REUSEPORT, with which a second Tyr on the same port binds
  // "successfully" and the kernel splits scrapes between the two. SO_REUSEADDR alone still
  // allows a restart while old connections sit in TIME_WAIT.
  http->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // httplib 0.11 reads a chunked body whole, ignoring the payload limit, before any handler
  // runs: refuse it before it is read. The answer asks the client to close (httplib itself only
  // drops the connection at its keep-alive timeout).
  http->set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_header("Transfer-Encoding")) return httplib::Server::HandlerResponse::Unhandled;
    res.status = 411;
    res.set_header("Connection", "close");
    res.set_content("a Content-Length is required\n", "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  // httplib's own refusals (400 malformed, 413 too large, 414 URI too long…) get a text body.
  httplib::Server::HandlerWithResponse on_error = [](const httplib::Request&,
                                                      httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    res.set_content(std::to_string(res.status) + " " + reason_phrase(res.status) + "\n",
                    "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  };
  http->set_error_handler(on_error);
  http->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content("internal error\n", "text/plain; charset=utf-8");
      });

  int port = requested_port_;
  if (requested_port_ == 0) {
    port = http->bind_to_any_port(bind_address_);
  } else if (!http->bind_to_port(bind_address_, requested_port_)) {
    port = -1;
  }
  if (port <= 0) {
    log::error("admin",
               "cannot listen on " + bind_address_ + ":" + std::to_string(requested_port_));
    return false;
  }
  bound_port_ = static_cast<uint16_t>(port);
  http_ = std::move(http);
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  // httplib's stop() does nothing until the accept loop runs; without this wait a stop() right
  // after start() is lost and the join in stop() hangs.
  while (!http_->is_running()) std::this_thread::yield();
  log::info("admin", "serving /metrics, /healthz and /readyz on " + bind_address_ + ":" +
                         std::to_string(bound_port_));
  return true;
}

void AdminServer::stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
  http_.reset();
}

}  // namespace tyr::engine::metrics
