#include "cli/service.hpp"

#include "cli/scoring_wiring.hpp"

#include <chrono>
#include <memory>
#include <thread>

#include "engine/actions/codec.hpp"
#include "engine/appservice/appservice_server.hpp"
#include "engine/client/homeserver_client.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"
#include "engine/core/version.hpp"
#include "engine/metrics/admin_server.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/catch_up_schedule.hpp"
#include "engine/pipeline/feed_worker.hpp"
#include "engine/pipeline/homeserver_watch.hpp"
#include "engine/pipeline/pipeline.hpp"
#include "engine/pipeline/policy_book.hpp"
#include "engine/pipeline/report_worker.hpp"
#include "engine/store/keys.hpp"
#include "engine/store/store.hpp"
#include "engine/veto/veto.hpp"

namespace tyr::cli {

namespace {

// Retries `fn` with capped backoff until it succeeds, `stop` is set or `deadline` passes.
template <class Fn>
auto retry_until(const char* what, const std::atomic<bool>& stop,
                 std::chrono::steady_clock::time_point deadline, Fn fn) -> decltype(fn()) {
  auto delay = std::chrono::milliseconds(250);
  for (;;) {
    auto r = fn();
    if (r || stop || std::chrono::steady_clock::now() >= deadline) return r;
    log::warn("service", std::string(what) + " failed (" + r.error().to_string() + "); retrying");
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace

int run_service(const engine::Config& config, const std::atomic<bool>& stop,
                const ServiceHooks& hooks) {
  using namespace engine;
  log::info("service", std::string("Tyr ") + kVersion + " starting as " + config.bot_user_id() +
                           " for " + config.homeserver.url);
  Store store(config.data_dir);
  ClientOptions copts;
  copts.base_url = config.homeserver.url;
  copts.as_token = config.appservice.as_token;
  HomeserverClient client(copts);

  PolicyBook book(store);
  book.load();
  Bot bot(config, store, client, book);
  // Custom rules (when configured) and the protections, scored together.
  if (auto r = plugins::validate_registry(); !r) {
    log::error("service", "protection registry: " + r.error().message);
    return 1;
  }
  cli::ScoringWiring scoring(config.rules.dir, &book.index(), config.classifier);
  if (config.classifier.enabled) {
    if (auto r = scoring.classifier().load(store); !r)
      log::warn("service",
                "classifier: " + r.error().message + "; relearning from the examples kept");
  }
  EventScorer& scorer = scoring.scorer();
  if (auto r = scorer.reload(); !r) {
    log::error("service", "cannot load the rules: " + r.error().message);
    return 1;
  }
  {
    auto load = [&](std::string_view key) {
      auto v = store.get(Cf::kState, key);
      return v ? nlohmann::json::parse(*v, nullptr, false) : nlohmann::json();
    };
    if (auto r = scoring.protections().restore(load(engine::state_keys::kProtectionSettings),
                                               load(engine::state_keys::kProtectionState));
        !r) {
      log::warn("service", "protection settings or state not restored: " + r.error().message);
    }
  }
  for (const auto& line : scorer.describe()) log::info("service", line);
  bot.set_scorer(&scorer, &scoring.protections(),
                 config.classifier.enabled ? &scoring.classifier() : nullptr);
  Pipeline pipeline(store, bot);
  bot.set_pipeline_poster(
      [&pipeline](std::function<void()> task) { pipeline.post(std::move(task)); });
  Executor executor(store, bot, config.executor.concurrency);
  pipeline.on_committed = [&executor] { executor.notify(); };
  FeedWorker feeds(config, store, bot);
  feeds.on_change = [&executor] { executor.notify(); };
  ClientOptions admin_opts = copts;
  admin_opts.max_attempts = 2;
  HomeserverClient admin_client(admin_opts);
  ReportWorker reports(config, store, admin_client, bot);
  reports.on_change = [&executor] { executor.notify(); };

  // Synapse strands the transaction it makes as it finishes resending (docs/architecture.md):
  // once the resending after a start or an outage has gone quiet, read the rooms' history again.
  std::vector<std::chrono::milliseconds> follow_ups(config.catch_up.follow_ups.begin(),
                                                    config.catch_up.follow_ups.end());
  CatchUpSchedule schedule(
      config.catch_up.enabled ? config.catch_up.settle : std::chrono::milliseconds(0),
      std::move(follow_ups));
  schedule.unsettle(now_ms(), "start");

  AppserviceServer::Hooks as_hooks;
  as_hooks.on_events_accepted = [&pipeline] { pipeline.notify(); };
  as_hooks.provision_user = [&client](const std::string& user_id) {
    std::string local = user_id.substr(1, user_id.find(':') - 1);
    auto r = client.register_appservice_user(local);
    if (!r) log::warn("service", "cannot register " + user_id + ": " + r.error().to_string());
    return static_cast<bool>(r);
  };
  // Events the homeserver never delivered are read back from the rooms' history (catch_up.cpp).
  as_hooks.on_txn_gap = [&bot](int64_t last_ms, const std::string&) {
    bot.request_catch_up(last_ms, "gap in transaction IDs", /*reload_lists=*/true);
  };
  as_hooks.on_transaction = [&schedule](bool resent) {
    const int64_t now = now_ms();
    if (resent) schedule.unsettle(now, "transactions resent");
    schedule.on_transaction(now);
  };
  executor.on_homeserver_back = [&bot, &schedule](int64_t since_ms) {
    bot.request_catch_up(since_ms, "homeserver answering again", /*reload_lists=*/true);
    schedule.unsettle(now_ms(), "homeserver answering again");
  };
  bot.set_on_recovered([&pipeline] { pipeline.notify(); });
  // Outages are noticed even when Tyr has nothing to send: Synapse drops what it had queued in
  // memory for Tyr when it stops.
  ClientOptions probe_opts = copts;
  probe_opts.max_attempts = 1;
  probe_opts.connect_timeout = std::chrono::milliseconds(2000);
  probe_opts.request_timeout = std::chrono::milliseconds(5000);
  HomeserverClient probe_client(probe_opts);
  HomeserverWatch watch(
      [&probe_client] {
        HttpRequest req;
        req.method = "GET";
        req.path = "/_matrix/client/versions";
        return static_cast<bool>(probe_client.call(req));
      },
      [&bot, &executor, &schedule](int64_t since_ms) {
        executor.retry_now();
        bot.request_catch_up(since_ms, "homeserver answering again", /*reload_lists=*/true);
        schedule.unsettle(now_ms(), "homeserver answering again");
      });
  AppserviceServer server(config, store, as_hooks);
  if (!server.start()) return 1;
  bot.set_on_queued([&executor] { executor.notify(); });
  // The inline veto listens from the start: until Tyr is ready it allows (and counts), so the
  // homeserver is never kept waiting on a Tyr that is still loading.
  veto::Server veto_server(config.veto, bot);
  if (config.veto.enabled && !veto_server.start()) return 1;
  // The policy server too: other homeservers may ask before Tyr is ready (while_loading says
  // what it answers then).
  std::unique_ptr<policyserver::ServerKeyCache> server_keys;
  std::unique_ptr<policyserver::Server> policy_server;
  if (config.policy_server.enabled) {
    auto key = policyserver::load_or_create_key(config.policy_server.key_path);
    if (!key) {
      log::error("service", "policy server: " + key.error().to_string());
      return 1;
    }
    policyserver::KeyFetchOptions ko;
    ko.timeout = config.policy_server.key_fetch_timeout;
    ko.verify_tls = config.policy_server.verify_tls;
    ko.server_urls = config.policy_server.server_urls;
    server_keys = std::make_unique<policyserver::ServerKeyCache>(ko);
    policy_server = std::make_unique<policyserver::Server>(
        config.policy_server, std::move(key).value(), bot, *server_keys);
    if (!policy_server->start()) return 1;
    bot.set_policy_server(policy_server.get());
  }

  // Metrics and health. The pipeline's heartbeat is the protections tick it runs every 5 s.
  auto& m = metrics::tyr_metrics();
  std::atomic<int64_t> heartbeat{now_ms()};
  m.inbox_depth.set_callback([&store] { return static_cast<double>(store.inbox_depth()); });
  m.outbox_depth.set_callback([&store] { return static_cast<double>(store.outbox_depth()); });
  m.rules_loaded.set_callback([&scorer] { return static_cast<double>(scorer.rules_loaded()); });
  for (size_t k = 0; k < engine::policy::kEntityKinds; ++k) {
    static constexpr const char* kKinds[] = {"user", "room", "server"};
    m.list_entries.with(kKinds[k]).set_callback(
        [&book, k] { return static_cast<double>(book.index().snapshot()->stats().rules[k]); });
  }
  for (size_t i = 0; i < config.feeds.size(); ++i) {
    m.feed_last_success_timestamp.with(config.feeds[i].name).set_callback([&feeds, i] {
      return static_cast<double>(feeds.last_success_ms(i)) / 1000.0;
    });
  }
  metrics::AdminServer admin(
      config.admin.bind_address, config.admin.port, m.registry,
      [&heartbeat] {
        const int64_t age = now_ms() - heartbeat.load();
        if (age > 30'000)
          return metrics::ProbeResult{false,
                                      "pipeline stalled for " + std::to_string(age / 1000) + " s"};
        return metrics::ProbeResult{true, {}};
      },
      [&bot, &stop] {
        if (stop) return metrics::ProbeResult{false, "stopping"};
        if (!bot.veto_ready())
          return metrics::ProbeResult{false, "starting: joining rooms and loading lists"};
        return metrics::ProbeResult{true, {}};
      });
  if (config.admin.enabled && !admin.start()) return 1;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  auto reg = retry_until("registering the bot user", stop, deadline, [&] {
    return client.register_appservice_user(config.appservice.sender_localpart);
  });
  if (!reg) {
    log::error("service",
               "cannot register " + config.bot_user_id() + ": " + reg.error().to_string());
    return 1;
  }
  auto who = client.whoami();
  if (!who || who.value() != config.bot_user_id()) {
    log::error("service", "the homeserver does not accept Tyr's as_token: " +
                              (who ? "whoami says " + who.value() : who.error().to_string()));
    return 1;
  }
  auto mgmt = retry_until("joining the management room", stop, deadline,
                          [&] { return client.join(config.management.room); });
  if (!mgmt) {
    log::error("service", "cannot join the management room " + config.management.room + ": " +
                              mgmt.error().to_string());
    return 1;
  }
  bot.set_management_room(mgmt.value());
  log::info("service", "management room " + config.management.room + " is " + mgmt.value());

  const auto& stats = server.stats();
  bot.set_status_provider([&] {
    std::vector<std::string> lines{
        "Queues: inbox " + std::to_string(store.inbox_depth()) + ", outbox " +
            std::to_string(store.outbox_depth()),
        "Events: " + std::to_string(pipeline.processed()) + " processed, " +
            std::to_string(pipeline.dead_lettered()) + " dead-lettered; actions " +
            std::to_string(executor.done()) + " done, " + std::to_string(executor.failed()) +
            " failed",
        "Transactions: " + std::to_string(stats.transactions.load()) + " received (" +
            std::to_string(stats.transactions_retried.load()) + " retried); events " +
            std::to_string(stats.events_accepted.load()) + " accepted, " +
            std::to_string(stats.events_duplicate.load()) + " duplicate"};
    if (config.veto.enabled) {
      const auto& vs = veto_server.stats();
      uint64_t n[static_cast<size_t>(veto::Outcome::kCount)] = {};
      for (size_t c = 0; c < static_cast<size_t>(veto::Callback::kCount); ++c) {
        for (size_t o = 0; o < static_cast<size_t>(veto::Outcome::kCount); ++o) {
          n[o] += vs.count(static_cast<veto::Callback>(c), static_cast<veto::Outcome>(o));
        }
      }
      std::string line = "Inline veto:";
      for (size_t o = 0; o < static_cast<size_t>(veto::Outcome::kCount); ++o) {
        line += std::string(o == 0 ? " " : ", ") + std::to_string(n[o]) + " " +
                std::string(veto::outcome_name(static_cast<veto::Outcome>(o)));
      }
      lines.push_back(line + "; " + std::to_string(vs.bad_requests.load()) + " bad requests, " +
                      std::to_string(vs.auth_failures.load()) + " wrong secrets");
    }
    if (policy_server) {
      const auto& ps = policy_server->stats();
      std::string line = "Policy server:";
      for (size_t o = 0; o < static_cast<size_t>(policyserver::Outcome::kCount); ++o) {
        line += std::string(o == 0 ? " " : ", ") +
                std::to_string(ps.count(static_cast<policyserver::Outcome>(o))) + " " +
                std::string(policyserver::outcome_name(static_cast<policyserver::Outcome>(o)));
      }
      lines.push_back(line);
    }
    {
      auto& tm = metrics::tyr_metrics();
      std::string hs = watch.up() && !executor.homeserver_unavailable()
                           ? "answering"
                           : "not answering (queued actions wait for it)";
      lines.push_back(
          "Homeserver: " + hs + "; " + std::to_string(watch.outages()) +
          " outage(s) seen. Catch-up: " + std::to_string(tm.events_recovered.value()) +
          " event(s) found in room history, " + std::to_string(tm.transaction_gaps.value()) +
          " txnId gap(s). Notices held back: " + std::to_string(tm.notices_suppressed.value()));
    }
    for (auto& l : feeds.status()) lines.push_back(std::move(l));
    return lines;
  });
  feeds.restore();
  pipeline.start();
  executor.start();
  feeds.start();
  watch.start();
  if (config.reports.enabled) reports.start();
  {
    // Lists may have changed while Tyr was away: reload each watched list room's state.
    Batch refresh;
    for (const auto& [room, info] : bot.rooms().snapshot()) {
      engine::actions::enqueue(store, refresh, engine::actions::LoadRoomState{room});
    }
    bot.enqueue_list_reloads(refresh);
    if (auto r = store.commit(refresh); !r) log::error("service", r.error().to_string());
    executor.notify();
  }

  // A successful ping makes the homeserver retry its backlog of transactions at once.
  if (auto ping = client.ping_appservice(config.appservice.id); ping) {
    log::info("service", "appservice ping round trip: " + std::to_string(ping.value()) + " ms");
  } else {
    log::warn("service", "appservice ping failed: " + ping.error().to_string());
  }
  // Only Synapse calls the inline veto and asks a policy server (docs/homeservers.md).
  if (auto software = client.server_software(); software) {
    log::info("service", "homeserver: " + *software);
    const bool synapse = software->rfind("Synapse ", 0) == 0;
    if (!synapse && config.veto.enabled) {
      log::warn("service", "veto: " + *software + " never calls it; the inline veto needs Synapse");
    }
    if (!synapse && config.policy_server.enabled) {
      log::warn("service", "policy server: " + *software +
                               " does not ask it; only other servers' Synapses in the rooms will");
    }
  } else {
    log::debug("service", "homeserver software unknown: " + software.error().to_string());
  }
  bot.set_veto_ready(true);
  log::info("service", "ready; protecting " + std::to_string(bot.rooms().size()) + " rooms");
  // What the homeserver sent while Tyr was away arrives as replayed transactions, except what
  // it lost meanwhile: read the rooms' history from the last transaction Tyr stored.
  if (auto last = store.get(Cf::kMeta, "last_txn_ms")) {
    try {
      bot.request_catch_up(std::stoll(*last), "start", /*reload_lists=*/false);
    } catch (const std::exception& e) {
      log::warn("service", std::string("no catch-up at start: ") + e.what());
    }
  } else {
    log::debug("service", "no transaction stored yet: no catch-up at start");
  }
  if (hooks.on_ready) hooks.on_ready(mgmt.value());

  auto next_tick = std::chrono::steady_clock::now();
  const auto catch_up_every = config.catch_up.interval;
  auto next_catch_up = std::chrono::steady_clock::now() + catch_up_every;
  auto next_prune = std::chrono::steady_clock::now();
  const int64_t retention_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.appservice.dedupe_retention)
          .count();
  while (!stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() >= next_prune) {
      // Event IDs and txnIds past the dedupe retention, up to 10,000 every 10 s.
      next_prune = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      if (auto pruned = store.prune_dedupe(now_ms() - retention_ms); !pruned) {
        log::warn("service", "pruning the dedupe index: " + pruned.error().to_string());
      } else if (*pruned > 0) {
        log::debug("service", "forgot " + std::to_string(*pruned) +
                                  " event and transaction IDs past retention");
      }
    }
    if (catch_up_every.count() > 0 && std::chrono::steady_clock::now() >= next_catch_up) {
      next_catch_up = std::chrono::steady_clock::now() + catch_up_every;
      bot.request_catch_up(
          now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(catch_up_every).count(),
          "periodic check", /*reload_lists=*/false);
    }
    for (const auto& pass : schedule.due(now_ms())) {
      bot.request_catch_up(pass.since_ms, pass.why, /*reload_lists=*/false);
    }
    if (std::chrono::steady_clock::now() >= next_tick) {
      // Protections' timers run on the pipeline thread, which owns the scorer.
      next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      pipeline.post([&] {
        heartbeat = now_ms();
        Batch batch;
        bot.tick(batch);
        if (auto r = store.commit(batch); !r) log::error("service", r.error().to_string());
        executor.notify();
      });
    }
    if (hooks.reload != nullptr && hooks.reload->exchange(false)) {
      log::info("service", "reloading rules (SIGHUP)");
      Batch batch;
      bot.reload_rules(batch);
      if (auto r = store.commit(batch); !r) log::error("service", r.error().to_string());
      executor.notify();
    }
  }
  log::info("service", "stopping");
  bot.set_veto_ready(false);
  {
    // Each listener's stop() waits for its idle keep-alive connections to time out: together.
    std::thread veto_stop([&] {
      veto_server.stop();
      if (policy_server) policy_server->stop();
    });
    std::thread admin_stop([&] { admin.stop(); });
    server.stop();
    veto_stop.join();
    admin_stop.join();
  }
  feeds.stop();
  watch.stop();
  reports.stop();
  pipeline.stop();
  executor.stop();
  return 0;
}

}  // namespace tyr::cli
