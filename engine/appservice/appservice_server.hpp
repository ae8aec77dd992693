#pragma once
// The appservice API (spec v1) that the homeserver calls: transactions, ping, user and alias
// queries. Every request must carry the hs_token. A transaction is committed to the store
// before 200 is returned; processing happens later on the pipeline worker.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine/config/config.hpp"
#include "engine/core/result.hpp"
#include "engine/store/store.hpp"

namespace tyr::engine::http {
class Server;
}

namespace tyr::engine {

struct AppserviceRequest {
  std::string method;
  std::string path;           // percent-decoded path, without query (as httplib gives it)
  std::string authorization;  // Authorization header, may be empty
  std::multimap<std::string, std::string> query;
  std::string body;
};

struct AppserviceResponse {
  int status = 200;
  std::string body = "{}";
};

struct AppserviceStats {
  std::atomic<uint64_t> transactions{0};
  std::atomic<uint64_t> transactions_retried{0};
  std::atomic<uint64_t> events_accepted{0};
  std::atomic<uint64_t> events_duplicate{0};
  std::atomic<uint64_t> events_invalid{0};
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> pings{0};
};

class AppserviceServer {
 public:
  struct Hooks {
    std::function<void()> on_events_accepted;  // wake the pipeline
    // Called for GET /users/{id} inside Tyr's namespace; returns true once the user exists.
    std::function<bool(const std::string& user_id)> provision_user;
    // A transaction ID skipped one or more numbers (Synapse numbers them 1, 2, 3, …): the
    // homeserver may have dropped a transaction. `last_ms` is when the one before arrived.
    std::function<void(int64_t last_ms, const std::string& txn_id)> on_txn_gap;
    // Every stored transaction, after its commit. `resent`: a txnId Tyr already stored, or a
    // number below the last one; the homeserver is replaying what it thought undelivered, so
    // it is recovering the appservice (and may strand the transaction it makes as it ends).
    std::function<void(bool resent)> on_transaction;
  };

  AppserviceServer(const Config& config, Store& store, Hooks hooks);
  ~AppserviceServer();

  // Pure request handling (no sockets): used by the HTTP server and by unit tests.
  AppserviceResponse handle(const AppserviceRequest& request);

  // Binds and serves on config.appservice.{bind_address,port} in background threads
  // (engine/http/server.hpp: a request without a valid hs_token is refused before its body is
  // read; bodies are capped at appservice.max_body_bytes).
  // Returns false (with a log line) when the address cannot be bound.
  bool start();
  void stop();
  uint16_t port() const { return bound_port_; }
  const AppserviceStats& stats() const { return stats_; }

 private:
  AppserviceResponse handle_transaction(const std::string& txn_id, const std::string& body);
  // Returns whether the transaction is a resend (see Hooks::on_transaction).
  bool note_txn_number(const std::string& txn_id, bool retried);
  AppserviceResponse check_auth(const AppserviceRequest& request) const;
  // check_auth, with a refusal counted and logged.
  std::optional<AppserviceResponse> refuse_unauthorised(const AppserviceRequest& request);
  bool is_own_user(std::string_view user_id) const;

  const Config& config_;
  Store& store_;
  Hooks hooks_;
  AppserviceStats stats_;
  std::mutex txn_mu_;  // the last numeric transaction ID seen and when (gap detection)
  uint64_t last_txn_num_ = 0;
  // How the homeserver numbers transactions, as seen so far (note_txn_number).
  enum class Numbering : uint8_t { kUnknown, kSequential, kOpaque };
  Numbering numbering_ = Numbering::kUnknown;
  // No sequence of transactions reaches 10^12; Unix times in ms, µs or ns all do.
  static constexpr uint64_t kTimestampLikeTxn = 1'000'000'000'000ULL;
  int64_t last_txn_ms_ = 0;
  std::unique_ptr<http::Server> http_;
  uint16_t bound_port_ = 0;
};

// Deepest nesting of an event's JSON (the event object is level 1) that Tyr accepts. Python's
// json, which Synapse reads client and federation JSON with, refuses nesting beyond its
// recursion limit (1000 by default), so no Synapse event comes near this; a deeper one would
// overflow the stack of the recursive code that handles JSON (serialising, copying).
inline constexpr size_t kMaxEventDepth = 1024;

// A PUT /transactions/{txnId} body as the store takes it: one slot per entry of `events`, in
// order. An entry that is not an object with a non-empty string `event_id`, or that nests
// deeper than kMaxEventDepth, has an empty ID and empty JSON: it is skipped, not rejected
// (rejecting would block the homeserver's queue), and `skipped` says why.
struct TransactionBody {
  std::vector<std::string> event_ids;
  std::vector<std::string> event_json;                  // each event re-serialised compactly
  std::vector<std::pair<size_t, std::string>> skipped;  // entry index, reason
};

// Errors are the 400 answers: M_NOT_JSON when the body is not a JSON object, M_BAD_JSON when it
// has no `events` array.
Result<TransactionBody> parse_transaction_body(std::string_view body);

}  // namespace tyr::engine
