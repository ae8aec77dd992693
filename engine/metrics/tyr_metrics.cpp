#include "engine/metrics/tyr_metrics.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/core/version.hpp"

namespace tyr::engine::metrics {

namespace {

// Caps sized for what a deployment plausibly has, with room to spare; past them the series
// fold into "other" instead of growing the scrape without limit.
constexpr size_t kRuleCap = 200;
constexpr size_t kListCap = 200;
constexpr size_t kProtectionCap = 100;
constexpr size_t kFeedCap = 64;
constexpr size_t kActionKindCap = 48;
constexpr size_t kActionResultCap = 32;

// The event types Tyr and its protections care about. The type is chosen by the sender, so
// anything else must fold into "other" rather than become a series.
const std::vector<std::string> kEventTypes = {
    "m.call.invite",
    "m.policy.rule.room",
    "m.policy.rule.server",
    "m.policy.rule.user",
    "m.poll.end",
    "m.poll.response",
    "m.poll.start",
    "m.reaction",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.create",
    "m.room.encrypted",
    "m.room.encryption",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.join_rules",
    "m.room.member",
    "m.room.message",
    "m.room.name",
    "m.room.pinned_events",
    "m.room.power_levels",
    "m.room.redaction",
    "m.room.server_acl",
    "m.room.third_party_invite",
    "m.room.tombstone",
    "m.room.topic",
    "m.space.child",
    "m.space.parent",
    "m.sticker",
};

const std::vector<std::string> kActions = {"allow", "notify", "redact", "kick", "ban"};

const std::vector<std::string> kVetoCallbacks = {"user_may_join_room", "user_may_invite",
                                                 "check_event_for_spam",
                                                 "should_drop_federated_event", "other"};
const std::vector<std::string> kVetoOutcomes = {"allow",     "reject",  "drop",
                                                "not_ready", "timeout", "error"};

// Call kinds of HomeserverClient, not paths: paths embed room and user IDs.
const std::vector<std::string> kEndpoints = {
    "whoami",      "register",   "ping",       "join",        "leave",          "resolve_alias",
    "create_room", "invite",     "room_state", "state_event", "joined_members", "members",
    "messages",    "send_event", "send_state", "redact",      "kick",           "ban",
    "unban",       "admin",      "other"};

const std::vector<std::string> kEntityKinds = {"user", "room", "server"};

// Why an HTTP listener refused a request itself (engine/http/server.cpp).
const std::vector<std::string> kHttpRejections = {
    "header_too_large", "too_many_headers", "body_too_large", "length_required",
    "deadline",         "malformed",        "screened",       "busy"};
constexpr size_t kListenerCap = 8;

const std::vector<std::string> kPolicyOutcomes = {
    "signed",          "refused",   "signed_loading", "refused_loading", "signed_timeout",
    "refused_timeout", "not_found", "unauthorized",   "bad_request",     "error"};

const std::vector<std::string> kWorkers = {"pipeline", "executor", "reports", "feeds"};

// Event → verdict is microseconds for a cached ban-list hit and up to a second for a cold regex
// pack on a huge message; vetoes answer the homeserver synchronously and share the range.
const std::vector<double> kVerdictBuckets = {5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4,
                                             5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025,
                                             0.05, 0.1,  0.25,   0.5,  1.0};
// Homeserver calls: loopback milliseconds up to a struggling server's tens of seconds.
const std::vector<double> kHomeserverBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                0.5,   1.0,    2.5,   5.0,  10.0,  30.0, 60.0};

// Resident set size from /proc/self/statm (second field, in pages).
double resident_memory_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) throw std::runtime_error("cannot read /proc/self/statm");
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Process start in Unix seconds: boot time (/proc/stat btime) plus the start offset in clock
// ticks (field 22 of /proc/self/stat). Falls back to now when /proc is unreadable, which is
// close enough since tyr_metrics() is first called at start-up.
double process_start_seconds() {
  using namespace std::chrono;
  const double now = duration<double>(system_clock::now().time_since_epoch()).count();
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos) return now;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
  }
  uint64_t start_ticks = 0;
  try {
    start_ticks = std::stoull(field);
  } catch (...) {
    return now;
  }
  std::ifstream proc_stat("/proc/stat");
  std::string key;
  uint64_t btime = 0;
  while (proc_stat >> key) {
    if (key == "btime") {
      proc_stat >> btime;
      break;
    }
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  if (btime == 0 || ticks <= 0) return now;
  return static_cast<double>(btime) + static_cast<double>(start_ticks) / static_cast<double>(ticks);
}

}  // namespace

std::string_view list_label(std::string_view shortcode, std::string_view alias,
                            std::string_view id) {
  if (!shortcode.empty()) return shortcode;
  if (!alias.empty()) return alias;
  if (id.substr(0, 5) == "feed:") return id;
  return "unnamed";
}

TyrMetrics::TyrMetrics()
    : transactions_received(registry.counter(
          "tyr_transactions_received_total",
          "Appservice transactions accepted from the homeserver (stored, or already stored).")),
      transactions_deduplicated(
          registry.counter("tyr_transactions_deduplicated_total",
                           "Transactions whose txnId was already committed: homeserver retries.")),
      events_received(registry.counter_family("tyr_events_received_total",
                                              "Events received in transactions, by event type.",
                                              {Label::fixed("type", kEventTypes)})),
      events_deduplicated(registry.counter(
          "tyr_events_deduplicated_total",
          "Events received again after they were stored (deduplicated by event ID).")),
      events_invalid(registry.counter("tyr_events_invalid_total",
                                      "Transaction entries without an event_id, skipped.")),
      appservice_auth_failures(
          registry.counter("tyr_appservice_auth_failures_total",
                           "Appservice API requests refused for a missing or wrong hs_token.")),
      transaction_gaps(registry.counter(
          "tyr_transaction_gaps_total",
          "Transactions whose txnId skipped numbers: the homeserver may have dropped one.")),
      events_recovered(registry.counter("tyr_events_recovered_total",
                                        "Events found in room history before any transaction "
                                        "delivered them (lost, or not yet replayed).")),
      notices_suppressed(registry.counter(
          "tyr_notices_suppressed_total",
          "Unsolicited management-room notices past management.notices_per_minute (summarised).")),
      verdicts(registry.counter_family("tyr_verdicts_total",
                                       "Verdicts reached on events, by enforced action.",
                                       {Label::fixed("action", kActions)})),
      rule_hits(registry.counter_family(
          "tyr_rule_hits_total", "Custom rule hits, by rule id and mode (enforced or shadow).",
          {Label::capped("rule", kRuleCap), Label::fixed("mode", {"enforced", "shadow"})})),
      list_matches(registry.counter_family(
          "tyr_list_matches_total", "Policy list matches, by list and mode (enforced or shadow).",
          {Label::capped("list", kListCap), Label::fixed("mode", {"enforced", "shadow"})})),
      protection_hits(registry.counter_family("tyr_protection_hits_total",
                                              "Protection hits, by protection and mode.",
                                              {Label::capped("protection", kProtectionCap),
                                               Label::fixed("mode", {"enforced", "shadow"})})),
      events_failed(registry.counter(
          "tyr_events_failed_total",
          "Events whose handling threw; each is recorded under dead/<seq> and skipped.")),
      poisoned_items(registry.counter_family(
          "tyr_poisoned_items_total",
          "Items whose handling threw unexpectedly, set aside so the worker went on, by worker.",
          {Label::fixed("worker", kWorkers)})),
      event_verdict_duration(registry.histogram(
          "tyr_event_verdict_duration_seconds",
          "Time from taking an event off the inbox to its verdict.", kVerdictBuckets)),
      classifier_learned(registry.counter_family(
          "tyr_classifier_learned_total", "Examples the classifier learned, by source.",
          {Label::fixed("source",
                        {"redaction", "ban", "report", "command", "unredacted", "import"})})),
      vetoes(registry.counter_family(
          "tyr_vetoes_total", "Synchronous veto callbacks answered, by callback and outcome.",
          {Label::fixed("callback", kVetoCallbacks), Label::fixed("outcome", kVetoOutcomes)})),
      veto_duration(registry.histogram_family(
          "tyr_veto_duration_seconds", "Time to answer a veto callback, by callback.",
          {Label::fixed("callback", kVetoCallbacks)}, kVerdictBuckets)),
      policy_sign_requests(registry.counter_family(
          "tyr_policy_server_requests_total",
          "Sign requests from other homeservers (MSC4284 policy server), by outcome.",
          {Label::fixed("outcome", kPolicyOutcomes)})),
      policy_sign_duration(registry.histogram(
          "tyr_policy_server_duration_seconds",
          "Time to answer a sign request, from its body read to the answer.", kVerdictBuckets)),
      inbox_depth(registry.gauge("tyr_inbox_depth",
                                 "Events stored and not yet processed by the pipeline.")),
      outbox_depth(registry.gauge("tyr_outbox_depth",
                                  "Actions queued and not yet executed against the homeserver.")),
      actions(registry.counter_family(
          "tyr_actions_total",
          "Actions executed, by kind and result (\"ok\", \"skipped\" when nothing was left to do, "
          "\"no_power\", or the final Matrix errcode).",
          {Label::capped("kind", kActionKindCap), Label::capped("result", kActionResultCap)})),
      homeserver_request_duration(registry.histogram_family(
          "tyr_homeserver_request_duration_seconds",
          "Duration of one HTTP attempt against the homeserver, by call kind.",
          {Label::fixed("endpoint", kEndpoints)}, kHomeserverBuckets)),
      rules_loaded(registry.gauge("tyr_rules_loaded", "Custom rules currently loaded.")),
      list_entries(registry.gauge_family(
          "tyr_list_entries", "Policy rules loaded from all watched lists, by entity kind.",
          {Label::fixed("kind", kEntityKinds)})),
      feed_last_success_timestamp(
          registry.gauge_family("tyr_feed_last_success_timestamp_seconds",
                                "Unix time of each HTTP feed's last successful fetch.",
                                {Label::capped("feed", kFeedCap)})),
      http_connections(registry.gauge_family("tyr_http_connections",
                                             "Connections open on each HTTP listener.",
                                             {Label::capped("listener", kListenerCap)})),
      http_connections_shed(registry.counter_family(
          "tyr_http_connections_shed_total",
          "Connections closed to make room for a new one (idle first, then the slowest senders).",
          {Label::capped("listener", kListenerCap)})),
      http_rejected(registry.counter_family(
          "tyr_http_rejected_total",
          "Requests an HTTP listener refused before any handler ran, by reason.",
          {Label::capped("listener", kListenerCap), Label::fixed("reason", kHttpRejections)})),
      build_info(registry.gauge_family("tyr_build_info",
                                       "Always 1; the labels describe the running build.",
                                       {Label::fixed("version", {kVersion})})),
      process_start_time(registry.gauge("process_start_time_seconds",
                                        "Start time of the process since the Unix epoch.")),
      process_resident_memory(
          registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")) {
  build_info.with(kVersion).set(1);
  process_start_time.set(process_start_seconds());
  process_resident_memory.set_callback(resident_memory_bytes);
}

TyrMetrics& tyr_metrics() {
  static TyrMetrics metrics;
  return metrics;
}

}  // namespace tyr::engine::metrics
