#pragma once
// Tyr's actions: everything the executor does against the homeserver, one struct per verb.
// Lists, rules, protections, reports and commands all ask for work in this one vocabulary; the
// outbox stores each action in the JSON encoding of codec.hpp (the `kind` names below), which
// is also what older versions of Tyr wrote, so an outbox survives an upgrade.
//
// To add an action: a struct here (with kName, kPriority and kPerRoom), its fields in codec.cpp,
// and a runner (ActionRunner::run overload in engine/pipeline, listed in bot_actions.cpp).
//
// kPerRoom: the action touches only its `room` on the homeserver and, in Tyr, state keyed by
// that room or guarded by a lock, so two of them in different rooms may run at once (the
// executor's lanes). False for everything that spans rooms or changes what other actions see:
// lists and their rules, joining a room, moderators' bulk commands, the admin API, learning.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/store/store.hpp"

namespace tyr::engine::actions {

// Why an enforcement action was taken, kept for the audit trail.
struct Why {
  std::vector<std::string> rules;  // ids of the rules and protection symbols that hit
  std::optional<double> score;     // the verdict's score, when a verdict decided
  std::string protection;          // the protection that asked, when one did
  bool operator==(const Why&) const = default;
};

// A message in a room (the management room, as a reply to `reply_to` when set).
struct Notice {
  static constexpr std::string_view kName = "notice";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = true;
  std::string room, body, reply_to;
  bool operator==(const Notice&) const = default;
};

// Join a room (ID or alias) and start protecting it (`rooms add`).
struct JoinProtect {
  static constexpr std::string_view kName = "join_protect";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = false;
  std::string room, requested_by, reply_to;
  bool operator==(const JoinProtect&) const = default;
};

// Read a protected room's state (power levels, names) into the pipeline's cache.
struct LoadRoomState {
  static constexpr std::string_view kName = "load_room_state";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = true;
  std::string room;
  bool operator==(const LoadRoomState&) const = default;
};

// Read a room's history back to `since` (ms) for events no transaction delivered.
struct CatchUp {
  static constexpr std::string_view kName = "catch_up";
  static constexpr Priority kPriority = Priority::kBackground;
  static constexpr bool kPerRoom = true;
  std::string room;
  int64_t since = 0;
  std::string why;
  bool operator==(const CatchUp&) const = default;
};

// Join a policy list room and read its rules (`lists watch`; quietly on reloads).
struct WatchList {
  static constexpr std::string_view kName = "watch_list";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = false;
  std::string room, reply_to;
  bool quiet = false;
  bool operator==(const WatchList&) const = default;
};

// Create a policy list room Tyr writes (`lists create`).
struct CreateList {
  static constexpr std::string_view kName = "create_list";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = false;
  std::string shortcode, reply_to;
  bool operator==(const CreateList&) const = default;
};

// Write (or, with empty content, remove) a rule in a list Tyr writes.
struct SetRule {
  static constexpr std::string_view kName = "set_rule";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = false;
  std::string list, type, state_key;
  nlohmann::json content = nlohmann::json::object();
  std::string reply_to, summary;  // summary: the reply once written
  bool operator==(const SetRule&) const = default;
};

// Apply every list to a protected room's members.
struct Sweep {
  static constexpr std::string_view kName = "sweep";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = true;
  std::string room;
  bool operator==(const Sweep&) const = default;
};

// Ban a user because a list rule names them (wire name "ban").
struct ListBan {
  static constexpr std::string_view kName = "ban";
  static constexpr Priority kPriority = Priority::kBan;
  static constexpr bool kPerRoom = true;
  std::string room, user, reason, list, state_key;
  std::string rule;     // the rule, described for moderators
  bool shadow = false;  // the list is in shadow mode: record, do not ban
  bool operator==(const ListBan&) const = default;
};

// A list rule was removed: lift the bans it caused, unless another rule still bans.
struct UnbanCheck {
  static constexpr std::string_view kName = "unban_check";
  static constexpr Priority kPriority = Priority::kBan;
  static constexpr bool kPerRoom = false;
  std::string list, state_key;
  bool operator==(const UnbanCheck&) const = default;
};

struct Unban {
  static constexpr std::string_view kName = "unban";
  static constexpr Priority kPriority = Priority::kBan;
  static constexpr bool kPerRoom = true;
  std::string room, user;
  std::string rule;  // why, for the reason and the notice
  bool operator==(const Unban&) const = default;
};

// Recompute and send a protected room's m.room.server_acl.
struct Acl {
  static constexpr std::string_view kName = "acl";
  static constexpr Priority kPriority = Priority::kAcl;
  static constexpr bool kPerRoom = true;
  std::string room;
  bool operator==(const Acl&) const = default;
};

// Redact a user's messages of the last `window_s` seconds in a room.
struct RedactUser {
  static constexpr std::string_view kName = "redact_user";
  static constexpr Priority kPriority = Priority::kRedact;
  static constexpr bool kPerRoom = true;
  std::string room, user;
  int64_t window_s = 86400;
  bool shadow = false;  // record what would be redacted, redact nothing
  bool report = false;  // always report the count (also when nothing was redacted)
  // When set, the one notice of an incident (a kick or ban verdict): posted with the count of
  // messages removed, instead of the plain count.
  std::string notice;
  bool operator==(const RedactUser&) const = default;
};

struct RedactEvent {
  static constexpr std::string_view kName = "redact_event";
  static constexpr Priority kPriority = Priority::kRedact;
  static constexpr bool kPerRoom = true;
  std::string room, event_id, sender, reason;
  Why why;
  bool operator==(const RedactEvent&) const = default;
};

struct Kick {
  static constexpr std::string_view kName = "kick";
  static constexpr Priority kPriority = Priority::kBan;
  static constexpr bool kPerRoom = true;
  std::string room, user, reason;
  Why why;
  bool operator==(const Kick&) const = default;
};

// Ban decided by rules, protections or a moderator's answer to a report (wire name "rule_ban").
struct Ban {
  static constexpr std::string_view kName = "rule_ban";
  static constexpr Priority kPriority = Priority::kBan;
  static constexpr bool kPerRoom = true;
  std::string room, user, reason;
  Why why;
  bool operator==(const Ban&) const = default;
};

// Raise a room's join rule (a protection's lockdown); the rule it replaces is remembered.
struct SetJoinRule {
  static constexpr std::string_view kName = "set_join_rule";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = true;
  std::string room, join_rule = "invite";
  Why why;
  bool operator==(const SetJoinRule&) const = default;
};

// Put back the join rule remembered by SetJoinRule.
struct RestoreJoinRule {
  static constexpr std::string_view kName = "restore_join_rule";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = true;
  std::string room;
  Why why;
  bool operator==(const RestoreJoinRule&) const = default;
};

// Mute a user: a power level just below the room's events_default, so they can send nothing;
// unmute removes that level again (the user falls back to users_default).
struct Mute {
  static constexpr std::string_view kName = "mute";
  static constexpr Priority kPriority = Priority::kBan;
  static constexpr bool kPerRoom = true;
  std::string room, user, reason;
  bool unmute = false;
  Why why;
  bool operator==(const Mute&) const = default;
};

// Read every protected room's power levels and answer with what Tyr can and cannot do (`verify`).
struct Verify {
  static constexpr std::string_view kName = "verify";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = false;
  std::string reply_to;
  bool operator==(const Verify&) const = default;
};

// Act on everyone who joined or spoke in `room` since `since_ms` (`since`): `verb` is kick, ban,
// redact or mute; the executor reads the history and queues one action per user.
struct Since {
  static constexpr std::string_view kName = "since";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = false;
  std::string room;
  int64_t since_ms = 0;
  std::string verb, reason, reply_to;
  bool operator==(const Since&) const = default;
};

// Write a ban rule into `list` (a list Tyr writes) for every user banned in `room` (`import`).
struct ImportBans {
  static constexpr std::string_view kName = "import_bans";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = false;
  std::string room, list, reply_to;
  bool operator==(const ImportBans&) const = default;
};

// The homeserver's admin API on a local user: `op` is suspend, unsuspend or deactivate.
struct AdminUser {
  static constexpr std::string_view kName = "admin_user";
  static constexpr Priority kPriority = Priority::kBan;
  static constexpr bool kPerRoom = false;
  std::string user, op, reason, reply_to;
  bool operator==(const AdminUser&) const = default;
};

// The homeserver's admin API: remove every local member of a room, block it and purge it.
struct ShutdownRoom {
  static constexpr std::string_view kName = "shutdown_room";
  static constexpr Priority kPriority = Priority::kBan;
  static constexpr bool kPerRoom = false;
  std::string room, reason, reply_to;
  bool operator==(const ShutdownRoom&) const = default;
};

// Name Tyr as the room's policy server (m.room.policy with `via` and Tyr's policy key), or
// clear it (`disable`: an empty m.room.policy).
struct SetPolicyServer {
  static constexpr std::string_view kName = "set_policy_server";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = false;
  std::string room;
  bool disable = false;
  std::string via, public_key;  // when enabling: the server name and unpadded base64 key
  std::string reply_to;
  bool operator==(const SetPolicyServer&) const = default;
};

// Teaches the classifier a message it does not remember (older, or seen before a restart):
// fetched from the homeserver and learned as `label` ("spam" or "ham"); `source` is "command"
// or "report". Answered in the management room.
struct Learn {
  static constexpr std::string_view kName = "learn";
  static constexpr Priority kPriority = Priority::kControl;
  static constexpr bool kPerRoom = false;
  std::string room, event_id, label, source;
  std::string reply_to;
  bool operator==(const Learn&) const = default;
};

using Action = std::variant<Notice, JoinProtect, LoadRoomState, CatchUp, WatchList, CreateList,
                            SetRule, Sweep, ListBan, UnbanCheck, Unban, Acl, RedactUser,
                            RedactEvent, Kick, Ban, SetJoinRule, RestoreJoinRule, Mute, Verify,
                            Since, ImportBans, AdminUser, ShutdownRoom, SetPolicyServer, Learn>;

// The wire name of an action ("ban", "redact_event", …) and its default outbox priority.
std::string_view name_of(const Action& action);
Priority priority_of(const Action& action);

// The word the audit trail and notices use: "ban" for both bans, "redact" for RedactEvent,
// otherwise the wire name.
std::string_view verb_of(const Action& action);

// Whether actions of this kind run in their room's lane (kPerRoom); by wire name, false for a
// name no action has.
bool is_per_room(std::string_view kind);

// The room an action concerns; empty for list-wide actions (create_list, unban_check).
const std::string& room_of(const Action& action);
// The user an action is against (a redaction's sender); empty when none.
const std::string& user_of(const Action& action);
// The action's reasons for the audit trail; null for actions that keep none.
Why* why_of(Action& action);

}  // namespace tyr::engine::actions
