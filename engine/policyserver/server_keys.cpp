#include "engine/policyserver/server_keys.hpp"

#include <httplib.h>

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"

namespace tyr::engine::policyserver {

namespace {

constexpr int64_t kMinCacheMs = 5 * 60 * 1000;
constexpr int64_t kMaxCacheMs = 24 * 60 * 60 * 1000;
constexpr int64_t kRefetchUnknownKeyMs =
    60 * 1000;  // a key the cache lacks: refetch at most once a minute
constexpr size_t kMaxWellKnownBytes = 16 * 1024;

Error key_error(std::string message) { return Error{"TYR_SERVER_KEYS", std::move(message), 0, -1}; }

// "host" and "port" of a server name; port 0 when none was given.
std::pair<std::string, uint16_t> split_server(std::string_view server) {
  const std::string_view host = strip_port(server);
  uint16_t port = 0;
  if (host.size() < server.size()) {
    port = static_cast<uint16_t>(std::stoul(std::string(server.substr(host.size() + 1))));
  }
  return {std::string(host), port};
}

bool is_ip_literal(std::string_view host) {
  if (!host.empty() && host.front() == '[') return true;
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

}  // namespace

HttpGet https_getter(const KeyFetchOptions& options) {
  const auto timeout = options.timeout;
  const bool verify = options.verify_tls;
  return [timeout, verify](const std::string& url, size_t max_bytes) -> Result<std::string> {
    // url: scheme://host[:port]/path
    const size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return key_error("bad URL " + url);
    const size_t path_start = url.find('/', scheme_end + 3);
    const std::string origin = url.substr(0, path_start);
    const std::string path = path_start == std::string::npos ? "/" : url.substr(path_start);
    httplib::Client client(origin);
    if (!client.is_valid()) return key_error("bad URL " + url);
    client.enable_server_certificate_verification(verify);
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
    client.set_connection_timeout(secs.count(), usecs.count());
    client.set_read_timeout(secs.count(), usecs.count());
    client.set_write_timeout(secs.count(), usecs.count());
    client.set_follow_location(false);
    std::string body;
    bool too_big = false;
    auto res = client.Get(path, [&](const char* data, size_t len) {
      if (body.size() + len > max_bytes) {
        too_big = true;
        return false;
      }
      body.append(data, len);
      return true;
    });
    if (too_big)
      return key_error(url + ": answer larger than " + std::to_string(max_bytes) + " bytes");
    if (!res) return key_error(url + ": " + httplib::to_string(res.error()));
    if (res->status != 200) {
      return Error{"TYR_SERVER_KEYS", url + ": HTTP " + std::to_string(res->status), res->status,
                   -1};
    }
    return body;
  };
}

ServerKeyCache::ServerKeyCache(KeyFetchOptions options, HttpGet get)
    : options_(std::move(options)), get_(get ? std::move(get) : https_getter(options_)) {}

size_t ServerKeyCache::fetches() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

Result<std::string> ServerKeyCache::base_url(const std::string& server) {
  if (auto it = options_.server_urls.find(server); it != options_.server_urls.end()) {
    std::string url = it->second;
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
  }
  if (!is_server_name(server)) return key_error("'" + server + "' is not a server name");
  const auto [host, port] = split_server(server);
  if (port != 0) return "https://" + host + ":" + std::to_string(port);
  if (is_ip_literal(host)) return "https://" + host + ":8448";
  // Delegation: .well-known names the host (and port) that serves federation.
  auto wk = get_("https://" + host + "/.well-known/matrix/server", kMaxWellKnownBytes);
  if (wk) {
    const auto doc = nlohmann::json::parse(wk.value(), nullptr, false);
    if (doc.is_object() && doc.contains("m.server") && doc["m.server"].is_string()) {
      const std::string delegated = doc["m.server"].get<std::string>();
      if (is_server_name(delegated)) {
        const auto [dhost, dport] = split_server(delegated);
        return "https://" + dhost + ":" + std::to_string(dport == 0 ? 8448 : dport);
      }
    }
  }
  return "https://" + host + ":8448";
}

Result<federation::ServerKeys> ServerKeyCache::fetch(const std::string& server, int64_t now_ms) {
  auto base = base_url(server);
  if (!base) return base.error();
  auto body = get_(base.value() + "/_matrix/key/v2/server", federation::kMaxServerKeysBytes);
  if (!body) return body.error();
  auto keys = federation::parse_server_keys(body.value(), server, now_ms);
  if (!keys) return key_error(server + ": " + keys.error().message);
  return std::move(keys).value();
}

void ServerKeyCache::evict_locked() {
  while (entries_.size() > options_.max_servers) {
    auto oldest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.fetched_ms < b.second.fetched_ms; });
    entries_.erase(oldest);
  }
}

Result<std::string> ServerKeyCache::key(const std::string& server, const std::string& key_id,
                                        int64_t now_ms) {
  std::unique_lock lock(mu_);
  for (;;) {
    // Another request is fetching this server's keys: wait for its answer.
    fetched_.wait_for(lock, options_.timeout * 3, [&] { return !in_flight_.contains(server); });
    if (in_flight_.contains(server)) return key_error(server + ": still fetching its keys");
    auto it = entries_.find(server);
    if (it != entries_.end()) {
      Entry& e = it->second;
      const bool fresh = e.failed_ms < 0 && now_ms < e.expires_ms;
      if (fresh) {
        if (auto k = e.keys.verify_keys.find(key_id); k != e.keys.verify_keys.end())
          return k->second;
        if (now_ms - e.fetched_ms < kRefetchUnknownKeyMs) {
          return key_error(server + " has no key " + key_id);
        }
      } else if (e.failed_ms >= 0 && now_ms - e.failed_ms < options_.failure_ttl.count()) {
        return e.failure;
      }
    }
    break;
  }
  in_flight_.insert(server);
  ++fetches_;
  lock.unlock();
  auto got = fetch(server, now_ms);
  lock.lock();
  in_flight_.erase(server);
  Entry& e = entries_[server];
  e.fetched_ms = now_ms;
  if (got) {
    e.keys = std::move(got).value();
    e.failed_ms = -1;
    e.expires_ms = std::clamp(e.keys.valid_until_ts, now_ms + kMinCacheMs, now_ms + kMaxCacheMs);
  } else {
    log::warn("policy-server",
              "cannot fetch the keys of " + server + ": " + got.error().to_string());
    e.failure = got.error();
    e.failed_ms = now_ms;
  }
  evict_locked();
  fetched_.notify_all();
  auto again = entries_.find(server);
  if (again == entries_.end()) return key_error(server + ": evicted");
  if (again->second.failed_ms >= 0) return again->second.failure;
  if (auto k = again->second.keys.verify_keys.find(key_id);
      k != again->second.keys.verify_keys.end())
    return k->second;
  return key_error(server + " has no key " + key_id);
}

}  // namespace tyr::engine::policyserver
