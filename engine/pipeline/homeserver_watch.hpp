#pragma once
// Notices when the homeserver goes away and comes back, whether or not Tyr has anything to send
// it. Synapse loses the events it had queued in memory for an appservice when it stops
// (element-hq/synapse#11637); an outage is therefore a reason to read the rooms' recent history
// (catch-up) once the homeserver answers again. A background thread probes every `period`
// (GET /_matrix/client/versions, one attempt, short timeouts).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace tyr::engine {

class HomeserverWatch {
 public:
  // `probe` returns true when the homeserver answered. `on_back` gets the wall-clock time (ms)
  // of the first failed probe of the outage that just ended; called on the watch's thread.
  HomeserverWatch(std::function<bool()> probe, std::function<void(int64_t since_ms)> on_back,
                  std::chrono::milliseconds period = std::chrono::seconds(5));
  ~HomeserverWatch();
  HomeserverWatch(const HomeserverWatch&) = delete;
  HomeserverWatch& operator=(const HomeserverWatch&) = delete;

  void start();
  void stop();
  bool up() const { return down_since_ms_.load() == 0; }
  uint64_t outages() const { return outages_.load(); }

  // One probe and its consequences, on the caller's thread (the loop calls this; tests too).
  void check(int64_t now_ms);

 private:
  std::function<bool()> probe_;
  std::function<void(int64_t)> on_back_;
  std::chrono::milliseconds period_;
  std::atomic<int64_t> down_since_ms_{0};
  std::atomic<uint64_t> outages_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tyr::engine
