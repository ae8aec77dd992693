#pragma once
// Abuse reports: polls the homeserver's event reports (Synapse admin API, with the configured
// admin token), posts each new one to the management room with its context, and redacts an
// event once enough trusted reporters reported it. Operators answer with `!tyr report`.
// State family: "reports/last" -> highest report id handled; "report/<id>" -> JSON of the
// report; "reportcount/<event_id>" -> number of trusted reports.

#include <boost/asio/steady_timer.hpp>

#include "engine/client/homeserver_client.hpp"
#include "engine/config/config.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/pipeline.hpp"

namespace tyr::engine {

class ReportWorker : public Worker {
 public:
  ReportWorker(const Config& config, Store& store, HomeserverClient& client, Bot& bot);
  ~ReportWorker() override { stop(); }
  std::function<void()> on_change;  // e.g. wake the executor

 private:
  void drain() override;
  void poll();

  const Config& config_;
  Store& store_;
  HomeserverClient& client_;
  Bot& bot_;
  boost::asio::steady_timer timer_;
  bool started_ = false;
};

}  // namespace tyr::engine
