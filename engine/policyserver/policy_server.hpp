#pragma once
// Tyr as a room's policy server (MSC4284, `m.room.policy`, in the spec since v1.18). A room whose
// m.room.policy names Tyr's homeserver (`via`) and Tyr's policy key makes every other server in
// it ask, before accepting an event, `POST https://<via>/_matrix/policy/v1/sign` with the full
// PDU. The homeserver's reverse proxy routes /_matrix/policy/ to this listener. Tyr answers:
//   - a signature of the redacted event by its policy key (`ed25519:policy_server`): accepted;
//   - 400 M_FORBIDDEN with a reason: refused (a local sender on the asking server gets the
//     error, a federated event is soft-failed);
//   - 404 M_NOT_FOUND for a room Tyr does not protect, 401 for a request whose X-Matrix header
//     does not verify against the calling server's keys, 400 for a malformed PDU.
// Decisions come from the same judge and scorer as the appservice path and the inline veto
// (Backend, implemented by the bot); each is remembered per event ID, so a retry gets the same
// answer without being scored twice. See docs/policy-server.md.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/config/config.hpp"
#include "engine/core/result.hpp"
#include "engine/federation/ed25519.hpp"
#include "engine/policyserver/server_keys.hpp"

namespace tyr::engine::http {
class Server;
}

namespace tyr::engine::policyserver {

// The key ID Synapse verifies policy signatures with (synapse/handlers/room_policy.py).
inline constexpr std::string_view kKeyVersion = "policy_server";
inline constexpr std::string_view kSignPath = "/_matrix/policy/v1/sign";
inline constexpr std::string_view kUnstableSignPath =
    "/_matrix/policy/unstable/org.matrix.msc4284/sign";

enum class Outcome : uint8_t {
  kSigned,
  kRefused,
  kSignedLoading,   // Tyr still loading: signed, as policy_server.while_loading says
  kRefusedLoading,  // … or refused
  kSignedTimeout,   // no decision within the deadline: signed, as on_timeout says
  kRefusedTimeout,
  kNotFound,      // a room Tyr does not protect
  kUnauthorized,  // X-Matrix missing, malformed or not verified
  kBadRequest,    // method, path, PDU or content hash
  kError,         // Tyr's own failure (room version unknown to it, signing)
  kCount
};
std::string_view outcome_name(Outcome o);

// What the judge said about one event.
struct Judgement {
  bool refuse = false;
  bool timed_out = false;  // no decision within the deadline
  std::string reason;      // for the sender when refused; never names rule internals
};

// What decides. Implemented by the bot (engine/pipeline/policy_decisions.cpp).
class Backend {
 public:
  virtual ~Backend() = default;
  virtual bool policy_ready() const = 0;  // state loaded
  virtual bool protects_room(const std::string& room_id) const = 0;
  // The room's version, from its create event (cached by the backend).
  virtual Result<std::string> room_version(const std::string& room_id) = 0;
  // `event` is the client form of the PDU (with event_id); `origin` the asking server.
  virtual Judgement judge_event(const nlohmann::json& event, const std::string& origin,
                                std::chrono::milliseconds deadline) = 0;
};

struct Response {
  int status = 200;
  std::string body = "{}";
};

struct Stats {
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Outcome::kCount)> outcomes{};
  uint64_t count(Outcome o) const {
    return outcomes[static_cast<size_t>(o)].load(std::memory_order_relaxed);
  }
};

// Signed and refused events of one room, for `!tyr policyserver status`.
struct RoomCounts {
  uint64_t signed_events = 0;
  uint64_t refused_events = 0;
};

// The policy key in `path` (Synapse's key file format, version "policy_server"); created on
// first use with mode 0600. Its seed is never logged.
Result<federation::SigningKey> load_or_create_key(const std::filesystem::path& path);

// The m.room.policy content that names this server: {"via", "public_keys": {"ed25519"}}.
nlohmann::json policy_event_content(std::string_view server_name,
                                    const federation::SigningKey& key);

class Server {
 public:
  Server(const PolicyServerConfig& config, federation::SigningKey key, Backend& backend,
         ServerKeyCache& keys);
  ~Server();

  // Pure request handling (no sockets): used by the HTTP listener and by unit tests. `uri` is
  // the request target as sent (the X-Matrix signature covers it).
  Response handle(std::string_view method, std::string_view uri, std::string_view authorization,
                  std::string_view body);

  bool start();  // binds config.bind_address:port; false (with a log line) when it cannot
  void stop();
  uint16_t port() const { return bound_port_; }
  const Stats& stats() const { return stats_; }
  std::map<std::string, RoomCounts> room_counts() const;
  const federation::SigningKey& key() const { return key_; }
  const std::string& server_name() const { return config_.server_name; }

  static constexpr size_t kMaxBodyBytes = 96 * 1024;  // a PDU is at most 64 KiB canonical
  static constexpr size_t kMaxRemembered = 65'536;    // verdicts kept by event ID
  static constexpr size_t kMaxRooms = 10'000;         // rooms counted in room_counts()

 private:
  struct Verdict {
    bool refused = false;
    std::string signature;  // when signed
    std::string reason;     // when refused
  };
  Response answer(Outcome outcome, const std::string& room, const Verdict& v);
  Response error(Outcome outcome, int status, std::string_view errcode, std::string_view message);
  Response decide(std::string_view method, std::string_view uri, std::string_view authorization,
                  std::string_view body);
  std::optional<Verdict> remembered(const std::string& event_id);
  void remember(const std::string& event_id, const Verdict& v);

  const PolicyServerConfig& config_;
  federation::SigningKey key_;
  Backend& backend_;
  ServerKeyCache& keys_;
  Stats stats_;
  mutable std::mutex mu_;
  std::map<std::string, Verdict> verdicts_;  // event ID -> verdict (guarded by mu_)
  std::deque<std::string> verdict_order_;
  std::map<std::string, RoomCounts> rooms_;
  std::unique_ptr<http::Server> http_;
  uint16_t bound_port_ = 0;
};

}  // namespace tyr::engine::policyserver
