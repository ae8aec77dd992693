#pragma once
// The pipeline's scoring stage: events in protected rooms scored by the custom rules and
// protections (an EventScorer), and what follows from the verdict (a notice, a redaction, a kick
// or ban, or a refusal at the inline veto), queued in the event's batch. Also what hosts the
// protections needs from the pipeline: membership changes and timers handed to them, the actions
// they request queued, their state saved, and the rooms' state read on first use.
//
// The bot hands events here; the stage never calls the homeserver (it queues executor actions)
// and needs from the bot only what ScoringOutlet names, so it is built without one in tests.
// Pipeline thread only, except counts() and verdict_line() (atomics).

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/classifier/classifier.hpp"
#include "engine/config/config.hpp"
#include "engine/core/scorer.hpp"
#include "engine/pipeline/room_state.hpp"
#include "engine/protection/host.hpp"
#include "engine/store/store.hpp"

namespace tyr::engine {

// A score as notices and replies show it: "7.0".
std::string format_score(double score);

// What the stage asks of the bot around it.
struct ScoringOutlet {
  // Operators, Tyr itself and allowlisted users and servers: never acted on.
  std::function<bool(const std::string& user)> is_exempt;
  // An unsolicited notice in the management room, within the notice budget.
  std::function<void(Batch&, std::string_view category, const std::string& body)> notice;
  // An audit-trail entry for what was done or would have been (mode shadow, dry_run or veto).
  std::function<void(Batch&, const nlohmann::json& action, std::string_view what,
                     std::string_view mode)>
      audit;
};

class ScoringStage {
 public:
  ScoringStage(const Config& config, Store& store, RoomStateCache& room_state,
               ScoringOutlet outlet);

  // Custom rules and protections; either may stay null (then that part does nothing). Both must
  // outlive the stage.
  void attach(EventScorer* scorer, protection::Host* protections);
  // The classifier the scorer folds in (may stay null): what the stage shows it (messages, for
  // learning later) and what moderators do that teaches it (redactions, bans). Must outlive the
  // stage.
  void attach_classifier(classifier::Classifier* c) { classifier_ = c; }
  classifier::Classifier* classifier() const { return classifier_; }
  bool active() const { return scorer_ != nullptr; }
  EventScorer* scorer() const { return scorer_; }
  protection::Host* protections() const { return protections_; }

  // A message event (not state) in a protected room, from the appservice: scored, or the
  // verdict made for the inline veto reused (it was counted then), and acted on.
  void on_event(const nlohmann::json& event, std::chrono::steady_clock::time_point started,
                Batch& batch);
  // A membership change in a protected room, for the protections (and a ban with a reason, for
  // the classifier).
  void on_membership(const nlohmann::json& event, Batch& batch);
  // A redaction in a protected room, Tyr's own included (`by_tyr`): for the classifier, a
  // moderator's redaction of another user's message is a spam example, and a redacted message
  // is never ham.
  void on_redaction(const nlohmann::json& event, bool by_tyr, Batch& batch);
  // The inline veto of a message from a non-exempt sender: true when it is refused (its score
  // reached the reject threshold, not in dry run; the refusal is noticed, audited and a kick or
  // ban queued). Otherwise the verdict is kept for the same event's arrival by transaction.
  // `gate` names who asked in the audit trail: "veto" (the inline veto) or "policy_server".
  bool veto(const nlohmann::json& event, Batch& batch, std::string_view gate = "veto");
  // Periodic work: protections' timers, the actions they ask for, their state saved.
  void tick(Batch& batch);
  // `protections …`: the reply; changed settings are saved in `batch`.
  std::string protections_command(const std::vector<std::string>& args, Batch& batch);

  // Asks the executor to read a protected room's state on first use (the event path never
  // waits on the network); until it arrives, and a minute after a failure, facts are unknown.
  void ensure_room_state(const std::string& room, Batch& batch);
  // The room's state arrived (the cache was loaded): a later miss asks again at once.
  void room_state_loaded(const std::string& room) { room_state_asked_.erase(room); }

  // Fresh verdicts by action (allow, notify, redact, kick, ban) and how often shadow rules
  // would have done more; "Verdicts: 1 notify, … ban; shadow rules would have acted N times".
  std::array<uint64_t, kActions> counts() const;
  uint64_t shadow_counts() const { return shadow_verdicts_.load(); }
  std::string verdict_line() const;

 private:
  void count_verdict(const EventVerdict& v, std::chrono::steady_clock::time_point started);
  // Notice, kick/ban and (unless the event was refused before it was stored) redaction.
  void act_on_verdict(const nlohmann::json& event, const EventVerdict& v, bool refused,
                      Batch& batch, std::string_view gate = "veto");
  // Queues what the protections asked for (exempt users are left alone).
  void enqueue_requested(Batch& batch);
  void remember_vetted(const std::string& event_id, const EventVerdict& v);

  // One incident per (room, sender): an acting verdict (redact, kick, ban) or a protection's kick
  // or ban opens it, and it lasts until the sender has sent nothing for kIncidentMs. It gets one
  // notice; what else the sender does within it is removed quietly and counted. A kick or ban
  // incident also removes the burst (their messages of the last kBurstSeconds) and, until it
  // ends, refuses (inline veto) or redacts everything the sender sends.
  struct Incident {
    int64_t last_ms = 0;
    Action level = Action::kAllow;
    uint32_t removed = 0;  // messages removed quietly since it opened
    std::string reason;    // the public reason of its action
  };
  static constexpr int64_t kIncidentMs = 120'000;
  static constexpr int64_t kBurstSeconds = 120;
  static constexpr size_t kMaxIncidents = 4096;
  Incident* live_incident(const std::string& room, const std::string& user, int64_t now);
  void open_incident(const std::string& room, const std::string& user, Action level,
                     std::string reason, int64_t now);
  // Queues the removal of `user`'s burst in `room`, with the incident's one notice.
  void remove_burst(const std::string& room, const std::string& user, std::string notice,
                    Batch& batch);

  const Config& config_;
  Store& store_;
  RoomStateCache& room_state_;
  ScoringOutlet outlet_;
  EventScorer* scorer_ = nullptr;
  protection::Host* protections_ = nullptr;
  classifier::Classifier* classifier_ = nullptr;
  std::map<std::string, int64_t> room_state_asked_;  // room -> when asked
  static constexpr size_t kMaxVetted = 4096;
  std::map<std::string, EventVerdict> vetted_;  // event_id -> veto verdict
  std::deque<std::string> vetted_order_;
  std::array<std::atomic<uint64_t>, kActions> verdicts_{};  // by Action
  std::atomic<uint64_t> shadow_verdicts_{0};                // shadow rules would have acted
  std::map<std::string, Incident> incidents_;               // "room\x1fuser" -> live incident
  std::string incident_key_;                                // live_incident's lookup key
};

}  // namespace tyr::engine
