// Fuzzes what the report worker does with an abuse report before anything is stored or sent:
// the input's first line is one entry of Synapse's event_reports list (JSON), the rest the body
// of the reported message, as raw bytes. parse_abuse_report -> report_notice_text -> the notice
// action as the bot queues it. Beyond "no crash", checks the promises the notice relies on:
//   - the notice is valid UTF-8 and its action serialises with a strict dump() (a message cut in
//     the middle of a character made dump() throw and Tyr abort on every restart);
//   - untrusted text adds no line of its own: the notice has exactly the lines Tyr writes;
//   - the reason is capped, and truncate_utf8 / escape_untrusted keep their contracts on the
//     message body (a prefix of the sanitised text, "…" exactly when cut, within the cap).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/text.hpp"
#include "engine/pipeline/report_notice.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_report: %s\n", what);
  std::abort();
}

void require(bool condition, const char* what) {
  if (!condition) fail(what);
}

size_t lines(std::string_view s) {
  size_t n = 1;
  for (char c : s) n += c == '\n' ? 1 : 0;
  return n;
}

void check_truncate(std::string_view s, size_t max) {
  const std::string t = tyr::truncate_utf8(s, max);
  const std::string whole = tyr::sanitize_utf8(s);
  require(tyr::is_valid_utf8(t), "truncate_utf8: invalid UTF-8");
  if (whole.size() <= max) {
    require(t == whole, "truncate_utf8: cut text that fits");
    return;
  }
  const std::string_view e = tyr::kEllipsis;
  require(t.size() >= e.size() && std::string_view(t).substr(t.size() - e.size()) == e,
          "truncate_utf8: no ellipsis after a cut");
  const std::string_view kept = std::string_view(t).substr(0, t.size() - e.size());
  require(kept.size() <= max && kept.size() + 4 > max, "truncate_utf8: cut too far or not enough");
  require(std::string_view(whole).substr(0, kept.size()) == kept, "truncate_utf8: not a prefix");
}

void check_escape(std::string_view s, size_t max) {
  const std::string t = tyr::escape_untrusted(s, max);
  require(tyr::is_valid_utf8(t), "escape_untrusted: invalid UTF-8");
  require(t.size() <= max + tyr::kEllipsis.size(), "escape_untrusted: over the cap");
  for (unsigned char c : t) require(c >= 0x20 && c != 0x7F, "escape_untrusted: a control byte");
  require(
      t.find("\xE2\x80\xA8") == std::string::npos && t.find("\xE2\x80\xAE") == std::string::npos,
      "escape_untrusted: a line separator or bidi override");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string_view entry = input.substr(0, std::min(nl, input.size()));
  const std::string_view body =
      nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  for (size_t max : {0, 1, 2, 3, 4, 7, 200}) {
    check_truncate(body, max);
    check_escape(body, max);
  }

  const auto json = nlohmann::json::parse(entry, nullptr, /*allow_exceptions=*/false);
  const auto report = tyr::engine::parse_abuse_report(json);
  if (!report) return 0;
  require(tyr::is_valid_utf8(report->reason), "reason: invalid UTF-8");
  require(report->reason.size() <= tyr::engine::kMaxReportReason + tyr::kEllipsis.size(),
          "reason: over the cap");

  const std::string history =
      "- 2026-01-01T00:00:00Z ban @x:hs in !r:hs → ok\n- 2026-01-02T00:00:00Z kick @x:hs → ok";
  for (bool with_context : {false, true}) {
    tyr::engine::ReportNoticeContext context;
    context.excerpt = body;
    context.command_prefix = "!tyr";
    if (with_context) {
      context.sent_at = "2026-01-01T00:00:00Z";
      context.history = history;
      context.earlier_reports = 3;
    }
    const std::string text = tyr::engine::report_notice_text(*report, context);
    require(tyr::is_valid_utf8(text), "notice: invalid UTF-8");
    // Report line, [message line], earlier reports, [history heading + its lines], answer.
    const size_t expected = 3 + (body.empty() ? 0 : 1) + (with_context ? 1 + lines(history) : 0);
    require(lines(text) == expected, "notice: untrusted text added a line");
    const nlohmann::json action = {{"kind", "notice"}, {"room", "!mgmt:hs"}, {"body", text}};
    try {
      (void)action.dump();  // strict, as a plain dump() anywhere would be
    } catch (const nlohmann::json::exception&) {
      fail("notice: dump() threw");
    }
  }
  return 0;
}
