#include "engine/pipeline/report_worker.hpp"

#include <algorithm>
#include <charconv>

#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

ReportWorker::ReportWorker(const Config& config, Store& store, HomeserverClient& client,
                           ReportHandler& handler)
    : config_(config), store_(store), client_(client), handler_(handler), timer_(io_) {}

void ReportWorker::drain() {
  if (started_) return;
  started_ = true;
  poll();
}

void ReportWorker::poll() {
  try {
    poll_once();
  } catch (const std::exception& e) {
    // Only reading the page and the cursor are left to fail here (each report is isolated).
    log::error("reports", std::string("poll failed: ") + e.what());
  }
  timer_.expires_after(config_.reports.poll);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll();
  });
}

void ReportWorker::poll_once() {
  HttpRequest req;
  req.method = "GET";
  req.path = "/_synapse/admin/v1/event_reports";
  req.query = {{"dir", "b"}, {"limit", "100"}};
  req.bearer_token = config_.homeserver.admin_token;
  auto page = client_.call(req);
  if (!page) {
    log::warn("reports", "cannot read event reports: " + page.error().to_string());
    return;
  }
  handle_page(*page);
}

void ReportWorker::handle_page(const nlohmann::json& page) {
  int64_t last = 0;
  if (auto saved = store_.get(Cf::kState, state_keys::kReportsLast)) {
    const auto [end, ec] = std::from_chars(saved->data(), saved->data() + saved->size(), last);
    if (ec != std::errc() || end != saved->data() + saved->size()) {
      log::error("reports", "reports/last is not a number: '" + escape_untrusted(*saved, 40) +
                                "'; starting from the reports now listed");
      last = 0;
    }
  }
  auto list = page.is_object() ? page.find("event_reports") : page.end();
  // Dendrite answers `"event_reports": null` while there are none.
  if (page.is_object() && list != page.end() && list->is_null()) return;
  if (!page.is_object() || list == page.end() || !list->is_array()) {
    log::warn("reports", "the homeserver's event_reports answer has no list of reports");
    return;
  }
  std::vector<std::pair<AbuseReport, const nlohmann::json*>> fresh;
  for (const auto& r : *list) {
    auto report = parse_abuse_report(r);
    if (!report) {
      log::warn("reports",
                "skipping an entry without an integer id: " + escape_untrusted(dump_json(r), 200));
      continue;
    }
    if (report->id > last) fresh.emplace_back(std::move(*report), &r);
  }
  std::sort(fresh.begin(), fresh.end(),
            [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
  bool changed = false;
  for (const auto& [report, raw] : fresh) {
    // One batch per report, with the cursor: a report is handled (or set aside) exactly once,
    // and the next one sees what this one stored (trusted reporters already counted).
    Batch batch;
    const std::string what = "report " + std::to_string(report.id);
    try {
      handler_.on_report(report, batch);
    } catch (const std::exception& e) {
      batch = Batch{};
      set_aside(report, *raw, e.what(), batch);
    } catch (...) {
      batch = Batch{};
      set_aside(report, *raw, "unknown exception", batch);
    }
    batch.put(Cf::kState, state_keys::kReportsLast, std::to_string(report.id));
    if (auto c = store_.commit(batch); !c) {
      // Stop here: the next poll starts again from this report.
      log::error("reports", "cannot store " + what + ": " + c.error().to_string());
      break;
    }
    changed = true;
  }
  if (changed && on_change) on_change();
}

void ReportWorker::set_aside(const AbuseReport& report, const nlohmann::json& raw,
                             std::string_view error, Batch& batch) {
  const std::string id = std::to_string(report.id);
  metrics::tyr_metrics().poisoned_items.with("reports").inc();
  log::error("reports", "report " + id + " set aside: " + escape_untrusted(error, 300));
  batch.put(Cf::kState, std::string(state_keys::kPoisonedReport) + id,
            dump_json({{"report", raw}, {"error", sanitize_utf8(error)}}));
  try {
    Batch aside;
    handler_.on_poisoned("reports", raw, "report " + id, error, aside);
    batch.append(std::move(aside));
  } catch (const std::exception& e) {
    log::error("reports",
               std::string("recording report ") + id + " as set aside failed: " + e.what());
  }
}

}  // namespace tyr::engine
