#pragma once
// Other homeservers' signing keys, as a policy server needs them to check the X-Matrix header
// of each request: fetched from the server itself (GET /_matrix/key/v2/server, self-signature
// verified), cached until the answer's valid_until_ts (between 5 minutes and a day), refetched
// when a request names a key the cache lacks (a rotation), and never fetched twice at once for
// one server. Failures are remembered for a while, so a caller naming a server that does not
// answer cannot make Tyr fetch for every request.
//
// Finding a server (server discovery): a base URL from the config's server_urls; else an IP
// literal or a name with an explicit port is used as it is; else
// https://<name>/.well-known/matrix/server names the delegated host (port 8448 by default); else
// <name>:8448. SRV records are not consulted.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "engine/core/result.hpp"
#include "engine/federation/x_matrix.hpp"

namespace tyr::engine::policyserver {

struct KeyFetchOptions {
  std::chrono::milliseconds timeout{5000};  // each HTTP request
  bool verify_tls = true;
  std::map<std::string, std::string> server_urls;  // server name -> base URL
  size_t max_servers = 4096;                       // cached entries; the oldest goes first
  std::chrono::milliseconds failure_ttl{30'000};   // a failed fetch is not retried sooner
};

// GET `url` (absolute) → its body, at most `max_bytes`; an error for any status but 200.
using HttpGet = std::function<Result<std::string>(const std::string& url, size_t max_bytes)>;

// The real HttpGet: cpp-httplib with OpenSSL, bounded by `options`.
HttpGet https_getter(const KeyFetchOptions& options);

class ServerKeyCache {
 public:
  explicit ServerKeyCache(KeyFetchOptions options, HttpGet get = {});

  // `server`'s current public key (32 raw bytes) for `key_id`. May block for a fetch (bounded by
  // the timeout); thread-safe.
  Result<std::string> key(const std::string& server, const std::string& key_id, int64_t now_ms);

  // Where `server` is reached: "https://host:port", following .well-known when needed.
  Result<std::string> base_url(const std::string& server);

  size_t fetches() const;  // HTTP fetches of key answers so far (tests, status)

 private:
  struct Entry {
    federation::ServerKeys keys;
    int64_t fetched_ms = 0;
    int64_t expires_ms = 0;  // keys usable until
    Error failure;           // the last fetch's error, when it failed
    int64_t failed_ms = -1;  // when it failed; -1 when the last fetch worked
  };
  Result<federation::ServerKeys> fetch(const std::string& server, int64_t now_ms);
  void evict_locked();

  KeyFetchOptions options_;
  HttpGet get_;
  mutable std::mutex mu_;
  std::condition_variable fetched_;
  std::map<std::string, Entry> entries_;
  std::set<std::string> in_flight_;
  size_t fetches_ = 0;
};

}  // namespace tyr::engine::policyserver
