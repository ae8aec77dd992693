#pragma once
// Abuse reports: polls the homeserver's event reports (Synapse admin API, with the configured
// admin token), posts each new one to the management room with its context, and redacts an
// event once enough trusted reporters reported it. Operators answer with `!tyr report`.
// State family: "reports/last" -> highest report id handled (or set aside); "report/<id>" ->
// JSON of an unanswered report; "reportcount/<event_id>" -> number of distinct trusted
// reporters; "reporter/<event_id>/<user_id>" -> id of that trusted reporter's first report of
// the event; "poisoned/report/<id>" -> {"report": <admin API entry>, "error": <what>} for a
// report whose handling threw. Each report commits alone, together with "reports/last".

#include <boost/asio/steady_timer.hpp>

#include "engine/client/homeserver_client.hpp"
#include "engine/config/config.hpp"
#include "engine/pipeline/pipeline.hpp"
#include "engine/pipeline/report_notice.hpp"

namespace tyr::engine {

class ReportWorker : public Worker {
 public:
  // `handler`: the bot.
  ReportWorker(const Config& config, Store& store, HomeserverClient& client,
               ReportHandler& handler);
  ~ReportWorker() override { stop(); }
  std::function<void()> on_change;  // e.g. wake the executor

  // Handles one page of the admin API's event_reports answer: each report newer than
  // "reports/last", oldest first, in its own batch. Called by the worker's poll (and by tests).
  void handle_page(const nlohmann::json& page);

 private:
  void drain() override;
  void poll();  // poll_once(), then again after reports.poll
  void poll_once();
  // Records a report whose handling threw (metric, log, poisoned/report/<id>, audit, notice).
  void set_aside(const AbuseReport& report, const nlohmann::json& raw, std::string_view error,
                 Batch& batch);

  const Config& config_;
  Store& store_;
  HomeserverClient& client_;
  ReportHandler& handler_;
  boost::asio::steady_timer timer_;
  bool started_ = false;
};

}  // namespace tyr::engine
