#pragma once
// Every metric Tyr exports, declared in one place (docs/metrics.md describes each). The process-
// wide instance is tyr_metrics(); hot paths update its members directly:
//
//   auto& m = metrics::tyr_metrics();
//   m.events_received.with(type).inc();                 // unknown types count as "other"
//   metrics::ScopedTimer t(m.veto_duration.with("user_may_invite"));
//   m.outbox_depth.set_callback([&store] { return double(store.outbox_size()); });
//
// Label values are bounded (see each member); never put a user, room or event ID in one.

#include <string_view>

#include "engine/metrics/metrics.hpp"

namespace tyr::engine::metrics {

// The `mode` label of hits: an enforced rule acted; a shadow one only says it would have.
inline constexpr std::string_view kEnforced = "enforced";
inline constexpr std::string_view kShadow = "shadow";
inline constexpr std::string_view mode(bool shadow) { return shadow ? kShadow : kEnforced; }

// The `result` of an action that succeeded (failures carry the Matrix errcode instead).
inline constexpr std::string_view kOk = "ok";

// The `list` label for a policy list: its shortcode, else the alias it was watched by, else the
// feed id ("feed:<name>"); a list known only by room ID is "unnamed" (room IDs are not labels).
std::string_view list_label(std::string_view shortcode, std::string_view alias,
                            std::string_view id);

struct TyrMetrics {
  TyrMetrics();
  TyrMetrics(const TyrMetrics&) = delete;
  TyrMetrics& operator=(const TyrMetrics&) = delete;

  Registry registry;  // first: every reference below points into it

  // Appservice intake (appservice_server.cpp).
  Counter& transactions_received;       // each transaction stored or found already stored
  Counter& transactions_deduplicated;   // retries of a txnId already committed
  Family<Counter, 1>& events_received;  // {type}: known m.* types, else "other"
  Counter& events_deduplicated;         // events already in `seen`
  Counter& events_invalid;              // entries without an event_id, skipped
  Counter& appservice_auth_failures;    // requests with a missing or wrong hs_token
  Counter& transaction_gaps;            // a txnId skipped numbers: catch-up from history
  Counter& events_recovered;            // read back from room history, never received
  Counter& notices_suppressed;          // unsolicited notices past the per-minute budget

  // Decisions (pipeline).
  Family<Counter, 1>& verdicts;         // {action}: allow|notify|redact|kick|ban
  Family<Counter, 2>& rule_hits;        // {rule (capped 200), mode}
  Family<Counter, 2>& list_matches;     // {list (capped 200, see list_label), mode}
  Family<Counter, 2>& protection_hits;  // {protection (capped 100), mode}
  Counter& events_failed;               // handling threw; recorded under dead/<seq>
  // {worker}: pipeline|executor|reports|feeds. An item (event, action, abuse report, feed poll)
  // whose handling threw unexpectedly; it was set aside and the worker went on.
  Family<Counter, 1>& poisoned_items;
  Histogram& event_verdict_duration;  // event taken from the inbox → verdict
  // Examples the classifier learned, {source}: redaction|ban|report|command|unredacted|import.
  Family<Counter, 1>& classifier_learned;

  // Synchronous vetoes from the homeserver module.
  Family<Counter, 2>& vetoes;           // {callback, outcome}
  Family<Histogram, 1>& veto_duration;  // {callback}

  // Policy server (MSC4284): other homeservers asking Tyr to sign events.
  Family<Counter, 1>& policy_sign_requests;  // {outcome}, see policyserver::outcome_name
  Histogram& policy_sign_duration;           // request read → answer ready

  // Queues and actions (executor).
  Gauge& inbox_depth;
  Gauge& outbox_depth;
  Family<Counter, 2>& actions;  // {kind (capped 48), result: "ok" or errcode (capped 32)}
  Family<Histogram, 1>& homeserver_request_duration;  // {endpoint}: one HTTP attempt

  // Loaded policy.
  Gauge& rules_loaded;
  Family<Gauge, 1>& list_entries;                 // {kind}: user|room|server
  Family<Gauge, 1>& feed_last_success_timestamp;  // {feed (capped 64)}: Unix seconds

  // HTTP listeners (engine/http/server.cpp).
  Family<Gauge, 1>& http_connections;         // {listener}: open now
  Family<Counter, 1>& http_connections_shed;  // {listener}: closed to make room
  Family<Counter, 2>& http_rejected;          // {listener, reason}: refused by the server

  // Build and process.
  Family<Gauge, 1>& build_info;  // {version} = 1
  Gauge& process_start_time;
  Gauge& process_resident_memory;
};

// The process-wide metrics, created on first use (thread-safe).
TyrMetrics& tyr_metrics();

}  // namespace tyr::engine::metrics
