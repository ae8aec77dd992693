// Fetching feeds: URL and redirect checks, address checks against private networks, the
// deadline watchdog, and FeedPoller's conditional GETs. Parsing is in feed.cpp.
#include "engine/policy/feed.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "engine/core/ascii.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/text.hpp"
#include "engine/core/version.hpp"

namespace tyr::engine::policy {
namespace {

using nlohmann::json;

// Feed text is untrusted and ends up in logs, in the stored feed state and in the management
// room: control characters are escaped, invalid UTF-8 replaced and long entries cut.
std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 80;
  return escape_untrusted(s, kMax);
}

bool same_rule(const PolicyRule& a, const PolicyRule& b) {
  return a.list == b.list && a.kind == b.kind && a.family == b.family &&
         a.state_key == b.state_key && a.entity == b.entity && a.sha256 == b.sha256 &&
         a.recommendation == b.recommendation && a.recommendation_raw == b.recommendation_raw &&
         a.reason == b.reason && a.event_id == b.event_id;
}

bool same_rules(const std::vector<PolicyRule>& a, const std::vector<PolicyRule>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!same_rule(a[i], b[i])) return false;
  }
  return true;
}

struct Target {
  std::string scheme;  // "http" or "https"
  // As httplib keys its address map: a name or IPv4 literal, or an IPv6 literal without brackets.
  std::string host;
  std::string origin;  // "scheme://authority", as httplib::Client takes it
  std::string path;    // path and query, as written in the URL
};

// "http[s]://authority[/path][?query][#fragment]"; credentials in the authority are refused
// rather than sent in the clear or dropped silently. URLs come from redirects too, so the
// authority is checked here rather than left to httplib::Client, whose constructor throws on a
// port beyond int and runs a recursive std::regex over it; spaces and control characters,
// which would end up in the request line, are refused anywhere.
std::optional<Target> split_url(std::string_view url) {
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return std::nullopt;
  }
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const std::string scheme = ascii_lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  const std::string_view rest = url.substr(scheme_end + 3);
  const auto path_start = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, path_start);
  if (authority.empty() || authority.size() > 300 ||
      authority.find('@') != std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view host = authority;
  std::string_view after_host;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    after_host = authority.substr(close + 1);
    // httplib reads bracketed hosts as digits and colons only.
    if (host.empty() || host.find_first_not_of("0123456789:") != std::string_view::npos) {
      return std::nullopt;
    }
  } else {
    host = authority.substr(0, authority.find(':'));
    after_host = authority.substr(host.size());
    if (host.empty() || host.find_first_of("[]") != std::string_view::npos) return std::nullopt;
  }
  if (!after_host.empty()) {
    const std::string_view port = after_host.substr(1);
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (after_host.front() != ':' || port.empty() || port.size() > 5 || ec != std::errc() ||
        end != port.data() + port.size() || n < 1 || n > 65535) {
      return std::nullopt;
    }
  }
  std::string path(path_start == std::string_view::npos ? std::string_view{}
                                                        : rest.substr(path_start));
  path = path.substr(0, path.find('#'));
  if (path.empty() || path.front() != '/') path.insert(0, "/");
  return Target{scheme, std::string(host), scheme + "://" + std::string(authority),
                std::move(path)};
}

std::string describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection: return "cannot connect";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "read failed or timed out";
    case httplib::Error::Write: return "write failed or timed out";
    case httplib::Error::ExceedRedirectCount: return "too many redirects";
    case httplib::Error::SSLConnection: return "TLS connection failed";
    case httplib::Error::SSLLoadingCerts: return "cannot load CA certificates";
    case httplib::Error::SSLServerVerification: return "server certificate verification failed";
    case httplib::Error::Compression: return "cannot decompress the body";
    default: return "request failed (" + httplib::to_string(error) + ")";
  }
}

std::string source_of(const FeedConfig& feed) {
  static constexpr std::string_view kFormats[] = {"json", "text", "csv"};
  return json::array({feed.name, feed.url, kFormats[static_cast<int>(feed.format)],
                      std::string(kind_name(feed.kind)), feed.recommendation, feed.reason})
      .dump();
}

// Where a redirect leads: absolute, scheme-relative, absolute-path or relative references. A
// reference with any scheme (RFC 3986: a letter, then letters, digits, '+', '-' or '.', then
// ':') is absolute, so "ftp://…" stays an ftp URL that split_url refuses rather than becoming
// a relative path on the current server.
std::string resolve_location(const Target& from, const std::string& location) {
  const auto colon = location.find_first_of(":/?#");
  if (colon != std::string::npos && colon > 0 && location[colon] == ':' &&
      std::isalpha(static_cast<unsigned char>(location[0])) &&
      std::all_of(
          location.begin(), location.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
          })) {
    return location;
  }
  if (location.rfind("//", 0) == 0) return from.scheme + ":" + location;
  if (!location.empty() && location.front() == '/') return from.origin + location;
  const std::string dir = from.path.substr(0, from.path.find('?'));
  return from.origin + dir.substr(0, dir.rfind('/') + 1) + location;
}

std::optional<std::string> scheme_problem(const Target& from, const Target& to) {
  if (from.scheme == "https" && to.scheme == "http") {
    return "from https to http (the feed would travel unencrypted)";
  }
  return std::nullopt;
}

std::optional<std::string> ipv4_problem(uint32_t a) {
  auto in = [a](uint32_t net, int bits) { return (a >> (32 - bits)) == (net >> (32 - bits)); };
  if (in(0x00000000, 8)) return "an unspecified address (0.0.0.0/8)";
  if (in(0x7f000000, 8)) return "a loopback address";
  if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16)) {
    return "a private address (RFC 1918)";
  }
  if (in(0x64400000, 10)) return "a shared address (CGNAT, 100.64.0.0/10)";
  if (in(0xa9fe0000, 16)) return "a link-local address";
  if (in(0xe0000000, 4)) return "a multicast address";
  if (in(0xf0000000, 4)) return "a reserved address (240.0.0.0/4)";  // broadcast included
  return std::nullopt;
}

std::optional<std::string> ipv6_problem(const unsigned char (&b)[16]) {
  static constexpr unsigned char kZero[16] = {};
  static constexpr unsigned char kNat64[12] = {0x00, 0x64, 0xff, 0x9b};  // 64:ff9b::/96
  if (std::memcmp(b, kZero, 16) == 0) return "an unspecified address";
  if (std::memcmp(b, kZero, 15) == 0 && b[15] == 1) return "a loopback address";
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 addresses reach the
  // IPv4 address they embed.
  const bool mapped = std::memcmp(b, kZero, 10) == 0 && b[10] == 0xff && b[11] == 0xff;
  if (mapped || std::memcmp(b, kZero, 12) == 0 || std::memcmp(b, kNat64, 12) == 0) {
    return ipv4_problem((uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) |
                        uint32_t{b[15]});
  }
  if (b[0] == 0xff) return "a multicast address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "a link-local address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "a site-local address";
  if ((b[0] & 0xfe) == 0xfc) return "a unique-local address";
  return std::nullopt;
}

// The addresses `host` resolves to, in the order getaddrinfo prefers, each once. The fetch
// connects to these and nothing else, so what was checked is what is reached.
Result<std::vector<std::string>> resolve_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    return Error{"TYR_NETWORK", "cannot resolve " + host + ": " + ::gai_strerror(rc), 0};
  }
  std::vector<std::string> out;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN];
    const void* addr = nullptr;
    if (ai->ai_family == AF_INET) {
      addr = &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr;
    } else if (ai->ai_family == AF_INET6) {
      addr = &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
    }
    if (addr == nullptr || ::inet_ntop(ai->ai_family, addr, text, sizeof text) == nullptr) continue;
    if (std::find(out.begin(), out.end(), text) == out.end()) out.emplace_back(text);
  }
  ::freeaddrinfo(found);
  if (out.empty()) return Error{"TYR_NETWORK", "cannot resolve " + host + ": no address", 0};
  return out;
}

// Ends a fetch that runs past its deadline. httplib's timeouts apply to each connect, read and
// write, so a server that sends a byte now and then (headers included) would hold a fetch open
// for ever. Every socket the fetch opens is registered (a duplicate descriptor, so the number
// cannot be reused under us once httplib closes its own); when the deadline passes, they are
// shut down from this thread and whatever httplib is waiting for fails at once. A socket
// registered after the deadline is shut down as it is registered.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::steady_clock::time_point deadline)
      : deadline_(deadline), thread_([this] { run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
    release_sockets();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  bool passed() const { return std::chrono::steady_clock::now() >= deadline_; }

  // For httplib::Client::set_socket_options: called on each new socket before it connects.
  void add_socket(int fd) {
    const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return;  // the per-operation timeouts still bound it
    std::lock_guard lock(mutex_);
    if (expired_) ::shutdown(dup, SHUT_RDWR);
    fds_.push_back(dup);
  }

  // After each request, so that a finished connection closes rather than lingering.
  void release_sockets() {
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    if (cv_.wait_until(lock, deadline_, [this] { return done_; })) return;
    expired_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }

  const std::chrono::steady_clock::time_point deadline_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool expired_ = false;
  std::vector<int> fds_;
  std::thread thread_;  // last: started once the members it uses exist
};

struct Answer {
  int status = 0;
  std::string body;  // of a 200 answer
  std::string etag, last_modified;
};

constexpr int kMaxRedirects = 5;

// One GET, following redirects itself: httplib's own following treats a 304 (which has no
// Location) as a failed redirect, and would go to any scheme and address. Each hop's host is
// resolved here and every address checked (unless allow_private); httplib is then pinned to
// the checked addresses, tried in order. One deadline, total_timeout, covers the whole fetch.
Result<Answer> fetch(const std::string& url, const httplib::Headers& headers,
                     const FetchLimits& limits, bool allow_private) {
  using std::chrono::milliseconds;
  const std::string what = "GET " + url;
  const auto deadline = std::chrono::steady_clock::now() + limits.total_timeout;
  Watchdog watchdog(deadline);
  auto too_slow = [&] {
    const auto ms = std::chrono::duration_cast<milliseconds>(limits.total_timeout);
    return Error{"TYR_NETWORK",
                 what + ": no complete answer within " + std::to_string(ms.count()) +
                     " ms (connecting, headers, body and redirects together)",
                 0};
  };
  auto unusable = [&](const std::string& u) {
    return Error{"TYR_BAD_CONFIG", what + ": not a usable http(s) URL: '" + printable(u) + "'", 0};
  };
  std::string current = url;
  auto target = split_url(current);
  if (!target) return unusable(current);
  for (int hop = 0;; ++hop) {
    // Later hops come from a Location header: say which URL a problem is about.
    const std::string via = hop == 0 ? std::string() : "redirected to " + printable(current) + ": ";
    const auto addresses = resolve_host(target->host);
    if (!addresses) return Error{"TYR_NETWORK", what + ": " + via + addresses.error().message, 0};
    if (!allow_private) {
      for (const std::string& address : *addresses) {
        if (auto problem = address_problem(address)) {
          const std::string subject = address == target->host
                                          ? address + " is "
                                          : target->host + " resolves to " + address + ", ";
          return Error{
              "TYR_FEED_REFUSED",
              what + ": " + via + subject + *problem + " (the feed's allow_private is off)", 0};
        }
      }
    }

    // The cap applies to the decompressed body, so a small gzip bomb cannot get past it.
    Answer answer;
    bool too_large = false;
    auto on_response = [&](const httplib::Response& res) {
      if (res.status != 200 || !res.has_header("Content-Length")) return true;
      const std::string length = res.get_header_value("Content-Length");
      uint64_t n = 0;
      const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
      too_large =
          ec == std::errc::result_out_of_range || (ec == std::errc() && n > limits.max_body_bytes);
      return !too_large;
    };
    auto on_data = [&](const char* data, std::size_t size) {
      if (size > limits.max_body_bytes - answer.body.size()) {
        too_large = true;
        return false;
      }
      answer.body.append(data, size);
      return true;
    };
    std::optional<httplib::Result> result;
    for (std::size_t i = 0; i < addresses->size(); ++i) {
      const auto left =
          std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= milliseconds(0)) return too_slow();
      const milliseconds step = std::min(limits.timeout, left);
      httplib::Client client(target->origin);
      if (!client.is_valid()) return unusable(current);
      client.set_hostname_addr_map({{target->host, (*addresses)[i]}});
      client.set_socket_options([&watchdog](socket_t fd) { watchdog.add_socket(fd); });
      client.set_connection_timeout(step);
      client.set_read_timeout(step);
      client.set_write_timeout(step);
      client.set_follow_location(false);
      client.set_url_encode(false);  // the URL is used as written
      httplib::Result res = client.Get(target->path, headers, on_response, on_data);
      watchdog.release_sockets();
      const bool unreachable = !res && (res.error() == httplib::Error::Connection ||
                                        res.error() == httplib::Error::ConnectionTimeout);
      if (unreachable && i + 1 < addresses->size() && !watchdog.passed()) continue;
      result.emplace(std::move(res));
      break;
    }
    const httplib::Result& res = *result;
    if (too_large) {
      return Error{"TYR_FEED_TOO_LARGE",
                   what + ": body larger than " + std::to_string(limits.max_body_bytes) + " bytes",
                   200};
    }
    if (!res && watchdog.passed()) return too_slow();
    if (!res) return Error{"TYR_NETWORK", what + ": " + via + describe(res.error()), 0};

    const int status = res->status;
    const bool redirect =
        status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    if (redirect && res->has_header("Location")) {
      if (hop == kMaxRedirects) {
        return Error{"TYR_FEED_HTTP",
                     what + ": more than " + std::to_string(kMaxRedirects) + " redirects", status};
      }
      const std::string next = resolve_location(*target, res->get_header_value("Location"));
      auto next_target = split_url(next);
      if (!next_target) {
        return Error{"TYR_FEED_HTTP",
                     what + ": redirect to an unusable URL '" + printable(next) + "'", status};
      }
      if (auto problem = scheme_problem(*target, *next_target)) {
        return Error{"TYR_FEED_REFUSED",
                     what + ": redirect to " + printable(next) + " refused: " + *problem, status};
      }
      current = next;
      target = std::move(next_target);
      continue;
    }
    answer.status = status;
    if (status != 200) answer.body.clear();
    answer.etag = res->get_header_value("ETag");
    answer.last_modified = res->get_header_value("Last-Modified");
    return answer;
  }
}

}  // namespace

std::optional<std::string> address_problem(std::string_view address) {
  const std::string text(address);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return ipv4_problem(ntohl(v4.s_addr));
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    unsigned char bytes[16];
    std::memcpy(bytes, &v6, sizeof bytes);
    return ipv6_problem(bytes);
  }
  return "not an IP address";
}

std::optional<std::string> redirect_problem(std::string_view from, std::string_view to) {
  const auto a = split_url(from);
  const auto b = split_url(to);
  if (!a || !b) return "not a usable http(s) URL";
  return scheme_problem(*a, *b);
}

FeedPoller::FeedPoller(FeedConfig feed, FetchLimits limits)
    : feed_(std::move(feed)), limits_(limits), source_(source_of(feed_)) {}

Result<bool> FeedPoller::poll(FeedState& state) const {
  state.last_attempt_ms = now_ms();
  const bool revalidate = state.last_success_ms > 0 && state.source == source_;
  httplib::Headers headers{{"User-Agent", std::string("tyr/") + kVersion}};
  if (revalidate && !state.etag.empty()) headers.emplace("If-None-Match", state.etag);
  if (revalidate && !state.last_modified.empty()) {
    headers.emplace("If-Modified-Since", state.last_modified);
  }

  auto fail = [&](Error error) -> Result<bool> {
    state.last_error = error.message;
    return error;
  };
  const std::string feed_name = "feed '" + feed_.name + "': ";
  auto answer = fetch(feed_.url, headers, limits_, feed_.allow_private);
  if (!answer) {
    Error error = answer.error();
    error.message.insert(0, feed_name);
    return fail(std::move(error));
  }
  const std::string what = feed_name + "GET " + feed_.url;

  if (answer->status == 304) {
    // Only meaningful as an answer to our validators; otherwise there is nothing to keep.
    if (!revalidate) {
      return fail(Error{"TYR_FEED_HTTP", what + ": HTTP 304 to an unconditional request", 304});
    }
    if (!answer->etag.empty()) state.etag = answer->etag;
    state.last_success_ms = now_ms();
    state.last_error.clear();
    return false;
  }
  if (answer->status != 200) {
    return fail(
        Error{"TYR_FEED_HTTP", what + ": HTTP " + std::to_string(answer->status), answer->status});
  }

  auto parsed = parse_feed(feed_, answer->body);
  if (!parsed) return fail(parsed.error());
  const bool changed = !same_rules(state.rules, parsed->rules);
  state.rules = std::move(parsed->rules);
  state.warnings = std::move(parsed->warnings);
  state.skipped = parsed->skipped;
  state.etag = std::move(answer->etag);
  state.last_modified = std::move(answer->last_modified);
  state.source = source_;
  state.last_success_ms = now_ms();
  state.last_error.clear();
  return changed;
}

}  // namespace tyr::engine::policy
