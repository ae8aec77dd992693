#include "engine/pipeline/pipeline.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

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
    // Not from the inbox's start: its drained entries stay in RocksDB as tombstones until a
    // compaction, and a seek from the start steps over every one of them.
    uint64_t after = drained_through_;
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
    drained_through_ = after;
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

// Scheduling. One thread (the Worker's) owns every decision: what runs, what waits, what is
// retried. It walks the outbox in queue order and starts an action when
//  - its lane has nothing in flight and no earlier action of its lane is waiting (so each
//    lane's actions run one at a time, in queue order, retries keeping their place);
//  - its lane is not waiting (a retry's delay, or pacing after a done action);
//  - for a global action (empty lane): nothing runs and nothing is queued before it; and
//    nothing after a global action is looked at until it is done.
// An outage or a rate limit the client could not wait out pauses every lane: the homeserver
// limits Tyr's one sender, not a room. The lanes only run actions and commit their completion;
// they report back here with post(), so this state needs no lock.

Executor::Executor(Store& store, ActionRunner& runner, int concurrency)
    : store_(store),
      runner_(runner),
      lanes_(std::max(1, concurrency)),
      pool_(static_cast<size_t>(lanes_)),
      timer_(io_) {}

void Executor::stop() {
  Worker::stop();
  // Lanes still running an action finish it and commit its completion; what they post back
  // to the stopped scheduler is dropped.
  pool_.join();
}

void Executor::wake_at(Clock::time_point at) {
  if (timer_armed_ && timer_at_ <= at) return;
  timer_armed_ = true;
  timer_at_ = at;
  const uint64_t gen = ++timer_gen_;
  timer_.expires_at(at);  // cancels an earlier wait, whose handler sees a stale generation
  timer_.async_wait([this, gen](const boost::system::error_code&) {
    if (gen != timer_gen_) return;
    timer_armed_ = false;
    drain();
  });
}

void Executor::retry_now() {
  post([this] {
    const auto now = Clock::now();
    if (outage_since_ms_ != 0 && paused_until_ > now) {
      paused_until_ = now;
      drain();
    }
  });
}

const std::string& Executor::lane_for(std::string_view key, std::string_view json) {
  auto it = lane_cache_.find(std::string(key));
  if (it != lane_cache_.end()) return it->second;
  // Entries leave the cache as they complete; this only bounds what a crash of the runner's
  // bookkeeping could leave behind.
  if (lane_cache_.size() >= 1u << 20) lane_cache_.clear();
  std::string lane;
  if (lanes_ > 1) {
    auto action = nlohmann::json::parse(json, nullptr, false);
    // A malformed entry is global: it fails at once, in its place.
    if (!action.is_discarded()) lane = runner_.lane_of(action);
  }
  return lane_cache_.emplace(std::string(key), std::move(lane)).first->second;
}

void Executor::drain() {
  const auto now = Clock::now();
  if (now < paused_until_) {
    wake_at(paused_until_);
    return;
  }
  if (static_cast<int>(running_.size()) >= lanes_ || busy_lanes_.count({}) > 0) return;
  std::erase_if(not_before_, [&](const auto& entry) { return entry.second <= now; });

  // Lanes that must not start anything further down the queue: one of theirs is in flight,
  // waiting, or about to start.
  std::set<std::string> held;
  std::optional<Clock::time_point> wake;
  std::vector<std::pair<OutboxEntry, std::string>> starts;
  const size_t free = static_cast<size_t>(lanes_) - running_.size();
  store_.range(Cf::kOutbox, "", "", false, [&](std::string_view key, std::string_view value) {
    const std::string& lane = lane_for(key, value);
    const bool global = lane.empty();
    const bool runs = running_.count(std::string(key)) > 0;
    if (global) {
      // Everything before it is done and nothing runs: it may start (unless it waits).
      if (!runs && running_.empty() && held.empty() && starts.empty()) {
        if (auto nb = not_before_.find(lane); nb != not_before_.end()) {
          wake = nb->second;
        } else {
          starts.emplace_back(OutboxEntry{std::string(key), decode_seq(key.substr(1)),
                                          static_cast<Priority>(key[0]), std::string(value)},
                              lane);
        }
      }
      return false;  // nothing queued after a global action starts before it is done
    }
    if (runs || busy_lanes_.count(lane) > 0 || !held.insert(lane).second) return true;
    if (auto nb = not_before_.find(lane); nb != not_before_.end()) {
      if (!wake || nb->second < *wake) wake = nb->second;
      return true;
    }
    starts.emplace_back(OutboxEntry{std::string(key), decode_seq(key.substr(1)),
                                    static_cast<Priority>(key[0]), std::string(value)},
                        lane);
    return starts.size() < free;
  });
  if (wake) wake_at(*wake);
  for (auto& [entry, lane] : starts) {
    running_.emplace(entry.key, lane);
    busy_lanes_.insert(lane);
    int attempts = 0;
    if (auto it = attempts_.find(entry.seq); it != attempts_.end()) attempts = it->second;
    boost::asio::post(pool_,
                      [this, entry = std::move(entry), lane = lane, attempts, now]() mutable {
                        run_on_lane(std::move(entry), std::move(lane), attempts, now);
                      });
  }
}

void Executor::run_on_lane(OutboxEntry next, std::string lane, int attempts,
                           Clock::time_point started) {
  auto action = nlohmann::json::parse(next.json, nullptr, false);
  Batch batch;
  ActionOutcome outcome;
  if (action.is_discarded() || !action.is_object()) {
    outcome = {ActionOutcome::Kind::kFailed, {}, "stored action is not a JSON object"};
  } else {
    std::optional<std::string> failure;
    try {
      outcome = runner_.run_action(next.seq, action, batch);
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
  Finished f{next.key, next.seq, std::move(lane), attempts, started, std::move(outcome)};
  const ActionOutcome& out = f.outcome;
  // An outage never counts as a try; anything else does (as does a success).
  f.settled =
      !(out.kind == ActionOutcome::Kind::kRetry && (out.outage || attempts + 1 < max_attempts));
  if (f.settled) {
    metrics::tyr_metrics()
        .actions
        .with(action.is_object() ? action.value("kind", "unknown") : "unknown",
              out.kind != ActionOutcome::Kind::kDone ? errcode_in(out.detail)
              : out.result.empty()                   ? std::string(metrics::kOk)
                                                     : out.result)
        .inc();
    if (out.kind != ActionOutcome::Kind::kDone) {
      log::error("executor", "action " + std::to_string(next.seq) + " failed: " + out.detail);
      nlohmann::json record = {{"action", action}, {"error", out.detail}};
      batch.put(Cf::kState, std::string(state_keys::kFailedAction) + next.key, dump_json(record));
    }
    // The only place an action leaves the outbox: with its completion, in one batch.
    batch.del(Cf::kOutbox, next.key);
    auto r = store_.commit(batch, /*sync=*/true);
    if (r) {
      f.committed = true;
      ++(out.kind == ActionOutcome::Kind::kDone ? done_ : failed_);
    } else {
      log::error("executor", "commit failed: " + r.error().to_string());
    }
  }
  post([this, f = std::move(f)]() mutable { on_finished(std::move(f)); });
}

void Executor::on_finished(Finished f) {
  running_.erase(f.key);
  busy_lanes_.erase(f.lane);
  const ActionOutcome& out = f.outcome;
  const auto now = Clock::now();
  if (!f.settled && out.outage) {
    // The homeserver is down or throttling: every lane waits, however long that takes.
    const int64_t wall = wall_ms();
    if (outage_since_ms_ == 0) {
      outage_since_ms_ = wall;
      outage_logged_ms_ = wall;
      outage_seen_ = now;
      log::warn("executor", "homeserver unavailable (" + out.detail + "); action " +
                                std::to_string(f.seq) + " and the rest of the outbox wait for it");
    } else if (wall - outage_logged_ms_ >= 60'000) {
      outage_logged_ms_ = wall;
      log::warn("executor", "homeserver still unavailable after " +
                                std::to_string((wall - outage_since_ms_) / 1000) + " s (" +
                                out.detail + "); " + std::to_string(store_.outbox_depth()) +
                                " action(s) waiting");
    }
    const auto backoff = std::min<std::chrono::milliseconds>(
        outage_backoff_max, std::chrono::milliseconds(500LL << std::min(outage_tries_, 8)));
    ++outage_tries_;
    paused_until_ = std::max(paused_until_, now + std::max(out.retry_after, backoff));
    drain();
    return;
  }
  // Only an action started after the outage was seen proves that it is over: one that was in
  // flight on another lane may have been answered before it began.
  if (outage_since_ms_ != 0 && f.started >= outage_seen_) {
    const int64_t since = outage_since_ms_;
    outage_since_ms_ = 0;
    outage_tries_ = 0;
    log::info("executor", "homeserver available again after " +
                              std::to_string((wall_ms() - since) / 1000) + " s");
    if (on_homeserver_back) on_homeserver_back(since);
  }
  if (!f.settled) {
    attempts_[f.seq] = f.attempts + 1;
    const auto delay = std::max(out.retry_after, std::chrono::milliseconds(100));
    log::warn("executor", "action " + std::to_string(f.seq) + " will be retried in " +
                              std::to_string(delay.count()) + " ms: " + out.detail);
    not_before_[f.lane] = now + delay;  // it keeps its place: its lane waits with it
  } else if (!f.committed) {
    // Still in the outbox: run again once the store accepts writes (its lane waits).
    not_before_[f.lane] = now + std::chrono::seconds(1);
  } else {
    attempts_.erase(f.seq);
    lane_cache_.erase(f.key);
    // Pacing (e.g. between mass bans): the lane waits before its next action.
    if (out.kind == ActionOutcome::Kind::kDone && out.retry_after.count() > 0)
      not_before_[f.lane] = now + out.retry_after;
  }
  drain();
}

}  // namespace tyr::engine
