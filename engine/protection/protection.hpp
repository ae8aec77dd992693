#pragma once
// The protection plugin API. A protection is code that watches events, membership changes,
// policy changes and a timer, and answers only through a Sink: scored hits (symbols, folded
// into the same score/threshold/explanation as custom rules) and requests (a notice, or
// one of Tyr's actions: redact, kick, ban, join rules) that the executor fulfils, or a recording
// twin records in shadow/dry-run mode. A protection never calls the homeserver.
//
// Each protection is described by a constexpr ProtectionDescriptor (name, description, config
// schema, symbols, power needed, factory) listed once in plugins/registry.cpp. One instance per
// protection serves every room; per-room configuration arrives with each call. Instance state
// (counters, windows) must be bounded (see bounded.hpp) and serialisable.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/actions/action.hpp"
#include "engine/core/result.hpp"
#include "engine/core/verdict.hpp"
#include "engine/protection/schema.hpp"

namespace tyr::engine::protection {

// A symbol a protection emits and its default score (rules scale: notify at 3, redact at 6).
struct SymbolSpec {
  std::string_view name;  // upper-case, unique within the protection: "FLOOD"
  double score;
  std::string_view doc;
};

// Powers the bot needs in a room for the protection's requests to succeed (bit set).
enum Power : uint8_t {
  kPowerNone = 0,
  kPowerRedact = 1,
  kPowerKick = 2,
  kPowerBan = 4,
  kPowerStateJoinRules = 8
};
std::string power_text(uint8_t powers);  // "redact, kick" or "none"

// What the caller knows about a message event. The suite fills `message` from the rules'
// feature extraction; protections never re-parse the event.
using Moderator = tyr::MemberFacts;

struct MessageFacts {
  std::string_view msgtype;
  std::string_view body;
  std::string_view body_lower;  // ASCII lower-cased body
  std::string_view urls;        // '\n'-separated, deduplicated (body and formatted_body hrefs)
  std::string_view domains;     // hosts of those URLs, lower case, '\n'-separated
  uint32_t links = 0;
  uint32_t mentions = 0;  // max(m.mentions.user_ids, distinct matrix.to pills)
  bool media = false;     // m.image/m.video/m.audio/m.file or m.sticker
};

struct EventContext {
  // Reads room_id, sender and event_id from `event` (views into it; it must outlive the context).
  EventContext(const nlohmann::json& event, int64_t now_ms);
  EventContext(const nlohmann::json&& event, int64_t now_ms) = delete;  // would dangle

  const nlohmann::json& event;  // client-format event
  std::string_view room_id, sender, event_id;
  int64_t now_ms = 0;
  std::optional<int64_t> member_since_ms;  // when the sender joined this room, if known
  bool power_known = false;                // sender_power comes from the room's power levels
  int sender_power = 0;                    // the sender's power level in the room
  std::string_view display_name;           // the sender's, if known
  std::span<const Moderator> moderators;   // room moderators (power ≥ kick), if known
  std::span<const Moderator> operators;    // Tyr's operators, if known
  MessageFacts message;                    // filled by the suite
};

struct MembershipContext {
  // Reads room, state_key, sender, membership, displayname, avatar_url and
  // unsigned.prev_content.membership from `event` (views into it).
  MembershipContext(const nlohmann::json& event, int64_t now_ms);
  MembershipContext(const nlohmann::json&& event, int64_t now_ms) = delete;  // would dangle

  const nlohmann::json& event;  // the m.room.member event
  std::string_view room_id;
  std::string_view user_id;          // state_key: whose membership changed
  std::string_view sender;           // who changed it (the inviter for invites)
  std::string_view membership;       // "join", "leave", "invite", "ban", "knock"
  std::string_view prev_membership;  // from unsigned.prev_content, empty when unknown
  std::string_view display_name, avatar_url;
  int64_t now_ms = 0;
  std::span<const Moderator> moderators;
  std::span<const Moderator> operators;
};

// A change of a watched policy list rule (m.policy.rule.*).
struct PolicyChange {
  std::string_view list_room;
  std::string_view kind;  // "user", "server", "room"
  std::string_view entity, recommendation;
  bool removed = false;
  int64_t now_ms = 0;
};

// What a protection asks for. Actions are Tyr's own (engine/actions/action.hpp): a protection
// requests RedactEvent, Kick, Ban, SetJoinRule or RestoreJoinRule, the same structs rules, lists
// and commands queue; a Notify is a word to the moderators about a room. The suite stamps each
// request with the protection's name (and the action's why.protection) and its room's mode.
struct Notify {
  std::string room, text;
  bool operator==(const Notify&) const = default;
};

struct Request {
  std::variant<Notify, engine::actions::Action> what;
  std::string protection;  // filled by the suite
  bool shadow = false;     // filled by the suite: the protection is in shadow mode in the room
  bool operator==(const Request&) const = default;

  const std::string& room() const;
  std::string_view kind() const;  // "notify" or the action's wire name ("kick", "redact_event")
  const engine::actions::Action* action() const {
    return std::get_if<engine::actions::Action>(&what);
  }
  const Notify* notify() const { return std::get_if<Notify>(&what); }
};

// Where a protection puts its conclusions.
class Sink {
 public:
  virtual ~Sink() = default;
  // A hit on the current event: the symbol's room score × `factor`, with the matched text or a
  // description ("12 messages in 10 s") for the explanation.
  virtual void hit(std::string_view symbol, std::string_view match, double factor = 1.0) = 0;
  // Multiplies the event's combined score (new-member grace). Multipliers multiply.
  virtual void scale(double multiplier, std::string_view why) = 0;
  // A word to the moderators about `room` (the management room receives it).
  virtual void notify(std::string room, std::string text) = 0;
  // An action against the homeserver; the protection's name and mode are added by the suite.
  virtual void act(engine::actions::Action action) = 0;
};

// Records everything: the suite's collector, the dry-run twin and the test double.
class RecordingSink : public Sink {
 public:
  struct Emitted {
    std::string symbol, match;
    double factor = 1;
  };
  void hit(std::string_view symbol, std::string_view match, double factor = 1.0) override;
  void scale(double multiplier, std::string_view why) override;
  void notify(std::string room, std::string text) override;
  void act(engine::actions::Action action) override;
  void clear();

  bool has(std::string_view symbol) const;
  bool has_request(std::string_view kind) const;  // "notify" or an action's wire name

  std::vector<Emitted> hits;
  double multiplier = 1.0;
  std::vector<std::string> scale_reasons;
  std::vector<Request> requests;
};

class Protection {
 public:
  virtual ~Protection() = default;
  virtual void on_event(const EventContext&, const ProtectionConfig&, Sink&) {}
  virtual void on_membership(const MembershipContext&, const ProtectionConfig&, Sink&) {}
  virtual void on_policy_change(const PolicyChange&, Sink&) {}
  // Called periodically (the suite's caller decides how often; every few seconds is enough).
  virtual void on_timer(int64_t /*now_ms*/, Sink&) {}
  // State that should survive a restart; null when there is none.
  virtual nlohmann::json save_state() const { return nullptr; }
  // Replaces the state; an error leaves the protection with empty state.
  virtual Result<void> load_state(const nlohmann::json&) { return {}; }
  virtual size_t state_entries() const { return 0; }  // for status lines
};

struct ProtectionDescriptor {
  std::string_view name;  // lower_snake_case, unique in the registry
  std::string_view description;
  std::span<const ConfigKey> config;
  std::span<const SymbolSpec> symbols;
  uint8_t powers = kPowerNone;
  std::unique_ptr<Protection> (*create)() = nullptr;

  const SymbolSpec* symbol(std::string_view s) const;
  const ConfigKey* key(std::string_view k) const;
};

// Checks one list of descriptors: names present, lower_snake_case and unique; each descriptor
// has a factory, valid defaults for every key, unique keys and unique upper-case symbols.
// Errors: "duplicate protection name 'flooding'", "protection x: key 'k': default …".
Result<void> validate_descriptors(std::span<const ProtectionDescriptor* const> list);

}  // namespace tyr::engine::protection
