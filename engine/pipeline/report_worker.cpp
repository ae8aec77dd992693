#include "engine/pipeline/report_worker.hpp"

#include <algorithm>

#include "engine/core/log.hpp"

namespace tyr::engine {

ReportWorker::ReportWorker(const Config& config, Store& store, HomeserverClient& client, Bot& bot)
    : config_(config), store_(store), client_(client), bot_(bot), timer_(io_) {}

void ReportWorker::drain() {
  if (started_) return;
  started_ = true;
  poll();
}

void ReportWorker::poll() {
  HttpRequest req;
  req.method = "GET";
  req.path = "/_synapse/admin/v1/event_reports";
  req.query = {{"dir", "b"}, {"limit", "100"}};
  req.bearer_token = config_.homeserver.admin_token;
  auto page = client_.call(req);
  if (!page) {
    log::warn("reports", "cannot read event reports: " + page.error().to_string());
  } else {
    const int64_t last = std::stoll(store_.get(Cf::kState, "reports/last").value_or("0"));
    std::vector<nlohmann::json> fresh;
    for (const auto& r : page->value("event_reports", nlohmann::json::array())) {
      if (r.value("id", int64_t{0}) > last) fresh.push_back(r);
    }
    std::sort(fresh.begin(), fresh.end(), [](const auto& a, const auto& b) {
      return a.value("id", int64_t{0}) < b.value("id", int64_t{0});
    });
    if (!fresh.empty()) {
      Batch batch;
      for (const auto& r : fresh) bot_.on_report(r, batch);
      batch.put(Cf::kState, "reports/last", std::to_string(fresh.back().value("id", int64_t{0})));
      if (auto c = store_.commit(batch); !c) {
        log::error("reports", "cannot store reports: " + c.error().to_string());
      } else if (on_change) {
        on_change();
      }
    }
  }
  timer_.expires_after(config_.reports.poll);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll();
  });
}

}  // namespace tyr::engine
