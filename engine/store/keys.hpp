#pragma once
// Key spaces of the `state` column family (engine/store/store.hpp): small durable state, each
// kind of record under its own prefix. Every key is "<prefix><rest>"; a prefix never starts
// another (a scan of one sees none of the others). Fields inside a key are joined with kSep,
// which no room ID, user ID, event type or state key Tyr keeps contains.

#include <string_view>

namespace tyr::engine::state_keys {

inline constexpr char kSep = '\x1f';

// Rooms Tyr protects. "room/<room_id>" -> JSON {"added_by", "added_ts", "alias"?, "members"?}
// (who added it and when, the alias it was added by, the member count of the last sweep).
inline constexpr std::string_view kRoom = "room/";

// Entities no policy list makes Tyr act on, besides the config's policy.allow.
// "allow/<entity>" -> decimal ms when allowlisted; written and removed by management commands.
inline constexpr std::string_view kAllow = "allow/";

// Bans Tyr made because of a policy rule. "ban/<room>\x1f<user>" -> JSON {"list", "state_key",
// "ts"}: which rule a ban came from, so that removing the rule can lift exactly its bans.
inline constexpr std::string_view kBan = "ban/";

// Reverse index of kBan by rule. "banrule/<list>\x1f<state_key>\x1f<room>\x1f<user>" -> "".
// Written and deleted in the same batch as the kBan key it points at.
inline constexpr std::string_view kBanRule = "banrule/";

// Watched policy lists. "list/<list_id>" -> JSON of the WatchedList (policy rooms only; feeds
// come from the config).
inline constexpr std::string_view kList = "list/";

// Policy rule state events of watched lists. "pstate/<list_id>\x1f<type>\x1f<state_key>" ->
// the state event JSON. Rebuilds the policy index at start; removed with the rule or the list.
inline constexpr std::string_view kPolicyState = "pstate/";

// The list `ban`, `unban` and `takedown` write to when none is named (`lists default`).
// "defaultlist" -> the list's room ID.
inline constexpr std::string_view kDefaultList = "defaultlist";

// HTTP feeds. "feed/<name>" -> JSON of the FeedState (validators, last good rules), so that a
// restart serves the last good contents without fetching.
inline constexpr std::string_view kFeed = "feed/";

// Events the pipeline could not process. "dead/<inbox key>" -> the event JSON, set aside in
// the batch that takes it off the inbox, never retried.
inline constexpr std::string_view kDeadEvent = "dead/";

// Homeserver actions that failed for good. "failed/<outbox key>" -> JSON {"action", "error"}.
inline constexpr std::string_view kFailedAction = "failed/";

// Abuse reports (engine/pipeline/report_worker.hpp).
// "reports/last" -> decimal id of the highest report handled or set aside.
inline constexpr std::string_view kReportsLast = "reports/last";
// "report/<id>" -> JSON of an unanswered report {"room_id", "event_id", "sender", "reporter",
// "reason"}; removed when an operator answers it.
inline constexpr std::string_view kReport = "report/";
// "reported/<user_id>" -> decimal number of reports ever made against the user.
inline constexpr std::string_view kReported = "reported/";
// "reportcount/<event_id>" -> decimal number of distinct trusted reporters of the event.
inline constexpr std::string_view kReportCount = "reportcount/";
// "reporter/<event_id>/<user_id>" -> id of that trusted reporter's first report of the event.
inline constexpr std::string_view kReporter = "reporter/";
// "poisoned/report/<id>" -> JSON {"report": <admin API entry>, "error": <what>} for a report
// whose handling threw.
inline constexpr std::string_view kPoisonedReport = "poisoned/report/";

// Join rules Tyr raised. "joinrule/<room_id>" -> JSON content of the m.room.join_rules event in
// force before the first raise, restored (and deleted) when the protection lowers it again.
inline constexpr std::string_view kJoinRule = "joinrule/";

// Protections. "protections/settings" -> JSON of the per-protection, per-room settings
// (engine/protection/settings.hpp); "protections/state" -> JSON of the protections' saved
// runtime state.
inline constexpr std::string_view kProtectionSettings = "protections/settings";
inline constexpr std::string_view kProtectionState = "protections/state";

// The classifier (engine/classifier/classifier.hpp).
// "classifier/ex/<8-byte big-endian seq>" -> a learned example: a JSON line {"event_id", "room",
// "source", "label": "spam"|"ham", "undo"?: seq taken back, "ts"} then the message's feature
// hashes, 8 bytes little-endian each (never its text). Pruned oldest first.
inline constexpr std::string_view kClassifierExample = "classifier/ex/";
// "classifier/id/<event_id>" -> decimal seq of the example learned from that event (removed
// when it is taken back or its record pruned).
inline constexpr std::string_view kClassifierId = "classifier/id/";
// "classifier/model/<room_id, or nothing for the one model>" -> 8-byte big-endian seq of the last
// example it includes, then Model::serialize().
inline constexpr std::string_view kClassifierModel = "classifier/model/";

}  // namespace tyr::engine::state_keys
