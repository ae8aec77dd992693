// Metrics hot-path benchmark (not part of ctest).
//
//   tyr_metrics_bench [iterations]        default: 20000000
//
// Single thread, uncontended: ns per Counter::inc, Histogram::observe (17 buckets, values spread
// over all of them), Family::with() lookups of existing children (fixed label, capped two-label,
// and a value folded into "other"), ScopedTimer, and one render of Tyr's full registry. Each
// figure is the best of 5 runs. Also counts heap allocations made inside the timed loops, which
// must be 0.

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "engine/metrics/metrics.hpp"
#include "engine/metrics/tyr_metrics.hpp"

namespace {

std::atomic<uint64_t> g_allocations{0};

}  // namespace

// Counting replacements for the global allocator: this binary only.
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace tyr::engine::metrics;
using Clock = std::chrono::steady_clock;

namespace {

template <class F>
double best_ns_per_op(uint64_t iterations, uint64_t& allocations, F body) {
  double best = 1e300;
  for (int run = 0; run < 5; ++run) {
    const uint64_t before = g_allocations.load();
    const auto t0 = Clock::now();
    for (uint64_t i = 0; i < iterations; ++i) body(i);
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    allocations += g_allocations.load() - before;
    best = std::min(best, ns / static_cast<double>(iterations));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000000;
  std::printf("command: %s %llu\n", argv[0], static_cast<unsigned long long>(n));
  std::printf("iterations per run: %llu, best of 5 runs, one thread\n\n",
              static_cast<unsigned long long>(n));

  TyrMetrics& m = tyr_metrics();
  // Spread observations over every bucket of the 5 µs … 1 s histogram.
  std::vector<double> values(1024);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = 3e-6 * std::pow(1.013, static_cast<double>(i));
  }
  const std::string rule = "spam.links";
  m.rule_hits.with(rule, kEnforced).inc();  // create the child before timing
  const std::string unknown_type = "com.example.unknown";
  m.events_received.with(unknown_type).inc();

  uint64_t allocations = 0;
  struct Row {
    const char* what;
    double ns;
  };
  std::vector<Row> rows;
  rows.push_back({"Counter::inc", best_ns_per_op(n, allocations, [&](uint64_t) {
                    m.transactions_received.inc();
                  })});
  rows.push_back(
      {"Histogram::observe (17 buckets)", best_ns_per_op(n, allocations, [&](uint64_t i) {
         m.event_verdict_duration.observe(values[i & 1023]);
       })});
  rows.push_back({"Family::with(fixed).inc  {type}", best_ns_per_op(n, allocations, [&](uint64_t) {
                    m.events_received.with("m.room.message").inc();
                  })});
  rows.push_back(
      {"Family::with(capped, fixed).inc  {rule,mode}",
       best_ns_per_op(n, allocations, [&](uint64_t) { m.rule_hits.with(rule, kEnforced).inc(); })});
  rows.push_back({"Family::with(unknown -> other).inc",
                  best_ns_per_op(n, allocations,
                                 [&](uint64_t) { m.events_received.with(unknown_type).inc(); })});
  rows.push_back(
      {"ScopedTimer (2 clock reads + observe)", best_ns_per_op(n / 4, allocations, [&](uint64_t) {
         ScopedTimer t(m.veto_duration.with("user_may_invite"));
       })});
  for (const auto& r : rows) std::printf("%-48s %7.2f ns/op\n", r.what, r.ns);
  std::printf("%-48s %7llu\n", "heap allocations in the timed loops",
              static_cast<unsigned long long>(allocations));

  std::string out;
  const auto t0 = Clock::now();
  constexpr int kRenders = 200;
  for (int i = 0; i < kRenders; ++i) {
    out.clear();
    m.registry.render(out);
  }
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kRenders;
  std::printf("%-48s %7.1f us (%zu bytes)\n", "Registry::render (all Tyr metrics)", us, out.size());
  return allocations == 0 ? 0 : 1;
}
