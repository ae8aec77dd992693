#pragma once
// The inline veto: Synapse's spam-checker callbacks, forwarded by the synapse-http-antispam
// module as `POST <base_url>/<callback>` with the callback's arguments as one JSON object and
// `Authorization: Bearer <secret>`. Any 2xx allows; any other status with a JSON body rejects,
// and its errcode/error go back to the client.
//
// These requests sit on the homeserver's hot path (every message waits for the answer), and
// the module fails closed unless configured otherwise, so the server answers every request
// within the configured deadline: a decision that takes longer, or a request that arrives while
// Tyr is still loading its state, is allowed and counted.
//
// Decisions come from the same policy index, judge and scorer as the appservice path; the
// server here only parses, authenticates and times. See docs/veto.md.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/config/config.hpp"
#include "engine/core/result.hpp"

namespace tyr::engine::http {
class Server;
}

namespace tyr::engine::veto {

enum class Callback : uint8_t {
  kUserMayJoinRoom,
  kUserMayInvite,
  kCheckEventForSpam,
  kShouldDropFederatedEvent,
  kFederatedUserMayInvite,
  kAcceptMakeJoin,
  kPing,
  kOther,  // any other spam-checker callback: allowed, counted
  kCount
};
std::string_view callback_name(Callback c);
Callback callback_from_name(std::string_view name);

// One parsed callback. Field names of both the Synapse callback arguments and the module's
// (0.5: user/room for joins, inviter/invitee for invites) are accepted.
struct Request {
  Callback callback = Callback::kOther;
  std::string name;         // the callback name as requested
  std::string user, room;   // join: who and where; invite: the invitee and the room
  std::string inviter;      // invites
  bool is_invited = false;  // joins
  nlohmann::json event;     // event callbacks: client-format event with event_id
  std::string ping_id;      // ping
  // Who asks, for the audit trail's mode and the notices: "veto" (the homeserver's module) or
  // "policy_server" (another homeserver, engine/policyserver).
  std::string gate = "veto";
};

// Parses the body of POST .../<callback>. Errors name the field: "user_may_join_room: field
// 'room' must be a room ID".
Result<Request> parse_request(std::string_view callback, std::string_view body);

enum class Outcome : uint8_t { kAllow, kReject, kDrop, kNotReady, kTimeout, kError, kCount };
std::string_view outcome_name(Outcome o);

struct Decision {
  Outcome outcome = Outcome::kAllow;
  std::string errcode = "M_FORBIDDEN";
  std::string error;  // for the client: never names rule internals
};

// What decides. Implemented by the moderation bot (engine/pipeline) over its index and scorer.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual bool veto_ready() const = 0;  // state loaded
  // Joins and invites: may run on any thread.
  virtual Decision decide_membership(const Request& request) = 0;
  // Events: must return within `deadline` (Outcome::kTimeout when it could not).
  virtual Decision decide_event(const Request& request, std::chrono::milliseconds deadline) = 0;
};

struct Response {
  int status = 200;
  std::string body = "{}";
};

struct Stats {
  std::array<std::array<std::atomic<uint64_t>, static_cast<size_t>(Outcome::kCount)>,
             static_cast<size_t>(Callback::kCount)>
      decisions{};
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> bad_requests{0};
  uint64_t count(Callback c, Outcome o) const {
    return decisions[static_cast<size_t>(c)][static_cast<size_t>(o)].load(
        std::memory_order_relaxed);
  }
};

class Server {
 public:
  Server(const VetoConfig& config, Backend& backend);
  ~Server();

  // Pure request handling (no sockets): used by the HTTP server and by unit tests. `path` is
  // the request path; callbacks are served at /_tyr/veto/<callback>.
  Response handle(std::string_view method, std::string_view path, std::string_view authorization,
                  std::string_view body);

  bool start();  // binds config.bind_address:port; false (with a log line) when it cannot
  void stop();
  uint16_t port() const { return bound_port_; }
  const Stats& stats() const { return stats_; }

  static constexpr std::string_view kPathPrefix = "/_tyr/veto/";
  static constexpr size_t kMaxBodyBytes = 1024 * 1024;
  static constexpr size_t kWorkerThreads = 32;

 private:
  // The path, method and secret, before any body is read: an answer refuses the request.
  std::optional<Response> screen(std::string_view method, std::string_view path,
                                 std::string_view authorization);
  Response decide(const Request& request);

  const VetoConfig& config_;
  Backend& backend_;
  Stats stats_;
  std::unique_ptr<http::Server> http_;
  uint16_t bound_port_ = 0;
};

// The homeserver.yaml `modules:` entry that points synapse-http-antispam at this listener.
std::string synapse_module_yaml(const VetoConfig& config, const std::string& base_url);

}  // namespace tyr::engine::veto
