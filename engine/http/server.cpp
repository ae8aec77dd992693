#include "engine/http/server.hpp"

#include <sys/resource.h>

#include <atomic>
#include <future>
#include <limits>
#include <list>
#include <mutex>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "engine/core/log.hpp"
#include "engine/metrics/tyr_metrics.hpp"

namespace tyr::engine::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Response default_error(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::string(message) + "\n";
  return r;
}

// An open descriptor per connection: raise the soft limit to the hard one once, so that a
// listener's connection cap, not the process's descriptor limit, decides when to shed.
void raise_descriptor_limit() {
  static std::once_flag once;
  std::call_once(once, [] {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
  });
}

}  // namespace

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::multimap<std::string, std::string> parse_query(std::string_view query) {
  std::multimap<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    out.emplace(percent_decode(key, true), percent_decode(value, true));
  }
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

// ---------------------------------------------------------------------------------------------

class Connection;

// Connections point to their Impl by a plain pointer: every handler that holds a connection
// lives in `ioc` or `pool`, both destroyed (after stop()) before the members declared above them.
struct Server::Impl {
  explicit Impl(const Options& o)
      : options(o), pool(std::max<size_t>(1, o.limits.handler_threads)) {}

  const Options& options;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> accepted{0}, shed{0}, refused{0}, requests{0}, rejected{0};
  std::atomic<size_t> open{0};
  // Touched on the I/O thread only.
  std::list<std::weak_ptr<Connection>> connections;

  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::thread_pool pool;
  std::thread io_thread;

  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  bool make_room();  // false: every connection is busy in a handler
  void close_all();
  void count_rejection(std::string_view reason);
};

namespace {

enum class Phase : uint8_t { kIdle, kReading, kHandling, kWriting, kClosed };

}  // namespace

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server::Impl* server, tcp::socket socket)
      : server_(server),
        limits_(server_->options.limits),
        stream_(std::move(socket)),
        deadline_(stream_.get_executor()),
        buffer_(limits_.max_header_bytes + 4096) {
    server_->open.fetch_add(1, std::memory_order_relaxed);
    metrics::tyr_metrics().http_connections.with(server_->options.name).inc();
    beast::error_code ec;
    const auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Connection() {
    server_->open.fetch_sub(1, std::memory_order_relaxed);
    metrics::tyr_metrics().http_connections.with(server_->options.name).dec();
  }

  void start() { wait_for_request(); }

  Phase phase() const { return phase_; }
  Clock::time_point since() const { return since_; }

  // Closes the socket: pending operations end with operation_aborted.
  void close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    deadline_.cancel();
  }

 private:
  void set_phase(Phase p) {
    phase_ = p;
    since_ = Clock::now();
  }

  // Keep-alive: wait under the idle timeout for the first byte of the next request, then give
  // the whole request its own deadline.
  void wait_for_request() {
    if (phase_ == Phase::kClosed || server_->stopping) return close();
    set_phase(Phase::kIdle);
    if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
    stream_.expires_after(limits_.idle_timeout);
    auto space = buffer_.prepare(std::min<size_t>(4096, buffer_.max_size() - buffer_.size()));
    stream_.async_read_some(space, [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->close();
      self->buffer_.commit(n);
      self->read_header();
    });
  }

  void read_header() {
    if (phase_ == Phase::kClosed) return;
    set_phase(Phase::kReading);
    // Its own timer, not the stream's: the stream's closes the socket, and the client should
    // hear 408 (the timer cancels the read instead). The stream's expiry, a little later, is
    // the backstop for a cancel that found no read pending (its completion already queued).
    stream_.expires_after(limits_.request_deadline + std::chrono::seconds(2));
    timed_out_ = false;
    deadline_.expires_after(limits_.request_deadline);
    deadline_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->phase_ != Phase::kReading) return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits_.max_header_bytes));
    // Set once the route is known; Beast checks a Content-Length against it with the header.
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return refuse_read_error(ec, /*in_body=*/false);
    if (timed_out_) return reject(408, "deadline", "the request took too long");
    const auto& head = parser_->get();
    size_t fields = 0;
    for (auto it = head.begin(); it != head.end(); ++it) ++fields;
    if (fields > limits_.max_header_fields) {
      return reject(431, "too_many_headers",
                    "more than " + std::to_string(limits_.max_header_fields) + " header fields");
    }
    if (head.method() == bhttp::verb::unknown) {
      return reject(400, "malformed", "unknown method");
    }
    version_ = head.version();
    keep_alive_ = head.keep_alive();
    head_only_ = head.method() == bhttp::verb::head;
    request_ = Request{};
    request_.method = std::string(head.method_string());
    const std::string_view target(head.target().data(), head.target().size());
    const size_t q = target.find('?');
    request_.path = percent_decode(target.substr(0, q));
    if (q != std::string_view::npos) request_.query = parse_query(target.substr(q + 1));
    if (auto it = head.find(bhttp::field::authorization); it != head.end()) {
      request_.authorization = std::string(it->value().data(), it->value().size());
    }
    request_.remote = remote_;

    const size_t limit = server_->options.body_limit(request_.method, request_.path);
    const bool chunked = parser_->chunked();
    const auto length = parser_->content_length();
    const bool sends_body = head.method() == bhttp::verb::put ||
                            head.method() == bhttp::verb::post ||
                            head.method() == bhttp::verb::patch;
    if (sends_body && !chunked && !length) {
      return reject(411, "length_required", "a Content-Length is required");
    }
    if (length && *length > limit) {
      return reject(413, "body_too_large", "request body too large");
    }
    if (server_->options.screen) {
      std::optional<Response> refusal;
      try {
        refusal = server_->options.screen(request_);
      } catch (const std::exception& e) {
        log::error(server_->options.name, std::string("request screening failed: ") + e.what());
        refusal = error_response(500, "internal error");
      }
      if (refusal) {
        refusal->close = true;  // the body stays unread: the connection cannot be reused
        linger_ = true;
        server_->count_rejection("screened");
        return write(std::move(*refusal));
      }
    }
    parser_->body_limit(limit);
    if (auto expect = head.find(bhttp::field::expect);
        head.version() >= 11 && expect != head.end() &&
        beast::iequals(expect->value(), "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       head.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code wec, size_t) {
                           if (wec) return self->close();
                           self->read_body();
                         });
      return;
    }
    read_body();
  }

  void read_body() {
    if (phase_ == Phase::kClosed) return;
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return refuse_read_error(ec, /*in_body=*/true);
    if (timed_out_) return reject(408, "deadline", "the request took too long");
    auto message = parser_->release();
    request_.body = std::move(message.body());
    parser_.reset();
    set_phase(Phase::kHandling);
    deadline_.cancel();
    stream_.expires_never();
    server_->requests.fetch_add(1, std::memory_order_relaxed);
    asio::post(server_->pool, [self = shared_from_this()] {
      if (self->server_->stopping) return;  // the answer would meet a closed socket
      Response out;
      const std::string what = self->request_.method + " " + self->request_.path;
      try {
        out = self->server_->options.handler(self->request_);
      } catch (const std::exception& e) {
        log::error(self->server_->options.name, "handler failed on " + what + ": " + e.what());
        out = default_error(500, "internal error");
      } catch (...) {
        log::error(self->server_->options.name, "handler failed on " + what);
        out = default_error(500, "internal error");
      }
      asio::post(self->server_->ioc,
                 [self, out = std::move(out)]() mutable { self->write(std::move(out)); });
    });
  }

  // A read that failed: the client closed, was too slow, or sent what HTTP does not allow.
  void refuse_read_error(beast::error_code ec, bool in_body) {
    if (ec == beast::error::timeout) return close();  // the backstop: the socket is closed
    if (timed_out_) return reject(408, "deadline", "the request took too long");
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof) {
      return close();
    }
    if (ec == bhttp::error::header_limit || (ec == bhttp::error::buffer_overflow && !in_body)) {
      return reject(431, "header_too_large", "request header too large");
    }
    if (ec == bhttp::error::buffer_overflow) {  // a chunk line or trailer past the buffer
      return reject(413, "body_too_large", "chunk header too large");
    }
    if (ec == bhttp::error::body_limit) {
      return reject(413, "body_too_large", "request body too large");
    }
    if (ec == bhttp::error::partial_message) return close();
    return reject(400, "malformed", "malformed request");
  }

  Response error_response(int status, std::string_view message) const {
    if (server_->options.error) {
      try {
        return server_->options.error(status, message);
      } catch (const std::exception&) {
      }
    }
    return default_error(status, message);
  }

  // The server's own refusal: the rest of the request is not read, so the connection closes.
  void reject(int status, std::string_view reason, std::string_view message) {
    server_->count_rejection(reason);
    Response r = error_response(status, message);
    r.close = true;
    linger_ = true;
    keep_alive_ = false;
    head_only_ = false;
    write(std::move(r));
  }

  void write(Response out) {
    if (phase_ == Phase::kClosed) return;
    deadline_.cancel();
    set_phase(Phase::kWriting);
    parser_.reset();
    request_ = Request{};  // an idle keep-alive connection holds no body
    const bool keep = keep_alive_ && !out.close && !server_->stopping;
    std::shared_ptr<bhttp::response<bhttp::string_body>> res;
    try {
      res = build(std::move(out), keep);
    } catch (const std::exception& e) {
      // A status or header Beast refuses (a handler's bug): answer 500 rather than nothing.
      log::error(server_->options.name, std::string("cannot write the answer: ") + e.what());
      res = build(default_error(500, "internal error"), keep);
    }
    stream_.expires_after(limits_.write_timeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res, keep](beast::error_code ec, size_t) {
                         if (ec) return self->close();
                         if (!keep) {
                           beast::error_code ignored;
                           self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                           return self->linger_ ? self->drain() : self->close();
                         }
                         self->wait_for_request();
                       });
  }

  std::shared_ptr<bhttp::response<bhttp::string_body>> build(Response out, bool keep) const {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(out.status));
    if (const std::string_view phrase = reason_phrase(out.status); phrase != "Unknown") {
      res->reason(beast::string_view(phrase.data(), phrase.size()));
    }
    res->set(bhttp::field::content_type, out.content_type);
    for (auto& [name, value] : out.headers) res->set(name, value);
    res->keep_alive(keep);
    if (head_only_) {
      res->content_length(out.body.size());  // HEAD: the length of what GET would send
    } else {
      res->body() = std::move(out.body);
      res->prepare_payload();
    }
    return res;
  }

  // After refusing a request whose body was not read: read and drop what the client still
  // sends, for a little while, before closing. Closing with unread input makes the kernel send
  // a reset, which can destroy the answer before the client has read it.
  void drain() {
    if (phase_ == Phase::kClosed) return;
    if (drained_ == 0) stream_.expires_after(kLingerTime);
    if (drained_ >= kLingerBytes) return close();
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->close();
                              self->drained_ += n;
                              self->drain();
                            });
  }

  Server::Impl* server_;
  const Limits& limits_;
  beast::tcp_stream stream_;
  asio::steady_timer deadline_;  // the whole request, while reading it
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request request_;
  std::string remote_;
  Phase phase_ = Phase::kIdle;
  Clock::time_point since_ = Clock::now();
  bool keep_alive_ = true;
  bool head_only_ = false;
  bool linger_ = false;
  size_t drained_ = 0;
  static constexpr std::chrono::milliseconds kLingerTime{1000};
  static constexpr size_t kLingerBytes = 1 << 20;
  unsigned version_ = 11;
};

void Server::Impl::count_rejection(std::string_view reason) {
  rejected.fetch_add(1, std::memory_order_relaxed);
  metrics::tyr_metrics().http_rejected.with(options.name, reason).inc();
}

void Server::Impl::accept() {
  acceptor.async_accept(ioc, [self = this](beast::error_code ec, tcp::socket s) {
    self->on_accept(ec, std::move(s));
  });
}

bool Server::Impl::make_room() {
  size_t live = 0;
  std::shared_ptr<Connection> oldest_idle, oldest_reading;
  for (auto it = connections.begin(); it != connections.end();) {
    auto c = it->lock();
    if (!c || c->phase() == Phase::kClosed) {
      it = connections.erase(it);
      continue;
    }
    ++live;
    if (c->phase() == Phase::kIdle && (!oldest_idle || c->since() < oldest_idle->since())) {
      oldest_idle = c;
    } else if (c->phase() == Phase::kReading &&
               (!oldest_reading || c->since() < oldest_reading->since())) {
      oldest_reading = c;
    }
    ++it;
  }
  if (live < options.limits.max_connections) return true;
  auto victim = oldest_idle ? oldest_idle : oldest_reading;
  if (!victim) return false;
  victim->close();
  shed.fetch_add(1, std::memory_order_relaxed);
  metrics::tyr_metrics().http_connections_shed.with(options.name).inc();
  return true;
}

void Server::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping || !acceptor.is_open()) return;
  if (ec) {
    // Out of descriptors or memory: pause instead of spinning on the error.
    log::warn(options.name, "accept failed: " + ec.message());
    auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(100));
    timer->async_wait([self = this, timer](beast::error_code) {
      if (!self->stopping) self->accept();
    });
    return;
  }
  accepted.fetch_add(1, std::memory_order_relaxed);
  accept();  // first: nothing below may stop the listener from accepting
  try {
    if (!make_room()) {
      refused.fetch_add(1, std::memory_order_relaxed);
      count_rejection("busy");
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    auto conn = std::make_shared<Connection>(this, std::move(socket));
    connections.push_back(conn);
    conn->start();
  } catch (const std::exception& e) {
    log::error(options.name, std::string("cannot serve a new connection: ") + e.what());
  }
}

void Server::Impl::close_all() {
  beast::error_code ignored;
  acceptor.close(ignored);
  for (auto& weak : connections) {
    if (auto c = weak.lock()) c->close();
  }
  connections.clear();
}

// ---------------------------------------------------------------------------------------------

Server::Server(Options options) : options_(std::move(options)) {}

Server::~Server() { stop(); }

bool Server::start() {
  if (impl_) {
    log::error(options_.name, "listener already started");
    return false;
  }
  raise_descriptor_limit();
  auto impl = std::make_unique<Impl>(options_);
  const std::string where = options_.bind_address + ":" + std::to_string(options_.port);
  beast::error_code ec;
  const auto address = asio::ip::make_address(options_.bind_address, ec);
  if (ec) {
    log::error(options_.name, "cannot listen on " + where + ": " + ec.message());
    return false;
  }
  const tcp::endpoint endpoint(address, options_.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR lets a restart bind while old connections sit in TIME_WAIT; no SO_REUSEPORT,
  // with which a second Tyr on the same port would bind "successfully" and split the traffic.
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    log::error(options_.name, "cannot listen on " + where + ": " + ec.message());
    return false;
  }
  port_ = impl->acceptor.local_endpoint().port();
  impl->accept();
  impl->io_thread = std::thread([raw = impl.get()] {
    for (;;) {
      try {
        raw->ioc.run();
        return;
      } catch (const std::exception& e) {
        // A handler threw on the I/O thread: log it and keep serving the other connections.
        log::error(raw->options.name, std::string("listener error: ") + e.what());
      }
    }
  });
  impl_ = std::move(impl);
  return true;
}

void Server::stop() {
  if (!impl_) return;
  std::unique_ptr<Impl> impl = std::move(impl_);
  impl->stopping = true;
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  Impl* raw = impl.get();
  asio::post(raw->ioc, [raw, closed] {
    raw->close_all();
    closed->set_value();
  });
  if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    log::warn(options_.name, "listener did not close its connections within 5 s");
  }
  raw->pool.join();  // handlers in flight finish; their answers meet closed sockets
  raw->ioc.stop();
  if (raw->io_thread.joinable()) raw->io_thread.join();
  // Destroying the Impl destroys the io_context, and with it every handler still pending and
  // the connections they hold.
  impl.reset();
}

ServerStats Server::stats() const {
  ServerStats s;
  if (!impl_) return s;
  s.accepted = impl_->accepted.load();
  s.shed = impl_->shed.load();
  s.refused = impl_->refused.load();
  s.requests = impl_->requests.load();
  s.rejected = impl_->rejected.load();
  s.open = impl_->open.load();
  return s;
}

}  // namespace tyr::engine::http
