// Policy list load benchmark (not part of ctest); scripts/bench.sh runs it.
//
//   tyr_policy_load_bench LIST.json EVENTS.jsonl
//
// On one thread, prints as `key value` lines:
//   floor_ms        simdjson DOM parse of LIST.json (file read included), best of 3: the floor
//   load_ms         the list streamed into a PolicyList and a PolicyIndex, as `tyr check` loads it
//   read_ms, index_ms  its parts: streaming into the PolicyList; PolicyIndex::replace_list
//   rules           effective rules loaded
//   index_bytes_per_rule   VmRSS growth the loaded index keeps (after malloc_trim), per rule
//   checks_per_s    match_user on the senders of EVENTS.jsonl, repeated for at least 1 s
//   hits            senders matched by at least one rule (of one pass)
//   allocations_per_check   heap allocations per match_user, once warm (operator new counted)

#include <malloc.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include <simdjson.h>

#include "engine/policy/policy_index.hpp"
#include "engine/policy/policy_list.hpp"
#include "engine/policy/state_stream.hpp"

using namespace tyr::engine::policy;
using Clock = std::chrono::steady_clock;

// Every heap allocation of the process, to show that a check makes none.
static std::atomic<size_t> g_allocations{0};

void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

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

double floor_ms(const std::string& path) {
  double best = 1e300;
  simdjson::dom::parser parser;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    simdjson::dom::element doc;
    if (auto err = parser.load(path).get(doc)) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), simdjson::error_message(err));
      std::exit(2);
    }
    best = std::min(best, ms_since(t0));
  }
  return best;
}

// The senders of a JSONL file of events.
std::vector<std::string> senders(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  simdjson::dom::parser parser;
  while (std::getline(in, line)) {
    simdjson::dom::element ev;
    std::string_view sender;
    if (parser.parse(line).get(ev) || ev["sender"].get(sender)) continue;
    out.emplace_back(sender);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tyr_policy_load_bench LIST.json EVENTS.jsonl\n");
    return 2;
  }
  const std::string list_path = argv[1];
  const std::vector<std::string> users = senders(argv[2]);
  std::printf("command %s %s %s\n", argv[0], argv[1], argv[2]);
  std::printf("floor_ms %.1f\n", floor_ms(list_path));

  malloc_trim(0);
  const long rss0 = rss_kib();
  PolicyIndex index;
  const auto t0 = Clock::now();
  size_t rules_loaded = 0;
  {
    PolicyList list(list_path);
    std::string list_id = list_path;
    auto read = read_state_events_file(list_path, [&](size_t, const PolicyEventFacts* facts) {
      if (!facts) return;
      if (list_id == list_path && facts->room_id.is_string()) list_id = facts->room_id.value;
      if (auto parsed = policy_event_from_facts(*facts, list_path)) list.load(std::move(*parsed));
    });
    if (!read.ok) {
      std::fprintf(stderr, "%s: %s\n", list_path.c_str(), read.error.c_str());
      return 2;
    }
    std::printf("read_ms %.1f\n", ms_since(t0));
    auto rules = list.take_effective_block(list_id);
    rules_loaded = rules->size();
    const auto t_index = Clock::now();
    index.replace_list(list_id, std::move(rules));
    std::printf("index_ms %.1f\n", ms_since(t_index));
  }
  std::printf("load_ms %.1f\n", ms_since(t0));
  malloc_trim(0);
  std::printf("rules %zu\n", rules_loaded);
  std::printf("index_bytes_per_rule %.0f\n",
              static_cast<double>(rss_kib() - rss0) * 1024.0 / static_cast<double>(rules_loaded));

  auto snap = index.snapshot();
  std::vector<PolicyRuleRef> out;
  size_t hits = 0, checks = 0;
  for (const auto& u : users) {
    out.clear();
    snap->match_user(u, out);
    hits += !out.empty();
  }
  const size_t allocations_before = g_allocations.load();
  const auto t1 = Clock::now();
  do {
    for (const auto& u : users) {
      out.clear();
      snap->match_user(u, out);
    }
    checks += users.size();
  } while (ms_since(t1) < 1000.0 && !users.empty());
  std::printf("checks_per_s %.0f\n", static_cast<double>(checks) / (ms_since(t1) / 1000.0));
  std::printf("allocations_per_check %.3f\n",
              static_cast<double>(g_allocations.load() - allocations_before) /
                  static_cast<double>(std::max<size_t>(checks, 1)));
  std::printf("hits %zu of %zu\n", hits, users.size());
  return 0;
}
