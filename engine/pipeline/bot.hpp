#pragma once
// The moderation bot's event handling and action running: management-room commands from
// operators, the protected-room registry, and the homeserver actions they lead to.

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/client/homeserver_client.hpp"
#include "engine/commands/command_parser.hpp"
#include "engine/config/config.hpp"
#include "engine/pipeline/pipeline.hpp"
#include "engine/pipeline/notice_throttle.hpp"
#include "engine/pipeline/policy_book.hpp"
#include "engine/pipeline/report_notice.hpp"
#include "engine/pipeline/room_state.hpp"
#include "engine/pipeline/scoring_stage.hpp"
#include "engine/policy/judge.hpp"
#include "engine/store/store.hpp"
#include "engine/veto/veto.hpp"
#include "engine/audit/audit_log.hpp"

namespace tyr::engine {

// Rooms Tyr protects. Mirrored in the store's state family as "room/<room_id>" -> JSON.
class RoomRegistry {
 public:
  void load(const Store& store);
  bool contains(const std::string& room_id) const;
  void add(const std::string& room_id, nlohmann::json info);
  bool remove(const std::string& room_id);
  // Finds a protected room by ID or by the alias it was added with.
  std::string find(const std::string& id_or_alias) const;
  std::map<std::string, nlohmann::json> snapshot() const;
  // The stored info of one protected room (added_ts, alias, …); nullopt when not protected.
  std::optional<nlohmann::json> info(const std::string& room_id) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> rooms_;
};

using policy::Judgement;

class Bot : public EventHandler, public ActionRunner, public ReportHandler, public veto::Backend {
 public:
  Bot(const Config& config, Store& store, HomeserverClient& client, PolicyBook& book);

  void set_management_room(std::string room_id) { management_room_ = std::move(room_id); }
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
  veto::Decision decide_event(const veto::Request& request, std::chrono::milliseconds deadline) override;
  // Wakes the executor after actions were queued off the pipeline thread (vetoes).
  void set_on_queued(std::function<void()> wake) { on_queued_ = std::move(wake); }
  // How the executor hands results (room state) to the pipeline thread. Unset: run in place.
  void set_pipeline_poster(std::function<void(std::function<void()>)> post) { pipeline_post_ = std::move(post); }
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
  void set_scorer(EventScorer* scorer, ProtectionHost* protections) { scoring_.attach(scorer, protections); }
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

  // Judges a user against every list (same code path as live enforcement and `tyr check`).
  Judgement judge_user(const std::string& user_id) const;
  // Reacts to changes of list rules: sweeps, ACL updates, unbans (queued in `batch`).
  void on_rule_diffs(const std::vector<policy::ListDiff>& diffs, Batch& batch);
  // Replaces an HTTP feed's rules; returns the number of changed rules. Commits its own batch.
  size_t apply_feed(const std::string& name, const std::vector<policy::PolicyRule>& rules,
                    bool shadow);

  void handle_event(const nlohmann::json& event, Batch& batch) override;
  ActionOutcome run_action(uint64_t seq, const nlohmann::json& action, Batch& batch) override;

  // Queues a notice in `room` (optionally as a reply to `reply_to` event ID).
  void enqueue_notice(Batch& batch, const std::string& room, const std::string& body,
                      const std::string& reply_to = {});
  // Queues an unsolicited notice in the management room (what Tyr did, would do or refused),
  // within the notice budget (management.notices_per_minute; refusals also within
  // veto.notices_per_minute). Past it, the notice is counted and summarised once a minute.
  // Runs after bans and redactions (Priority::kNotice): reporting never delays acting.
  void post_notice(Batch& batch, std::string_view category, const std::string& body);
  void queue_unsolicited(Batch& batch, const std::string& body);  // post_notice past the budget

  struct CommandContext {
    const nlohmann::json& event;
    std::vector<std::string> args;  // words after the command's own words
    Batch& batch;
    void reply(Bot& bot, const std::string& body) const;
  };

 private:
  bool is_operator(std::string_view user_id) const;
  void handle_management_message(const nlohmann::json& event, Batch& batch);

  void cmd_help(CommandContext& ctx);
  void cmd_status(CommandContext& ctx);
  void cmd_ping(CommandContext& ctx);
  void cmd_rooms(CommandContext& ctx);
  void cmd_rooms_add(CommandContext& ctx);
  void cmd_rooms_remove(CommandContext& ctx);
  void cmd_lists(CommandContext& ctx);
  void cmd_lists_watch(CommandContext& ctx);
  void cmd_lists_unwatch(CommandContext& ctx);
  void cmd_lists_create(CommandContext& ctx);
  void cmd_ban(CommandContext& ctx);
  void cmd_unban(CommandContext& ctx);
  void cmd_takedown(CommandContext& ctx);
  void cmd_allow(CommandContext& ctx);
  void cmd_allow_remove(CommandContext& ctx);
  void cmd_redact(CommandContext& ctx);
  void cmd_rules(CommandContext& ctx);
  void cmd_rules_test(CommandContext& ctx);
  void cmd_rules_reload(CommandContext& ctx);
  // Veto of one event, on the pipeline thread (it owns the scorer). The verdict is kept so that
  // the same event arriving through the appservice is not scored twice.
  veto::Decision veto_event(const nlohmann::json& event);
  // One notice for what the budget held back in the last window (tick()).
  void notice_summary(Batch& batch, bool force);
  bool in_veto_scope(const std::string& room) const;
  // Notice, kick/ban and (unless the event was refused before it was stored) redaction.
  // Records an action (or what would have been done) in the audit trail, inside `batch`.
  // `error`: the homeserver's refusal, null when it succeeded; mode live|shadow|dry_run|veto.
  void audit_action(Batch& batch, const nlohmann::json& action, std::string_view what,
                    const Error* error, std::string_view mode = "live", std::string detail = {});
  void cmd_audit(CommandContext& ctx);
  ActionOutcome run_load_room_state(const nlohmann::json& action);
  void cmd_protections(CommandContext& ctx);
  void cmd_report(CommandContext& ctx);
  bool is_exempt(const std::string& user) const;
  void write_rule(CommandContext& ctx, const std::string& recommendation);

  // Event path.
  void on_member_event(const nlohmann::json& event, Batch& batch);
  void on_list_event(const nlohmann::json& event, Batch& batch);
  void enqueue_ban(Batch& batch, const std::string& room, const std::string& user,
                   const Judgement& j);
  void schedule_sweeps(Batch& batch);
  void schedule_acl(Batch& batch);
  bool is_allowlisted(const std::string& entity) const;
  std::vector<std::string> protected_servers() const;

  // Executor actions.
  ActionOutcome run_watch_list(uint64_t seq, const nlohmann::json& action, Batch& batch);
  ActionOutcome run_create_list(uint64_t seq, const nlohmann::json& action, Batch& batch);
  ActionOutcome run_set_rule(const nlohmann::json& action, Batch& batch);
  ActionOutcome run_sweep(const nlohmann::json& action, Batch& batch);
  ActionOutcome run_ban(const nlohmann::json& action, Batch& batch);
  ActionOutcome run_unban_check(const nlohmann::json& action, Batch& batch);
  ActionOutcome run_unban(const nlohmann::json& action, Batch& batch);
  ActionOutcome run_acl(const nlohmann::json& action, Batch& batch);
  ActionOutcome run_redact_user(uint64_t seq, const nlohmann::json& action, Batch& batch);
  ActionOutcome run_redact_event(uint64_t seq, const nlohmann::json& action, Batch& batch);
  ActionOutcome run_kick(const nlohmann::json& action, Batch& batch);
  ActionOutcome run_rule_ban(const nlohmann::json& action, Batch& batch);
  ActionOutcome run_join_rule(const nlohmann::json& action, Batch& batch);
  // Power levels of a room, read fresh from the homeserver.
  Result<class PowerLevels> power_in(const std::string& room_id);
  ActionOutcome from_error(const std::string& what, const Error& e);

  ActionOutcome run_join_protect(const nlohmann::json& action, Batch& batch);
  ActionOutcome run_catch_up(const nlohmann::json& action, Batch& batch);
  std::string txn_id(uint64_t seq) const;

  struct CommandSpec {
    std::vector<std::string_view> words;
    std::string_view usage;
    std::string_view summary;
    void (Bot::*fn)(CommandContext&);
  };
  static const std::vector<CommandSpec>& command_table();

  const Config& config_;
  Store& store_;
  HomeserverClient& client_;
  PolicyBook& book_;
  RoomRegistry rooms_;
  mutable std::mutex pending_mu_;
  std::set<std::string> pending_sweeps_;  // rooms with a sweep queued and not yet started
  std::set<std::string> pending_acl_;     // rooms with an ACL update queued and not started
  std::map<std::string, int64_t> pending_catch_up_;  // room -> since, pass queued and not started
  std::map<std::string, std::vector<std::string>> withheld_;  // last reported, per room (executor)
  AuditLog audit_;
  RoomStateCache room_state_;                        // pipeline thread only
  ScoringStage scoring_;                             // rules and protections (pipeline thread)
  std::function<void(std::function<void()>)> pipeline_post_;
  std::function<void()> on_queued_;
  std::function<void()> on_recovered_;
  std::chrono::steady_clock::time_point handle_started_;  // pipeline thread: current event
  std::atomic<bool> veto_ready_{false};
  NoticeThrottle notices_;  // unsolicited notices (any thread)
  std::string management_room_;
  std::string bot_user_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::function<std::vector<std::string>()> status_provider_;
};

// True when an error from the homeserver is worth retrying later (network, 5xx, rate limit).
bool is_retryable(const Error& error);
// True when an error says the homeserver is unavailable or throttling (network, 502/503/504,
// rate limit) rather than anything about the request: such actions wait, they never fail.
bool is_outage(const Error& error);

}  // namespace tyr::engine
