#include "engine/pipeline/pipeline.hpp"

#include <cctype>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

namespace {
constexpr size_t kEventsPerCommit = 64;

// The Matrix errcode (M_… or TYR_…) a failure's detail names, for the bounded result label.
std::string errcode_in(const std::string& detail) {
  for (const char* prefix : {"M_", "TYR_"}) {
    for (size_t at = detail.find(prefix); at != std::string::npos;
         at = detail.find(prefix, at + 1)) {
      if (at > 0 &&
          (std::isalnum(static_cast<unsigned char>(detail[at - 1])) || detail[at - 1] == '_'))
        continue;
      size_t end = at;
      while (end < detail.size() &&
             (std::isupper(static_cast<unsigned char>(detail[end])) ||
              std::isdigit(static_cast<unsigned char>(detail[end])) || detail[end] == '_')) {
        ++end;
      }
      if (end - at > std::string_view(prefix).size()) return detail.substr(at, end - at);
    }
  }
  return "error";
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Worker::~Worker() = default;

void Worker::start() {
  guard_.emplace(io_.get_executor());
  thread_ = std::thread([this] {
    // Workers set aside an item whose handling throws; anything that still escapes a handler
    // is logged and the loop goes on, rather than ending the thread and with it the process.
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        log::error("worker", std::string("a task threw and was dropped: ") + e.what());
      } catch (...) {
        log::error("worker", "a task threw and was dropped");
      }
    }
  });
  notify();
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  guard_.reset();
  io_.stop();
  thread_.join();
}

void Worker::notify() {
  if (scheduled_.exchange(true)) return;
  boost::asio::post(io_, [this] {
    scheduled_ = false;
    drain();
  });
}

void Worker::post(std::function<void()> task) { boost::asio::post(io_, std::move(task)); }

void Pipeline::drain() {
  // Commits group up to kEventsPerCommit events: one fsync covers them all.
  for (;;) {
    Batch batch;
    size_t n = 0;
    uint64_t after = 0;
    while (n < kEventsPerCommit) {
      auto next = store_.next_inbox(after);
      if (!next) break;
      after = next->first;
      const std::string key = encode_seq(next->first);
      auto event = nlohmann::json::parse(next->second, nullptr, false);
      Batch effects;
      std::optional<std::string> failure;
      try {
        if (event.is_discarded()) throw std::runtime_error("stored event is not JSON");
        handler_.handle_event(event, effects);
        batch.append(std::move(effects));
      } catch (const std::exception& e) {
        failure = e.what();
      } catch (...) {
        failure = "unknown exception";
      }
      if (failure) {
        // Set aside in the batch that takes it off the inbox: never retried, even after a
        // restart; its partial effects are dropped with `effects`.
        ++dead_;
        auto& m = metrics::tyr_metrics();
        m.events_failed.inc();
        m.poisoned_items.with("pipeline").inc();
        log::error("pipeline", "event at seq " + std::to_string(next->first) +
                                   " dead-lettered: " + escape_untrusted(*failure, 300));
        batch.put(Cf::kState, std::string(state_keys::kDeadEvent) + key, next->second);
        try {
          Batch aside;
          handler_.on_poisoned("pipeline", event.is_discarded() ? nlohmann::json() : event,
                               "event at seq " + std::to_string(next->first), *failure, aside);
          batch.append(std::move(aside));
        } catch (const std::exception& e) {
          log::error("pipeline",
                     std::string("recording a dead-lettered event failed: ") + e.what());
        }
      }
      batch.del(Cf::kInbox, key);
      ++n;
    }
    if (n == 0) return;
    auto r = store_.commit(batch, /*sync=*/true);
    if (!r) {
      // The events stay in the inbox and are retried; the store is the source of truth.
      log::error("pipeline", "commit failed: " + r.error().to_string());
      return;
    }
    processed_ += n;
    if (on_committed) on_committed();
    if (n == kEventsPerCommit) {
      // More may be waiting: continue after the work posted meanwhile (inline vetoes, timers),
      // which must not wait behind a whole backlog.
      notify();
      return;
    }
  }
}

void Executor::wait_then_drain(std::chrono::milliseconds delay) {
  waiting_ = true;
  timer_.expires_after(delay);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    waiting_ = false;
    // Cancelled by retry_now(): drain at once. (Stopping stops the io_context instead, after
    // which no handler runs.)
    if (!ec || ec == boost::asio::error::operation_aborted) drain();
  });
}

void Executor::retry_now() {
  post([this] {
    if (waiting_ && outage_since_ms_ != 0) timer_.cancel();
  });
}

void Executor::drain() {
  if (waiting_) return;
  for (;;) {
    auto next = store_.next_outbox();
    if (!next) return;
    if (next->seq != head_seq_) {
      head_seq_ = next->seq;
      head_attempts_ = 0;
    }
    auto action = nlohmann::json::parse(next->json, nullptr, false);
    Batch batch;
    ActionOutcome outcome;
    if (action.is_discarded() || !action.is_object()) {
      outcome = {ActionOutcome::Kind::kFailed, {}, "stored action is not a JSON object"};
    } else {
      std::optional<std::string> failure;
      try {
        outcome = runner_.run_action(next->seq, action, batch);
      } catch (const std::exception& e) {
        failure = e.what();
      } catch (...) {
        failure = "unknown exception";
      }
      if (failure) {
        // Set aside under failed/<seq> below, without the follow-ups it queued before throwing.
        batch = Batch{};
        outcome = {ActionOutcome::Kind::kFailed, {}, "threw: " + escape_untrusted(*failure, 300)};
        metrics::tyr_metrics().poisoned_items.with("executor").inc();
      }
    }
    if (outcome.kind == ActionOutcome::Kind::kRetry && outcome.outage) {
      // The homeserver is down or throttling: the action waits, however long that takes.
      const int64_t now = wall_ms();
      if (outage_since_ms_ == 0) {
        outage_since_ms_ = now;
        outage_logged_ms_ = now;
        log::warn("executor", "homeserver unavailable (" + outcome.detail + "); action " +
                                  std::to_string(next->seq) +
                                  " and the rest of the outbox wait for it");
      } else if (now - outage_logged_ms_ >= 60'000) {
        outage_logged_ms_ = now;
        log::warn("executor", "homeserver still unavailable after " +
                                  std::to_string((now - outage_since_ms_) / 1000) + " s (" +
                                  outcome.detail + "); " + std::to_string(store_.outbox_depth()) +
                                  " action(s) waiting");
      }
      const auto backoff = std::min<std::chrono::milliseconds>(
          outage_backoff_max, std::chrono::milliseconds(500LL << std::min(outage_tries_, 8)));
      ++outage_tries_;
      wait_then_drain(std::max(outcome.retry_after, backoff));
      return;
    }
    if (outage_since_ms_ != 0) {
      const int64_t since = outage_since_ms_;
      outage_since_ms_ = 0;
      outage_tries_ = 0;
      log::info("executor", "homeserver available again after " +
                                std::to_string((wall_ms() - since) / 1000) + " s");
      if (on_homeserver_back) on_homeserver_back(since);
    }
    ++head_attempts_;
    if (outcome.kind == ActionOutcome::Kind::kRetry && head_attempts_ < max_attempts) {
      auto delay = std::max(outcome.retry_after, std::chrono::milliseconds(100));
      log::warn("executor", "action " + std::to_string(next->seq) + " will be retried in " +
                                std::to_string(delay.count()) + " ms: " + outcome.detail);
      wait_then_drain(delay);
      return;
    }
    const std::string& key = next->key;
    metrics::tyr_metrics()
        .actions
        .with(action.is_object() ? action.value("kind", "unknown") : "unknown",
              outcome.kind != ActionOutcome::Kind::kDone ? errcode_in(outcome.detail)
              : outcome.result.empty()                   ? std::string(metrics::kOk)
                                                         : outcome.result)
        .inc();
    if (outcome.kind != ActionOutcome::Kind::kDone) {
      ++failed_;
      log::error("executor", "action " + std::to_string(next->seq) + " failed: " + outcome.detail);
      nlohmann::json record = {{"action", action}, {"error", outcome.detail}};
      batch.put(Cf::kState, std::string(state_keys::kFailedAction) + key, dump_json(record));
    } else {
      ++done_;
    }
    batch.del(Cf::kOutbox, key);
    auto r = store_.commit(batch, /*sync=*/true);
    if (!r) {
      log::error("executor", "commit failed: " + r.error().to_string());
      return;
    }
    if (outcome.kind == ActionOutcome::Kind::kDone && outcome.retry_after.count() > 0) {
      // Pacing (e.g. between mass bans): wait before the next action.
      wait_then_drain(outcome.retry_after);
      return;
    }
  }
}

}  // namespace tyr::engine
