// Store commit benchmark (not part of ctest).
//
//   tyr_store_commit_bench [commits per thread] [threads...]   default: 400 1 4
//
// Synced Store::commit calls shaped like an executor lane's: each batch completes one action
// (deletes its outbox key, writes a state key and an audit entry) and queues a follow-up (an
// outbox put under a fresh sequence). Every thread commits its own batches one after another,
// as a lane does; figures are commits per second over all threads, best of 3 runs, each run on
// a fresh store under the system temp dir (so the disk and its fsync cost set the figures).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/config/config.hpp"
#include "engine/store/store.hpp"

using tyr::engine::Batch;
using tyr::engine::Cf;
using tyr::engine::Priority;
using tyr::engine::Store;
using Clock = std::chrono::steady_clock;

namespace {

double commits_per_second(int threads, int per_thread) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tyr_store_bench_" + tyr::engine::random_token());
  double rate = 0;
  {
    Store store(dir);
    std::vector<std::thread> workers;
    std::vector<int> failures(static_cast<size_t>(threads), 0);
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&store, &failures, t, per_thread] {
        const std::string room = "!room" + std::to_string(t) + ":bench";
        std::string done;  // the action this batch completes: the previous one's follow-up
        for (int i = 0; i < per_thread; ++i) {
          Batch batch;
          if (!done.empty()) batch.del(Cf::kOutbox, done);
          const uint64_t seq = store.enqueue_action(
              batch, R"({"kind":"notice","room":")" + room + R"(","body":"done"})",
              Priority::kNotice);
          done = static_cast<char>(Priority::kNotice) + tyr::engine::encode_seq(seq);
          batch.put(Cf::kState, "bench/" + room + "/" + std::to_string(i), "x");
          batch.put(Cf::kAudit, "t/" + tyr::engine::encode_seq(store.next_audit_seq()),
                    R"({"action":"ban"})");
          if (!store.commit(batch)) ++failures[static_cast<size_t>(t)];
        }
      });
    }
    for (auto& w : workers) w.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    int failed = 0;
    for (int f : failures) failed += f;
    if (failed > 0) std::fprintf(stderr, "%d commits failed\n", failed);
    rate = threads * per_thread / s;
  }
  std::filesystem::remove_all(dir);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  const int per_thread = argc > 1 ? std::atoi(argv[1]) : 400;
  std::vector<int> thread_counts;
  for (int i = 2; i < argc; ++i) thread_counts.push_back(std::atoi(argv[i]));
  if (thread_counts.empty()) thread_counts = {1, 4};
  std::printf("tyr_store_commit_bench %d", per_thread);
  for (int t : thread_counts) std::printf(" %d", t);
  std::printf("\n%d synced commits per thread, temp dir %s\n", per_thread,
              std::filesystem::temp_directory_path().c_str());
  for (int threads : thread_counts) {
    double best = 0;
    for (int run = 0; run < 3; ++run)
      best = std::max(best, commits_per_second(threads, per_thread));
    std::printf("threads %d: %.0f commits/s\n", threads, best);
  }
  return 0;
}
