#pragma once
// The bot: the composition of the pipeline's stages (event router, list enforcement, scoring,
// commands through CommandHost) and the executor's action runners (bot_actions.cpp,
// list_actions.cpp, enforce_actions.cpp, catch_up.cpp). It owns the state they share: the
// protected rooms, the room-state cache, the audit trail and the management-room notices.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/actions/action.hpp"
#include "engine/audit/audit_log.hpp"
#include "engine/client/homeserver_client.hpp"
#include "engine/commands/command_host.hpp"
#include "engine/config/config.hpp"
#include "engine/pipeline/event_router.hpp"
#include "engine/pipeline/list_enforcement.hpp"
#include "engine/pipeline/management_notices.hpp"
#include "engine/pipeline/notice_throttle.hpp"
#include "engine/pipeline/pipeline.hpp"
#include "engine/pipeline/policy_book.hpp"
#include "engine/pipeline/power_cache.hpp"
#include "engine/pipeline/report_notice.hpp"
#include "engine/pipeline/room_registry.hpp"
#include "engine/pipeline/room_state.hpp"
#include "engine/pipeline/scoring_stage.hpp"
#include "engine/policy/judge.hpp"
#include "engine/policyserver/policy_server.hpp"
#include "engine/store/store.hpp"
#include "engine/veto/veto.hpp"

namespace tyr::engine {

using policy::Judgement;

class Bot : public EventHandler,
            public ActionRunner,
            public ReportHandler,
            public veto::Backend,
            public policyserver::Backend,
            public ManagementNotices,
            public commands::CommandHost {
 public:
  Bot(const Config& config, Store& store, HomeserverClient& client, PolicyBook& book);

  void set_management_room(std::string room_id) {
    router_.set_management_room(room_id);
    management_room_ = std::move(room_id);
  }
  const std::string& management_room() const { return management_room_; }
  // Extra lines for `status` (queue depths, counters) supplied by the service.
  void set_status_provider(std::function<std::vector<std::string>()> provider) {
    status_provider_ = std::move(provider);
  }
  RoomRegistry& rooms() { return rooms_; }

  // Inline veto (engine/veto): decisions from the same judge and scorer as the event path.
  bool veto_ready() const override { return veto_ready_; }
  void set_veto_ready(bool ready) { veto_ready_ = ready; }
  veto::Decision decide_membership(const veto::Request& request) override;
  veto::Decision decide_event(const veto::Request& request,
                              std::chrono::milliseconds deadline) override;
  // Policy server (engine/policyserver; policy_decisions.cpp): the same decisions for events
  // other homeservers ask Tyr to sign.
  bool policy_ready() const override { return veto_ready_; }
  bool protects_room(const std::string& room_id) const override { return rooms_.contains(room_id); }
  Result<std::string> room_version(const std::string& room_id) override;
  policyserver::Judgement judge_event(const nlohmann::json& event, const std::string& origin,
                                      std::chrono::milliseconds deadline) override;
  // Wakes the executor after actions were queued off the pipeline thread (vetoes).
  void set_on_queued(std::function<void()> wake) { on_queued_ = std::move(wake); }
  // How the executor hands results (room state) to the pipeline thread. Unset: run in place.
  void set_pipeline_poster(std::function<void(std::function<void()>)> post) {
    pipeline_post_ = std::move(post);
  }
  PolicyBook& book() { return book_; }
  // Queues a pass over the management room's and every protected room's history back to
  // `since_ms` (minus a margin, at most catch_up.max_age) for events never delivered
  // (engine/pipeline/catch_up.cpp); `reload_lists` also rereads every watched list's state.
  // Any thread; does nothing until Tyr is ready (set_veto_ready). Commits its own batch and
  // wakes the executor.
  void request_catch_up(int64_t since_ms, std::string_view why, bool reload_lists);
  // Queues a quiet reload of every watched list room's state (not feeds) into `batch`.
  void enqueue_list_reloads(Batch& batch);
  // Wakes the pipeline after a catch-up put recovered events in the inbox.
  void set_on_recovered(std::function<void()> wake) { on_recovered_ = std::move(wake); }
  // Custom rules and protections; may stay unset (then only lists are enforced).
  void set_scorer(EventScorer* scorer, protection::Host* protections,
                  classifier::Classifier* classifier = nullptr) {
    scoring_.attach(scorer, protections);
    scoring_.attach_classifier(classifier);
  }
  // One abuse report from the homeserver (parse_abuse_report of the admin API's entry): posted
  // with context, counted towards an automatic redaction when the reporter is trusted (once per
  // reporter and event). Calls the homeserver for the reported event.
  void on_report(const AbuseReport& report, Batch& batch) override;
  // A worker's item (event, report, feed poll) whose handling threw: an audit entry (action
  // set_aside, outcome failed) and a notice within the budget, into the batch that sets it aside.
  void on_poisoned(std::string_view worker, const nlohmann::json& item, std::string_view what,
                   std::string_view error, Batch& batch) override;
  // Periodic work of the scorer (protections' timers); pipeline thread.
  void tick(Batch& batch);
  // Reloads the rules (SIGHUP, `rules reload`) and reports the outcome in the management room.
  void reload_rules(Batch& batch, const std::string& reply_to = {});

  // Ban-list enforcement (list_enforcement.hpp): judging, reactions to rule changes, feeds.
  ListEnforcement& lists() { return lists_; }
  Judgement judge_user(const std::string& user_id) const { return lists_.judge_user(user_id); }
  void on_rule_diffs(const std::vector<policy::ListDiff>& diffs, Batch& batch) {
    lists_.on_rule_diffs(diffs, batch);
  }
  size_t apply_feed(const std::string& name, const std::vector<policy::PolicyRule>& rules,
                    bool shadow) {
    return lists_.apply_feed(name, rules, shadow);
  }

  void handle_event(const nlohmann::json& event, Batch& batch) override;
  // Decodes an outbox entry (engine/actions/codec.hpp) and runs it (bot_actions.cpp's table).
  // Runs on the executor's lane threads, several at once for different rooms (lane_of): the
  // state actions share is guarded (rooms_, lists_, book_, notices_, audit_, the pending sets
  // and withheld_ by their own locks; the store and the client are thread-safe; the room-state
  // cache is only touched on the pipeline thread, through pipeline_post_).
  ActionOutcome run_action(uint64_t seq, const nlohmann::json& action, Batch& batch) override;
  // The action's room for actions whose effects stay in that room (bans, kicks, redactions,
  // mutes, ACLs, join rules, sweeps, catch-up and room-state reads, notices); global (empty)
  // for everything that spans rooms or changes what other actions see: lists and their rules,
  // joining a room, moderators' bulk commands, the admin API, learning (bot_actions.cpp).
  std::string lane_of(const nlohmann::json& action) const override;

  // One runner per action (engine/actions/action.hpp); `seq` is the outbox sequence, from which
  // transaction IDs derive so that a retry after a crash is deduplicated by the homeserver.
  ActionOutcome run(uint64_t seq, const actions::Notice& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::JoinProtect& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::LoadRoomState& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::CatchUp& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::WatchList& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::CreateList& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::SetRule& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::Sweep& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::ListBan& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::UnbanCheck& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::Unban& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::Acl& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::RedactUser& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::RedactEvent& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::Kick& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::Ban& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::SetJoinRule& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::RestoreJoinRule& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::Mute& a, Batch& batch);
  // moderator_actions.cpp
  ActionOutcome run(uint64_t seq, const actions::Verify& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::Since& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::ImportBans& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::AdminUser& a, Batch& batch);
  ActionOutcome run(uint64_t seq, const actions::ShutdownRoom& a, Batch& batch);
  // policy_decisions.cpp
  ActionOutcome run(uint64_t seq, const actions::SetPolicyServer& a, Batch& batch);
  // learning.cpp
  ActionOutcome run(uint64_t seq, const actions::Learn& a, Batch& batch);
  // The running policy server, for `policyserver status` (null when not configured).
  void set_policy_server(const policyserver::Server* server) { policy_server_ = server; }

  // Queues a notice in `room` (optionally as a reply to `reply_to` event ID).
  void enqueue_notice(Batch& batch, const std::string& room, const std::string& body,
                      const std::string& reply_to = {});
  // Queues an unsolicited notice in the management room (what Tyr did, would do or refused),
  // within the notice budget (management.notices_per_minute; refusals also within
  // veto.notices_per_minute). Past it, the notice is counted and summarised once a minute.
  // Runs after bans and redactions (Priority::kNotice): reporting never delays acting.
  void post_notice(Batch& batch, std::string_view category, const std::string& body) override;
  // A notice in the management room outside the budget.
  void notify(Batch& batch, const std::string& body) override;
  void queue_unsolicited(Batch& batch, const std::string& body);  // post_notice past the budget

 private:
  // ---- CommandHost: what management-room commands (engine/commands) see of the bot;
  // defined in bot_commands_host.cpp ----
  const Config& config() const override;
  Store& store() override;
  PolicyBook& policy_book() override;
  const AuditLog& audit_log() const override;
  EventScorer* scorer() override;
  protection::Host* protections() override;
  const std::string& command_room() const override;
  bool is_exempt_user(const std::string& user_id) const override;
  std::chrono::seconds uptime() const override;
  commands::VerdictCounts verdict_counts() const override;
  std::vector<std::string> status_lines() const override;
  std::string find_protected_room(const std::string& id_or_alias) const override;
  std::map<std::string, nlohmann::json> protected_rooms() const override;
  void unprotect_room(Batch& batch, const std::string& room_id) override;
  void enqueue_action(Batch& batch, const actions::Action& action) override;
  void apply_rule_diffs(const std::vector<policy::ListDiff>& diffs, Batch& batch) override;
  void schedule_enforcement(Batch& batch) override;
  void request_rules_reload(Batch& batch, const std::string& reply_to) override;
  std::optional<commands::PolicyServerView> policy_server_view() const override;
  classifier::Classifier* classifier() override { return scoring_.classifier(); }

  // Veto of one event, on the pipeline thread (it owns the scorer). The verdict is kept so that
  // the same event arriving through the appservice is not scored twice.
  veto::Decision veto_event(const nlohmann::json& event, const std::string& gate);
  // Where the router sends each kind of event (bot.cpp).
  EventRouter::Targets route_targets();
  // One notice for what the budget held back in the last window (tick()).
  void notice_summary(Batch& batch, bool force);
  bool in_veto_scope(const std::string& room) const;
  // Records an action (or what would have been done) in the audit trail, inside `batch`.
  // `error`: the homeserver's refusal, null when it succeeded; mode live|shadow|dry_run|veto.
  void audit_action(Batch& batch, const nlohmann::json& action, std::string_view what,
                    const Error* error, std::string_view mode = "live", std::string detail = {});
  bool is_exempt(const std::string& user) const;

  bool is_allowlisted(const std::string& entity) const { return lists_.is_allowlisted(entity); }

  // Power levels of a room, read fresh from the homeserver (the create event, which never
  // changes, from power_cache_); what is read is kept for cached_power_in.
  Result<class PowerLevels> power_in(const std::string& room_id);
  // The same from power_cache_ while it is young enough (PowerCache::kMaxAge), for the actions
  // a sweep repeats per user (bans, kicks, redactions); `cached` says whether it came from
  // there. So that users see what fresh levels would show, such an action checks a refusal
  // again with power_in before reporting it, and when the homeserver refuses with M_FORBIDDEN
  // what cached levels allowed, refused_on_stale_power has it check and try once more.
  Result<class PowerLevels> cached_power_in(const std::string& room_id, bool& cached);
  Result<class PowerLevels> read_power(const std::string& room_id, bool cache_ok, bool& cached);
  // After the homeserver refused `e`: on M_FORBIDDEN forgets the room's power levels and says
  // whether they came from the cache (`cached`, which it clears).
  bool refused_on_stale_power(const std::string& room_id, const Error& e, bool& cached);
  ActionOutcome from_error(const std::string& what, const Error& e);
  ActionOutcome run_join_rule(const actions::Action& action,
                              const std::optional<std::string>& raise_to,
                              const actions::Why& why_asked, Batch& batch);
  std::string txn_id(uint64_t seq) const;

  const Config& config_;
  Store& store_;
  HomeserverClient& client_;
  PolicyBook& book_;
  RoomRegistry rooms_;
  ListEnforcement lists_;
  mutable std::mutex pending_mu_;
  std::map<std::string, int64_t> pending_catch_up_;  // room -> since, pass queued and not started
  std::set<std::string> pending_list_reloads_;       // lists with a quiet reload queued
  mutable std::mutex withheld_mu_;
  // Last reported, per room (Acl runs; guarded by withheld_mu_: lanes run ACLs of several rooms)
  std::map<std::string, std::vector<std::string>> withheld_;
  AuditLog audit_;
  RoomStateCache room_state_;  // pipeline thread only
  PowerCache power_cache_;     // any thread
  ScoringStage scoring_;       // rules and protections (pipeline thread)
  EventRouter router_;         // which stages see an event
  std::function<void(std::function<void()>)> pipeline_post_;
  std::function<void()> on_queued_;
  std::function<void()> on_recovered_;
  std::chrono::steady_clock::time_point handle_started_;  // pipeline thread: current event
  std::atomic<bool> veto_ready_{false};
  NoticeThrottle notices_;  // unsolicited notices (any thread)
  std::string management_room_;
  std::string bot_user_;
  const policyserver::Server* policy_server_ = nullptr;
  mutable std::mutex versions_mu_;
  std::map<std::string, std::string> room_versions_;  // room -> version (policy server)
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::function<std::vector<std::string>()> status_provider_;
};

// True when an error from the homeserver is worth retrying later (network, 5xx, rate limit).
bool is_retryable(const Error& error);
// True when an error says the homeserver is unavailable or throttling (network, 502/503/504,
// rate limit) rather than anything about the request: such actions wait, they never fail.
bool is_outage(const Error& error);

}  // namespace tyr::engine
