#pragma once
// Client for the homeserver's client-server API, authenticated with the appservice's as_token.
// Every call may masquerade as a user in Tyr's namespace (`as_user`, sent as ?user_id=).
// Retries transport failures, 5xx and M_LIMIT_EXCEEDED with capped exponential backoff,
// honouring Retry-After / retry_after_ms. Errors keep errcode, message, status, retry_after_ms.
// Thread-safe: calls may run concurrently from several threads.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/result.hpp"

namespace tyr::engine {

struct ClientOptions {
  std::string base_url;  // "http://127.0.0.1:8008"
  std::string as_token;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  int max_attempts = 5;  // total tries for retryable failures
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{30000};
  // Longest wait accepted from a server's retry_after before giving up with the error.
  std::chrono::milliseconds max_retry_after{120000};
};

struct HttpRequest {
  std::string method;  // GET, POST, PUT, DELETE
  std::string path;  // already percent-encoded, e.g. "/_matrix/client/v3/rooms/%21a%3Ahs/send/…"
  std::vector<std::pair<std::string, std::string>> query;  // unencoded; encoded by the client
  std::optional<nlohmann::json> body;
  std::string as_user;       // masquerade (?user_id=); empty = the appservice sender
  std::string bearer_token;  // overrides as_token when non-empty (e.g. an admin user's token)
};

struct ResolvedAlias {
  std::string room_id;
  std::vector<std::string> servers;
};

class HomeserverClient {
 public:
  explicit HomeserverClient(ClientOptions options);
  ~HomeserverClient();
  HomeserverClient(const HomeserverClient&) = delete;
  HomeserverClient& operator=(const HomeserverClient&) = delete;

  // Raw call with retries. A 2xx answer returns the JSON body ({} when empty);
  // anything else returns an Error with errcode (M_UNKNOWN if absent), message, status.
  // Transport failures give code "TYR_NETWORK" with status 0.
  Result<nlohmann::json> call(const HttpRequest& request);

  // Percent-encodes one path segment ("!room:hs" -> "%21room%3Ahs").
  static std::string encode_segment(std::string_view segment);

  Result<std::string> whoami(const std::string& as_user = {});
  // Registers a user in the appservice namespace (m.login.application_service);
  // an existing user (M_USER_IN_USE) is success.
  Result<void> register_appservice_user(const std::string& localpart);
  // POST /_matrix/client/v1/appservice/{id}/ping; returns duration_ms.
  Result<int64_t> ping_appservice(const std::string& appservice_id,
                                  const std::string& transaction_id = {});
  // The homeserver's software, "<name> <version>" ("Synapse 1.163.2", "Dendrite 0.13.8"), from
  // GET /_matrix/federation/v1/version on the client URL (a monolith serves it there; a proxy
  // that routes only the client API, or disabled federation, makes it an error).
  Result<std::string> server_software();

  Result<std::string> join(const std::string& room_id_or_alias,
                           const std::vector<std::string>& via = {}, const std::string& reason = {},
                           const std::string& as_user = {});
  Result<void> leave(const std::string& room_id, const std::string& reason = {},
                     const std::string& as_user = {});
  Result<ResolvedAlias> resolve_alias(const std::string& alias);
  Result<std::string> create_room(const nlohmann::json& body, const std::string& as_user = {});
  Result<void> invite(const std::string& room_id, const std::string& user_id,
                      const std::string& as_user = {});

  Result<nlohmann::json> room_state(const std::string& room_id);  // array of events
  // The same answer's body as received, unparsed, for a reader that streams it (a large policy
  // list's DOM would take ten times its text). An empty body is room_state's error; a body the
  // reader finds not JSON or not an array takes room_state_error.
  struct StateText {
    int status = 0;
    std::string body;
  };
  Result<StateText> room_state_text(const std::string& room_id);
  // The error room_state gives for this answer when its body is not JSON (`not_array` false)
  // or is JSON but not an array.
  static Error room_state_error(const std::string& room_id, const StateText& answer,
                                bool not_array);
  // Content of one state event; 404 gives M_NOT_FOUND.
  Result<nlohmann::json> state_event(const std::string& room_id, const std::string& type,
                                     const std::string& state_key = {});
  Result<nlohmann::json> joined_members(const std::string& room_id);  // {"joined": {...}}
  // GET /members?membership=…; returns the chunk array of member events.
  Result<nlohmann::json> members(const std::string& room_id, const std::string& membership = {});
  // GET /messages; returns the whole answer {start, end?, chunk}.
  Result<nlohmann::json> messages(const std::string& room_id, const std::string& dir,
                                  const std::string& from = {}, int limit = 100,
                                  const std::optional<nlohmann::json>& filter = std::nullopt);

  // Sends are idempotent per txn_id on the homeserver: reuse the same txn_id when retrying.
  Result<std::string> send_event(const std::string& room_id, const std::string& type,
                                 const nlohmann::json& content, const std::string& txn_id,
                                 const std::string& as_user = {});
  Result<std::string> send_state(const std::string& room_id, const std::string& type,
                                 const std::string& state_key, const nlohmann::json& content,
                                 const std::string& as_user = {});
  Result<std::string> redact(const std::string& room_id, const std::string& event_id,
                             const std::string& txn_id, const std::string& reason = {},
                             const std::string& as_user = {});
  Result<void> kick(const std::string& room_id, const std::string& user_id,
                    const std::string& reason = {});
  Result<void> ban(const std::string& room_id, const std::string& user_id,
                   const std::string& reason = {});
  Result<void> unban(const std::string& room_id, const std::string& user_id,
                     const std::string& reason = {});

  // Test hook: replaces the sleep used between retries (default std::this_thread::sleep_for).
  void set_sleep_for_testing(std::function<void(std::chrono::milliseconds)> sleep);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tyr::engine
