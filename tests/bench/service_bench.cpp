// The service's event → verdict path, in process (not part of ctest).
//
//   tyr_service_bench [EVENTS.jsonl] [N] [RULES_DIR] [EVENTS_PER_TXN] [SENDERS] [STORE_PARENT]
//     defaults: ../shared/data/sms-spam/train.jsonl, N = 20000, rules/default, 20, 5000, the
//     system's temp directory
//
// What the service does with an appservice transaction, without a homeserver: the body goes
// through AppserviceServer::handle (parsed, each event stored in the inbox of a real RocksDB in
// a temp dir, one synced batch per transaction); then the real Pipeline worker drains the inbox
// (parse of each stored event, the bot's event router, the scoring stage with the rules of
// RULES_DIR, the default protections and the classifier wired as cli/service.cpp wires them,
// actions queued in the outbox, one synced batch per 64 events). The executor does not run, so
// nothing calls the network. Events cycle through the corpus with 500 senders in 50 protected
// rooms (each sender in one room) 100 ms apart, with unique event IDs.
//
// Printed: events/s, CPU time (all threads) and heap allocations per event (global operator new
// replaced) for the store phase and the pipeline phase, the same per part for scoring alone (the
// EventScorer on DOMs parsed beforehand) and nlohmann parse alone, and what was queued (actions by
// kind, audit entries) with a digest of the outbox and of the audit entries without their times,
// which must stay the same when the hot path changes.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include <pthread.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/scoring_wiring.hpp"
#include "engine/appservice/appservice_server.hpp"
#include "engine/client/homeserver_client.hpp"
#include "engine/config/config.hpp"
#include "engine/core/digest.hpp"
#include "engine/core/log.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/pipeline.hpp"
#include "engine/pipeline/policy_book.hpp"
#include "engine/store/store.hpp"
#include "plugins/registry.hpp"

namespace {

std::atomic<uint64_t> g_allocs{0};

}  // namespace

// Counting replacements of the global allocation functions (every thread: the pipeline worker
// and RocksDB's allocate here too). GCC pairs the inlined malloc/free of this file with
// new/delete expressions and warns; the pairing is correct by construction.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using namespace tyr;
using namespace tyr::engine;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// CPU time of the whole process (every thread: the pipeline worker, RocksDB's), in seconds.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// A phase's wall time, CPU time and allocations since construction.
struct Phase {
  Clock::time_point wall = Clock::now();
  double cpu = cpu_seconds();
  uint64_t allocs = g_allocs.load();

  void print(const char* name, size_t n) const {
    const double secs = seconds_since(wall), cpu_s = cpu_seconds() - cpu;
    const double per = 1e6 / static_cast<double>(n);
    std::printf(
        "  %-36s %8.0f events/s  %7.2f us/event  CPU %7.2f us/event  %6.1f "
        "allocations/event\n",
        name, static_cast<double>(n) / secs, secs * per, cpu_s * per,
        static_cast<double>(g_allocs.load() - allocs) / static_cast<double>(n));
  }
};

// The corpus's events, made unique and spread over senders and rooms (the label dropped).
std::vector<nlohmann::json> make_events(const fs::path& corpus, size_t n, size_t senders) {
  std::vector<nlohmann::json> base;
  std::ifstream in(corpus);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    j.erase("label");
    base.push_back(std::move(j));
  }
  if (base.empty()) {
    std::fprintf(stderr, "no events in %s\n", corpus.c_str());
    std::exit(2);
  }
  std::vector<nlohmann::json> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    nlohmann::json e = base[i % base.size()];
    e["event_id"] = "$bench" + std::to_string(i);
    e["room_id"] = "!room" + std::to_string(i % 50) + ":example.org";
    e["sender"] = "@user" + std::to_string((i * 7919) % senders) + ":example.org";
    e["origin_server_ts"] = int64_t{1'700'000'000'000} + static_cast<int64_t>(i) * 100;
    out.push_back(std::move(e));
  }
  return out;
}

// What the pipeline queued: actions by kind and audit entries, with digests of both (audit
// entries without their times).
void print_effects(const Store& store) {
  std::map<std::string, size_t> kinds;
  Sha256Builder outbox, audit;
  size_t audits = 0;
  store.scan(Cf::kOutbox, "", [&](std::string_view, std::string_view value) {
    outbox.update(value).update("\n");
    auto j = nlohmann::json::parse(value, nullptr, false);
    ++kinds[j.is_object() ? j.value("kind", "?") : "?"];
  });
  store.scan(Cf::kAudit, "t/", [&](std::string_view, std::string_view value) {
    auto j = nlohmann::json::parse(value, nullptr, false);
    if (j.is_object()) {
      j.erase("ts");
      j.erase("ts_ms");
      j.erase("seq");
    }
    audit.update(j.dump()).update("\n");
    ++audits;
  });
  std::printf("  queued:");
  for (const auto& [kind, count] : kinds) std::printf(" %zu %s", count, kind.c_str());
  std::printf("; %zu audit entries\n", audits);
  std::printf("  outbox digest %s\n  audit digest  %s\n", to_hex(outbox.finish()).c_str(),
              to_hex(audit.finish()).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path corpus = argc > 1 ? argv[1] : "../shared/data/sms-spam/train.jsonl";
  const size_t n = argc > 2 ? std::stoul(argv[2]) : 20000;
  const fs::path rules_dir = fs::absolute(argc > 3 ? argv[3] : "rules/default");
  const size_t per_txn = argc > 4 ? std::max<size_t>(1, std::stoul(argv[4])) : 20;
  const size_t senders = argc > 5 ? std::max<size_t>(1, std::stoul(argv[5])) : 5000;
  const fs::path parent = argc > 6 ? fs::path(argv[6]) : fs::temp_directory_path();
  log::set_level(log::Level::kWarn);

  std::printf("tyr_service_bench %s %zu %s %zu %zu\n", corpus.c_str(), n, rules_dir.c_str(),
              per_txn, senders);
  const std::vector<nlohmann::json> events = make_events(corpus, n, senders);
  std::vector<std::string> bodies;
  size_t body_bytes = 0;
  for (size_t i = 0; i < n; i += per_txn) {
    nlohmann::json txn = {{"events", nlohmann::json::array()}};
    for (size_t k = i; k < std::min(n, i + per_txn); ++k) txn["events"].push_back(events[k]);
    bodies.push_back(txn.dump());
    body_bytes += bodies.back().size();
  }
  std::printf(
      "  %zu events in %zu transactions (%.0f bytes of JSON per event), %zu senders "
      "in 50 protected rooms\n",
      n, bodies.size(), static_cast<double>(body_bytes) / static_cast<double>(n), senders);

  char tmpl[4096];
  std::snprintf(tmpl, sizeof tmpl, "%s/tyr-service-bench-XXXXXX", parent.c_str());
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("mkdtemp");
    return 2;
  }
  const fs::path dir = tmpl;
  {
    Config config;
    config.homeserver.server_name = "hs";
    config.homeserver.url = "http://127.0.0.1:1";  // never called: the executor does not run
    config.management.room = "!mgmt:hs";
    config.management.operators = {"@op:hs"};
    config.appservice.hs_token = "bench-hs-token-0123456789abcdef0123456789";
    config.rules.dir = rules_dir;

    Store store(dir / "db");
    ClientOptions options{config.homeserver.url, "t"};
    options.max_attempts = 1;
    HomeserverClient client(options);
    PolicyBook book(store);
    book.load();
    Bot bot(config, store, client, book);
    bot.set_management_room(config.management.room);
    for (int r = 0; r < 50; ++r) bot.rooms().add("!room" + std::to_string(r) + ":example.org", {});
    if (auto r = plugins::validate_registry(); !r) {
      std::fprintf(stderr, "protection registry: %s\n", r.error().message.c_str());
      return 2;
    }
    auto t = Clock::now();
    cli::ScoringWiring scoring(config.rules.dir, &book.index(), config.classifier);
    if (auto r = scoring.scorer().reload(); !r) {
      std::fprintf(stderr, "rules: %s\n", r.error().message.c_str());
      return 2;
    }
    bot.set_scorer(&scoring.scorer(), &scoring.protections(),
                   config.classifier.enabled ? &scoring.classifier() : nullptr);
    std::printf("  rules loaded in %.2f s: %s\n", seconds_since(t),
                scoring.scorer().describe().front().c_str());

    // Store: the appservice transaction handler, as the HTTP server calls it.
    AppserviceServer appservice(config, store, {});
    std::printf("phases (the store phase on this thread, the pipeline on its worker):\n");
    const Phase store_phase;
    for (size_t i = 0; i < bodies.size(); ++i) {
      AppserviceRequest req;
      req.method = "PUT";
      req.path = "/_matrix/app/v1/transactions/" + std::to_string(i + 1);
      req.authorization = "Bearer " + config.appservice.hs_token;
      req.body = bodies[i];
      if (auto resp = appservice.handle(req); resp.status != 200) {
        std::fprintf(stderr, "transaction %zu: %d %s\n", i + 1, resp.status, resp.body.c_str());
        return 1;
      }
    }
    store_phase.print("transaction -> stored", n);
    if (appservice.stats().events_accepted != n) {
      std::fprintf(stderr, "only %llu events accepted\n",
                   static_cast<unsigned long long>(appservice.stats().events_accepted.load()));
      return 1;
    }

    // Pipeline: the real worker drains the inbox.
    Pipeline pipeline(store, bot);
    // Named for `perf report --comms tyr-pipeline`.
    pipeline.post([] { pthread_setname_np(pthread_self(), "tyr-pipeline"); });
    const Phase pipeline_phase;
    pipeline.start();
    pipeline.notify();
    while (pipeline.processed() + pipeline.dead_lettered() < n) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    pipeline_phase.print("stored -> verdict, acted (pipeline)", n);
    pipeline.stop();
    if (pipeline.dead_lettered() != 0) {
      std::fprintf(stderr, "%llu events dead-lettered\n",
                   static_cast<unsigned long long>(pipeline.dead_lettered()));
      return 1;
    }

    print_effects(store);

    // Parts of the pipeline phase, alone on this thread.
    std::vector<std::string> lines;
    lines.reserve(n);
    for (const auto& e : events) lines.push_back(e.dump());
    std::vector<nlohmann::json> parsed(n);
    std::printf("parts, alone on this thread:\n");
    {
      const Phase parse_phase;
      for (size_t i = 0; i < n; ++i) parsed[i] = nlohmann::json::parse(lines[i]);
      parse_phase.print("nlohmann parse of a stored event", n);
    }
    // The scorer again on the same events (its rate windows and protections' state carry on
    // from the pipeline phase; verdicts are not acted on).
    RoomFacts facts;
    size_t acting = 0;
    const Phase score_phase;
    for (size_t i = 0; i < n; ++i) {
      const EventVerdict v =
          scoring.scorer().score(parsed[i], parsed[i]["origin_server_ts"].get<int64_t>(), facts);
      acting += v.action != Action::kAllow;
    }
    score_phase.print("EventScorer::score on the DOM", n);
    std::printf("  (%zu of %zu verdicts acting)\n", acting, n);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
