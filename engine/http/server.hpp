#pragma once
// The HTTP server behind every Tyr listener (appservice, veto, admin), built for hostile
// clients: anyone who reaches a listener can send anything, as slowly or as much as they like.
//
// One I/O thread runs every connection asynchronously (Boost.Beast over Asio), so a slow client
// costs a socket and a few kilobytes, never a thread. Handlers run on a small pool of their
// own threads and never touch a socket; their answer is written back by the I/O thread.
//
// Limits, all enforced before the handler runs:
//   - the request line and headers: at most `max_header_bytes` and `max_header_fields` (431);
//   - the body: at most body_limit(method, path) bytes, chunked or not (413); a PUT/POST/PATCH
//     with neither Content-Length nor chunked encoding is refused (411);
//   - the whole request, from its first byte to its last, within `request_deadline` (408);
//   - an idle keep-alive connection is closed after `idle_timeout`; a response must be taken by
//     the client within `write_timeout`;
//   - at most `max_connections` open: past it the oldest idle connection is shed, then the
//     oldest one still sending its request; when every connection is busy in a handler the new
//     one is refused.
// `screen` sees the request line and headers before any of the body is read, so a request
// without a valid token is refused before its body costs anything.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tyr::engine::http {

struct Request {
  std::string method;                             // as sent: "GET", "PUT", …
  std::string path;                               // percent-decoded, without the query
  std::multimap<std::string, std::string> query;  // percent-decoded, '+' is a space
  std::string authorization;                      // the Authorization header, empty when absent
  std::string body;                               // empty until the body is read (so in `screen`)
  std::string remote;                             // peer address, for logs
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow
  bool close = false;  // close the connection after this answer
};

struct Limits {
  size_t max_header_bytes = 16 * 1024;  // request line and headers together
  size_t max_header_fields = 64;
  std::chrono::milliseconds request_deadline{10'000};  // first byte → last byte of the body
  std::chrono::milliseconds idle_timeout{30'000};      // keep-alive, between requests
  std::chrono::milliseconds write_timeout{10'000};     // the whole answer
  size_t max_connections = 1024;
  size_t handler_threads = 4;
};

struct Options {
  std::string name;  // "appservice", "veto", "admin": logs and the `listener` metric label
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (see Server::port())
  Limits limits;
  // The largest body accepted for a method and path. Required.
  std::function<size_t(std::string_view method, std::string_view path)> body_limit;
  // Optional: looks at the request before its body is read (Request::body is empty); an answer
  // refuses the request there, and the connection is closed (its body is never read).
  std::function<std::optional<Response>(const Request& head)> screen;
  // Required: answers a complete request. Runs on a handler thread; an exception is a 500.
  std::function<Response(Request& request)> handler;
  // Optional: the listener's own form for the server's refusals (400, 408, 411, 413, 431, 500,
  // 503); `message` says what was wrong. Default: a text/plain body with the message.
  std::function<Response(int status, std::string_view message)> error;
};

struct ServerStats {
  uint64_t accepted = 0;  // connections
  uint64_t shed = 0;      // connections closed to make room for a new one
  uint64_t refused = 0;   // connections refused because every slot was busy in a handler
  uint64_t requests = 0;  // requests that reached the handler
  uint64_t rejected = 0;  // requests the server itself answered with an error
  size_t open = 0;        // connections open now
};

class Server {
 public:
  explicit Server(Options options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving on background threads. False (with a log line) when the address
  // cannot be bound or the server is already running.
  bool start();
  // Stops accepting, closes every connection, waits for handlers in flight. Idempotent.
  void stop();
  uint16_t port() const { return port_; }
  ServerStats stats() const;

  struct Impl;

 private:
  Options options_;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

// Percent-decoding as for a path: "%2F" becomes '/', '+' stays. Invalid escapes are kept as
// they are.
std::string percent_decode(std::string_view s, bool plus_is_space = false);
// "a=1&b=%20x" → {a: "1", b: " x"}.
std::multimap<std::string, std::string> parse_query(std::string_view query);
// "Not Found" for 404; "Unknown" for codes Tyr does not send.
std::string_view reason_phrase(int status);

}  // namespace tyr::engine::http
