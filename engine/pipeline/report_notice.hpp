#pragma once
// Abuse reports as Tyr reads and shows them: one entry of Synapse's event_reports list, read
// without trusting its types, and the management-room notice about it. The functions are pure
// (no store, no network), so the report worker's untrusted input can be fuzzed
// (tests/fuzz/fuzz_report.cpp). ReportHandler is what the report worker hands reports to.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/store/store.hpp"

namespace tyr::engine {

// Report reasons are free text of any length: the notice and the stored report keep this many
// bytes of one (cut on a character boundary, "…" when cut).
inline constexpr std::size_t kMaxReportReason = 300;

struct AbuseReport {
  int64_t id = 0;
  std::string room_id, event_id, sender;
  std::string reporter;  // the admin API's user_id
  std::string reason;    // empty when the reporter gave none (Synapse sends null)
};

// nullopt unless `j` is an object with an integer `id`. Other fields that are missing, null or
// not strings read as empty (Synapse sends null for a missing reason, and for the sender of an
// event it no longer has).
std::optional<AbuseReport> parse_abuse_report(const nlohmann::json& j);

// The body of the reported event as fetched from the homeserver (content.body when it is a
// string), empty otherwise.
std::string reported_body(const nlohmann::json& event);

struct ReportNoticeContext {
  std::string_view excerpt;         // reported_body() of the event, empty when unknown
  std::string_view sent_at;         // when the event was sent (format_utc), empty when unknown
  std::size_t earlier_reports = 0;  // against the same sender, before this one
  std::string_view history;         // Tyr's latest actions about the sender (format_audit_for_room)
  std::string_view command_prefix;
};

// The notice posted for a new report: who reported what, the reason and the message quoted
// and capped (escape_untrusted, so neither can add lines or pings of its own), earlier reports,
// and how to answer. Valid UTF-8 whatever the input.
std::string report_notice_text(const AbuseReport& report, const ReportNoticeContext& context);

// Handles the reports the report worker reads (the bot; tests substitute their own).
class ReportHandler {
 public:
  virtual ~ReportHandler() = default;
  // Adds the report's effects (stored report, notice, counts, redaction) to `batch`.
  virtual void on_report(const AbuseReport& report, Batch& batch) = 0;
  // As EventHandler::on_poisoned: a report whose on_report threw, with the batch setting it aside.
  virtual void on_poisoned(std::string_view worker, const nlohmann::json& item,
                           std::string_view what, std::string_view error, Batch& batch) = 0;
};

}  // namespace tyr::engine
