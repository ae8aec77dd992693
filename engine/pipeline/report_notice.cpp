#include "engine/pipeline/report_notice.hpp"

#include "engine/core/text.hpp"

namespace tyr::engine {

namespace {

// Matrix IDs are at most 255 bytes; the homeserver checked them, but a notice never relies on it.
constexpr std::size_t kMaxId = 255;

std::string string_or_empty(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string id_text(std::string_view id) { return escape_untrusted(id, kMaxId); }

}  // namespace

std::optional<AbuseReport> parse_abuse_report(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  auto id = j.find("id");
  if (id == j.end() || !id->is_number_integer()) return std::nullopt;
  AbuseReport r;
  r.id = id->get<int64_t>();
  r.room_id = string_or_empty(j, "room_id");
  r.event_id = string_or_empty(j, "event_id");
  r.sender = string_or_empty(j, "sender");
  r.reporter = string_or_empty(j, "user_id");
  r.reason = truncate_utf8(string_or_empty(j, "reason"), kMaxReportReason);
  return r;
}

std::string reported_body(const nlohmann::json& event) {
  if (!event.is_object()) return {};
  auto content = event.find("content");
  if (content == event.end() || !content->is_object()) return {};
  return string_or_empty(*content, "body");
}

std::string report_notice_text(const AbuseReport& r, const ReportNoticeContext& c) {
  const std::string id = std::to_string(r.id);
  const std::string sender = id_text(r.sender);
  std::string text = "Report " + id + ": " + id_text(r.reporter) + " reported " +
                     id_text(r.event_id) + " by " + sender + " in " + id_text(r.room_id);
  // The reason was cut to kMaxReportReason already; its ellipsis fits.
  if (!r.reason.empty())
    text += ": " + quote_untrusted(r.reason, kMaxReportReason + kEllipsis.size());
  if (!c.excerpt.empty()) {
    text += "\nMessage";
    if (!c.sent_at.empty()) text += " (sent " + escape_untrusted(c.sent_at, 64) + ")";
    text += ": " + quote_untrusted(c.excerpt, kMaxQuotedExcerpt);
  }
  text += "\nEarlier reports against " + sender + ": " + std::to_string(c.earlier_reports) + ".";
  if (!c.history.empty()) {
    text += "\nTyr's latest actions about " + sender + ":\n" + sanitize_utf8(c.history);
  }
  text += "\nAnswer with `" + std::string(c.command_prefix) + " report " + id +
          " redact|kick|ban|ignore`.";
  return text;
}

}  // namespace tyr::engine
