// Policy index benchmark (not part of ctest).
//
//   tyr_policy_bench [N ...]        default: 10000 100000
//
// For each N: a rule mix of 60% literal users, 10% user globs, 15% literal servers, 10% server
// globs, 5% MSC4205-hashed users, all in one list; prints build time, the VmRSS growth, the
// match_user throughput on one thread (10^5 checks, hits and misses mixed) and the latency of
// incremental updates.

#include <malloc.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/core/digest.hpp"
#include "engine/policy/policy_index.hpp"

using namespace tyr::engine::policy;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kList = "!bench:example.org";

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

PolicyRule rule(EntityKind kind, std::string key, std::string entity) {
  PolicyRule r;
  r.list = kList;
  r.kind = kind;
  r.state_key = std::move(key);
  r.entity = std::move(entity);
  r.recommendation_raw = "m.ban";
  r.recommendation = Recommendation::kBan;
  r.reason = "spam";
  return r;
}

std::string n(size_t i) { return std::to_string(i); }

// Concatenation without `"literal" + std::string&&` (GCC 12 -O3 -Wrestrict false positive).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  (s.append(parts), ...);
  return s;
}

struct Workload {
  std::vector<PolicyRule> rules;
  std::vector<std::string> queries;
};

// Rule i of each share is numbered i; queries hit random rules of each share or miss.
Workload make_workload(size_t total, size_t queries, uint32_t seed) {
  Workload w;
  const size_t lit_users = total * 60 / 100, user_globs = total * 10 / 100,
               lit_servers = total * 15 / 100, server_globs = total * 10 / 100,
               hashed = total - lit_users - user_globs - lit_servers - server_globs;
  for (size_t i = 0; i < lit_users; ++i) {
    w.rules.push_back(rule(EntityKind::kUser, cat("u", n(i)),
                           cat("@user", n(i), ":host", n(i % 1000), ".example")));
  }
  for (size_t i = 0; i < user_globs; ++i) {
    w.rules.push_back(
        rule(EntityKind::kUser, cat("ug", n(i)),
             i % 2 ? cat("@*:evil-", n(i), ".example") : cat("@spam", n(i), "*:example.org")));
  }
  for (size_t i = 0; i < lit_servers; ++i) {
    w.rules.push_back(rule(EntityKind::kServer, cat("s", n(i)), cat("server-", n(i), ".example")));
  }
  for (size_t i = 0; i < server_globs; ++i) {
    w.rules.push_back(rule(EntityKind::kServer, cat("sg", n(i)), cat("*.bad-", n(i), ".example")));
  }
  for (size_t i = 0; i < hashed; ++i) {
    PolicyRule r = rule(EntityKind::kUser, cat("h", n(i)), "");
    r.sha256 = tyr::to_base64(tyr::sha256(cat("@hashed", n(i), ":example.net")));
    w.rules.push_back(std::move(r));
  }

  std::mt19937 rng(seed);
  auto pick = [&](size_t k) { return static_cast<size_t>(rng() % k); };
  for (size_t q = 0; q < queries; ++q) {
    const size_t r = pick(100);
    if (r < 25) {
      const size_t i = pick(lit_users);
      w.queries.push_back(cat("@User", n(i), ":host", n(i % 1000), ".example"));
    } else if (r < 35) {
      const size_t i = pick(user_globs);
      w.queries.push_back(i % 2 ? cat("@anyone:evil-", n(i), ".example")
                                : cat("@spam", n(i), "bot:example.org"));
    } else if (r < 45) {
      w.queries.push_back(cat("@someone", n(q), ":server-", n(pick(lit_servers)), ".example:8448"));
    } else if (r < 55) {
      w.queries.push_back(cat("@someone:node", n(q), ".bad-", n(pick(server_globs)), ".example"));
    } else if (r < 60) {
      w.queries.push_back(cat("@hashed", n(pick(hashed)), ":example.net"));
    } else {
      w.queries.push_back(cat("@user", n(q), "x:clean-", n(q % 5000), ".example.org"));
    }
  }
  return w;
}

// match_user over all queries on one snapshot; returns (lookups/s, rules matched).
std::pair<double, size_t> throughput(const PolicyIndex& index, const std::vector<std::string>& qs) {
  auto snap = index.snapshot();
  std::vector<PolicyRuleRef> out;
  size_t matched = 0;
  for (size_t i = 0; i < 1000 && i < qs.size(); ++i) snap->match_user(qs[i], out);  // warm-up
  const auto t0 = Clock::now();
  for (const std::string& q : qs) {
    out.clear();
    snap->match_user(q, out);
    matched += out.size();
  }
  return {static_cast<double>(qs.size()) / (ms_since(t0) / 1000.0), matched};
}

void run(size_t total) {
  constexpr size_t kQueries = 100000;
  Workload w = make_workload(total, kQueries, 42);

  malloc_trim(0);
  const long rss0 = rss_kib();
  PolicyIndex index;
  auto t0 = Clock::now();
  index.replace_list(kList, w.rules);
  index.compact();  // literal and hashed tables below the delta limit are built too
  const double build_ms = ms_since(t0);
  const long rss1 = rss_kib();
  malloc_trim(0);  // what stays once the build's temporaries are given back
  const long rss2 = rss_kib();
  const PolicyIndexStats s = index.stats();

  std::printf(
      "N=%zu rules: users %zu, servers %zu | literals %zu, globs %zu, hashes %zu, "
      "hyperscan factors %zu\n",
      total, s.rules[0], s.rules[2], s.literals, s.globs, s.hashes, s.hyperscan_factors);
  std::printf(
      "  build (replace_list + compact): %.1f ms, VmRSS +%.1f MiB (+%.1f MiB after "
      "malloc_trim)\n",
      build_ms, static_cast<double>(rss1 - rss0) / 1024.0,
      static_cast<double>(rss2 - rss0) / 1024.0);

  auto [rate, matched] = throughput(index, w.queries);
  std::printf("  match_user: %zu checks, %zu rules matched, %.0f lookups/s (%.0f ns each)\n",
              w.queries.size(), matched, rate, 1e9 / rate);

  // Incremental updates, one diff per call, each publishing a snapshot.
  constexpr int kOps = 100;
  std::vector<double> add_us, remove_us, remove_glob_us;
  for (int i = 0; i < kOps; ++i) {
    PolicyRule g =
        rule(EntityKind::kUser, cat("new-glob-", n(i)), cat("@fresh", n(i), "*:spam.example"));
    auto t = Clock::now();
    index.apply(ListDiff{std::nullopt, g});
    add_us.push_back(ms_since(t) * 1000);
  }
  for (int i = 0; i < kOps; ++i) {
    PolicyRule r = rule(EntityKind::kUser, cat("u", n(static_cast<size_t>(i) * 7)), "");
    auto t = Clock::now();
    index.apply(ListDiff{r, std::nullopt});
    remove_us.push_back(ms_since(t) * 1000);
  }
  for (int i = 0; i < kOps; ++i) {
    PolicyRule r = rule(EntityKind::kServer, cat("sg", n(static_cast<size_t>(i) * 3)), "");
    auto t = Clock::now();
    index.apply(ListDiff{r, std::nullopt});
    remove_glob_us.push_back(ms_since(t) * 1000);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto maxof = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  std::printf(
      "  apply one added user glob: median %.1f us, max %.1f us (delta of up to %d "
      "globs)\n",
      median(add_us), maxof(add_us), kOps);
  std::printf("  apply one removed literal user: median %.1f us, max %.1f us\n", median(remove_us),
              maxof(remove_us));
  std::printf("  apply one removed server glob: median %.1f us, max %.1f us\n",
              median(remove_glob_us), maxof(remove_glob_us));
  const PolicyIndexStats s2 = index.stats();
  auto [rate_delta, matched_delta] = throughput(index, w.queries);
  std::printf(
      "  match_user with %zu rules in deltas and %zu tombstones: %.0f lookups/s (%zu "
      "matched)\n",
      s2.delta, s2.tombstones, rate_delta, matched_delta);

  t0 = Clock::now();
  index.compact();
  std::printf("  merge (compact: rebuild the tables with a delta or tombstones): %.1f ms\n",
              ms_since(t0));
  auto [rate_after, matched_after] = throughput(index, w.queries);
  std::printf("  match_user after merge: %.0f lookups/s (%zu matched)\n", rate_after,
              matched_after);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoull(argv[i], nullptr, 10));
  if (sizes.empty()) sizes = {10000, 100000};
  std::printf("command:");
  for (int i = 0; i < argc; ++i) std::printf(" %s", argv[i]);
  std::printf("\n");
  for (size_t n_rules : sizes) run(n_rules);
  return 0;
}
