// Policy room load benchmark (not part of ctest): a /state answer loaded into a PolicyBook
// from its DOM (nlohmann, as before) or streamed from its text (PolicyBook::read_state).
//
//   tyr_policy_state_bench dom|text STATE.json
//
// One way per process, so that each peak is its own. Prints as `key value` lines:
//   body_bytes      size of STATE.json, read into memory first (the answer's body as received)
//   load_ms         parse and PolicyBook::load_state, the write batch built (not committed)
//   commit_ms       committing that batch to a fresh store
//   rules, records  ban/takedown rules loaded; "pstate/" records written
//   rss_before_kib  VmRSS with the body in memory, before the load
//   peak_rss_kib    VmHWM of the process at the end (load and commit included)

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/pipeline/policy_book.hpp"
#include "engine/store/keys.hpp"

using namespace tyr::engine;
using Clock = std::chrono::steady_clock;

namespace {

long status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) return std::strtol(line.c_str() + prefix.size(), nullptr, 10);
  }
  return -1;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[1] : "";
  if (mode != "dom" && mode != "text") {
    std::fprintf(stderr, "usage: tyr_policy_state_bench dom|text STATE.json\n");
    return 2;
  }
  std::string body;
  {
    std::ifstream in(argv[2], std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    body = text.str();
  }
  std::printf("command %s %s %s\n", argv[0], argv[1], argv[2]);
  std::printf("body_bytes %zu\n", body.size());

  char dir_template[] = "/tmp/tyr_state_bench_XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return 2;
  const std::filesystem::path dir = std::filesystem::path(dir_template) / "store";
  size_t records = 0, rules = 0;
  {
    Store store(dir);
    PolicyBook book(store);
    book.load();
    const std::string id = "!bench:example.org";
    Batch batch;
    WatchedList list;
    list.id = id;
    book.watch(batch, list);

    std::printf("rss_before_kib %ld\n", status_kib("VmRSS"));
    const auto t0 = Clock::now();
    if (mode == "dom") {
      const auto state = nlohmann::json::parse(body, nullptr, false);
      if (!state.is_array()) {
        std::fprintf(stderr, "%s: not a JSON array\n", argv[2]);
        return 2;
      }
      (void)book.load_state(batch, id, state);
    } else {
      auto state = PolicyBook::read_state(id, body);
      if (!state.ok) {
        std::fprintf(stderr, "%s: %s\n", argv[2], state.error.c_str());
        return 2;
      }
      (void)book.load_state(batch, id, std::move(state));
    }
    std::printf("load_ms %.1f\n", ms_since(t0));
    const auto t1 = Clock::now();
    if (!store.commit(batch)) return 2;
    std::printf("commit_ms %.1f\n", ms_since(t1));
    for (const size_t count : book.counts(id)) rules += count;
    store.scan(Cf::kState, state_keys::kPolicyState,
               [&](std::string_view, std::string_view) { ++records; });
  }
  std::printf("rules %zu\nrecords %zu\n", rules, records);
  std::printf("peak_rss_kib %ld\n", status_kib("VmHWM"));
  std::filesystem::remove_all(dir_template);
  return 0;
}
