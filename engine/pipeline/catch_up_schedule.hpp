#pragma once
// When to read the rooms' history again because the homeserver has just finished resending.
//
// Synapse can strand the transaction it makes as its recoverer finishes (docs/architecture.md,
// "Stranded transactions"): nothing sends it until the appservice's next outage. Tyr receives
// no sign of it; a later transaction would show a gap in the txnIds, but in a quiet room none
// comes. Tyr does know when a recovery is probably under way: at its own start, when the
// homeserver answers again after an outage, and when a transaction is resent. From such a
// moment the schedule is *unsettled*, and every transaction that arrives keeps it so. Once none
// has arrived for `settle`, the recovery is over and a stranded transaction's events are in the
// rooms' history: one pass reads them, and passes `follow_ups` after that catch what a slow
// homeserver persisted later. A steady stream of transactions (which would show a gap) ends
// the wait after `max_wait`.
//
// Thread-safe: transactions arrive on the appservice listener's threads, outages end on the
// watch's and the executor's, and the service's loop asks for due passes.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tyr::engine {

class CatchUpSchedule {
 public:
  struct Pass {
    int64_t since_ms;  // read history from here (request_catch_up adds its margin)
    std::string why;   // for the log
  };

  // `settle` 0 disables the schedule: unsettle() does nothing.
  CatchUpSchedule(std::chrono::milliseconds settle,
                  std::vector<std::chrono::milliseconds> follow_ups,
                  std::chrono::milliseconds max_wait = std::chrono::seconds(60));

  // The homeserver may be resending from `now_ms` on; `why` names the reason in the log. While
  // unsettled, a later reason keeps the earlier start.
  void unsettle(int64_t now_ms, std::string_view why);
  // A transaction arrived at `now_ms`.
  void on_transaction(int64_t now_ms);
  // The passes due at `now_ms`, each once, oldest first.
  std::vector<Pass> due(int64_t now_ms);
  bool settled() const;

 private:
  struct Window {
    int64_t opened_ms;
    int64_t last_ms;  // the opening or the last transaction since, whichever is later
    std::string why;
  };
  struct FollowUp {
    int64_t at_ms;
    Pass pass;
  };

  const std::chrono::milliseconds settle_;
  const std::vector<std::chrono::milliseconds> follow_ups_;
  const std::chrono::milliseconds max_wait_;
  mutable std::mutex mu_;
  std::optional<Window> window_;
  std::vector<FollowUp> pending_;
};

}  // namespace tyr::engine
