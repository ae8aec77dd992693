#pragma once
// A raw TCP client for tests that must send what no well-behaved HTTP client would: bytes one at
// a time, bodies without lengths, thousands of idle connections. Loopback only.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace tyr::test {

class RawConn {
 public:
  explicit RawConn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;
  RawConn(RawConn&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }

  bool ok() const { return fd_ >= 0; }

  // False when the peer has closed (EPIPE/ECONNRESET) or the send would block past `timeout`.
  bool send(std::string_view bytes,
            std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        bytes.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    }
    return true;
  }

  // Reads until `until` appears in what was read, the peer closes, or `timeout` passes.
  std::string read(std::chrono::milliseconds timeout, std::string_view until = {}) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[16384];
    for (;;) {
      if (!until.empty() && out.find(until) != std::string::npos) break;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  // A whole answer: headers, then Content-Length bytes of body.
  std::string read_response(std::chrono::milliseconds timeout) {
    std::string out = read(timeout, "\r\n\r\n");
    const size_t end = out.find("\r\n\r\n");
    if (end == std::string::npos) return out;
    size_t length = 0;
    for (std::string_view key : {"Content-Length: ", "content-length: "}) {
      const size_t at = out.find(key);
      if (at != std::string::npos && at < end) length = std::stoul(out.substr(at + key.size()));
    }
    while (out.size() < end + 4 + length && !closed_) {
      const std::string more = read(timeout);
      if (more.empty()) break;
      out += more;
    }
    return out;
  }

  // True when the peer closed the connection within `timeout` (reading and dropping any bytes).
  bool closed_within(std::chrono::milliseconds timeout) {
    read(timeout);
    return closed_;
  }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

// The status code of a raw answer, or 0.
inline int status_of(std::string_view response) {
  if (response.substr(0, 9) != "HTTP/1.1 " && response.substr(0, 9) != "HTTP/1.0 ") return 0;
  return std::atoi(std::string(response.substr(9, 3)).c_str());
}

}  // namespace tyr::test
