#include "engine/pipeline/feed_worker.hpp"

#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

namespace {

std::string ago(int64_t ms) {
  const int64_t s = (now_ms() - ms) / 1000;
  if (s < 120) return std::to_string(s) + " s ago";
  if (s < 7200) return std::to_string(s / 60) + " min ago";
  return std::to_string(s / 3600) + " h ago";
}

}  // namespace

FeedWorker::FeedWorker(const Config& config, Store& store, Bot& bot)
    : config_(config), store_(store), bot_(bot) {
  for (const auto& f : config_.feeds) {
    pollers_.emplace_back(f);
    timers_.push_back(std::make_unique<boost::asio::steady_timer>(io_));
  }
  states_.resize(pollers_.size());
}

void FeedWorker::restore() {
  for (size_t i = 0; i < pollers_.size(); ++i) {
    const auto& feed = pollers_[i].feed();
    auto saved = store_.get(Cf::kState, std::string(state_keys::kFeed) + feed.name);
    if (!saved) continue;
    try {
      policy::FeedState st = nlohmann::json::parse(*saved).get<policy::FeedState>();
      bot_.apply_feed(feed.name, st.rules, feed.shadow);
      std::lock_guard lock(mu_);
      states_[i] = std::move(st);
    } catch (const std::exception& e) {
      log::warn("feeds", "ignoring the stored state of feed " + feed.name + ": " + e.what());
    }
  }
}

void FeedWorker::drain() {
  if (started_) return;
  started_ = true;
  for (size_t i = 0; i < pollers_.size(); ++i) poll_one(i);
}

void FeedWorker::schedule(size_t index, std::chrono::seconds delay) {
  auto& timer = *timers_[index];
  timer.expires_after(delay);
  timer.async_wait([this, index](const boost::system::error_code& ec) {
    if (!ec) poll_one(index);
  });
}

void FeedWorker::poll_one(size_t index) {
  const auto& feed = pollers_[index].feed();
  policy::FeedState st;
  {
    std::lock_guard lock(mu_);
    st = states_[index];
  }
  try {
    auto r = pollers_[index].poll(st);
    if (!r) {
      log::warn("feeds", "feed " + feed.name + " failed: " + r.error().to_string() + " (keeping " +
                             std::to_string(st.rules.size()) + " rules)");
    } else if (*r) {
      const size_t changed = bot_.apply_feed(feed.name, st.rules, feed.shadow);
      log::info("feeds", "feed " + feed.name + ": " + std::to_string(st.rules.size()) + " rules (" +
                             std::to_string(changed) + " changed, " + std::to_string(st.skipped) +
                             " entries skipped)");
      for (const auto& w : st.warnings) log::warn("feeds", w);
      if (on_change) on_change();
    }
  } catch (const std::exception& e) {
    set_aside(index, st, e.what());
  } catch (...) {
    set_aside(index, st, "unknown exception");
  }
  // Persist validators and contents (also after a failure: last_error and last_attempt). The
  // state holds feed text: it is serialised without throwing, whatever the feed sent.
  Batch b;
  b.put(Cf::kState, std::string(state_keys::kFeed) + feed.name, dump_json(nlohmann::json(st)));
  if (auto c = store_.commit(b, /*sync=*/false); !c) {
    log::error("feeds", "cannot store feed " + feed.name + ": " + c.error().to_string());
  }
  {
    std::lock_guard lock(mu_);
    states_[index] = std::move(st);
  }
  schedule(index, feed.interval);
}

void FeedWorker::set_aside(size_t index, policy::FeedState& st, std::string_view error) {
  const auto& feed = pollers_[index].feed();
  metrics::tyr_metrics().poisoned_items.with("feeds").inc();
  const std::string what = "a poll of feed " + feed.name;
  log::error("feeds",
             what + " threw: " + escape_untrusted(error, 300) + "; keeping its last good rules");
  // Back to the last good contents; the failure shows in `status` and the next poll tries again.
  policy::FeedState previous;
  {
    std::lock_guard lock(mu_);
    previous = states_[index];
  }
  previous.last_attempt_ms = st.last_attempt_ms;
  previous.last_error = "internal error: " + escape_untrusted(error, 200);
  st = std::move(previous);
  Batch b;
  try {
    bot_.on_poisoned("feeds", nlohmann::json{{"feed", feed.name}}, what, error, b);
  } catch (const std::exception& e) {
    log::error("feeds", std::string("recording the failed poll failed: ") + e.what());
    return;
  }
  if (auto c = store_.commit(b); !c)
    log::error("feeds", "cannot record the failed poll: " + c.error().to_string());
}

std::vector<std::string> FeedWorker::status() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (size_t i = 0; i < pollers_.size(); ++i) {
    const auto& f = pollers_[i].feed();
    const auto& st = states_[i];
    std::string line = "Feed " + f.name + ": " + std::to_string(st.rules.size()) + " rules";
    if (f.shadow) line += " (shadow)";
    if (!st.last_error.empty()) {
      line +=
          ", FAILING (" + st.last_error + "), keeping the contents of " +
          (st.last_success_ms ? ago(st.last_success_ms) : std::string("no successful fetch yet"));
    } else if (st.last_success_ms) {
      line += ", fetched " + ago(st.last_success_ms);
    } else {
      line += ", not fetched yet";
    }
    out.push_back(line);
  }
  return out;
}

}  // namespace tyr::engine
