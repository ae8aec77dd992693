#pragma once
// Ban-list enforcement on the pipeline's side: judging users against the watched lists (with
// the exemptions that keep Tyr safe), banning listed users who join a protected room, and
// turning rule changes into sweeps, server-ACL updates and unban checks. It only queues
// actions; the executor runs them (list_actions.cpp).

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/config/config.hpp"
#include "engine/pipeline/management_notices.hpp"
#include "engine/pipeline/policy_book.hpp"
#include "engine/pipeline/room_registry.hpp"
#include "engine/policy/judge.hpp"
#include "engine/store/store.hpp"

namespace tyr::engine {

class ListEnforcement {
 public:
  ListEnforcement(const Config& config, Store& store, PolicyBook& book, const RoomRegistry& rooms,
                  ManagementNotices& notices);

  // A membership in a protected room: a listed user who joins, is invited or knocks is banned
  // (or, when exempt, reported); a ban by a moderator gets an offer to add it to a list.
  void on_member(const nlohmann::json& event, Batch& batch);
  // A state event of a watched list room, delivered live.
  void on_list_event(const nlohmann::json& event, Batch& batch);
  // Reacts to changes of list rules: sweeps, ACL updates, unban checks (queued in `batch`).
  void on_rule_diffs(const std::vector<policy::ListDiff>& diffs, Batch& batch);
  // Replaces an HTTP feed's rules; returns the number of changed rules. Commits its own batch.
  size_t apply_feed(const std::string& name, const std::vector<policy::PolicyRule>& rules,
                    bool shadow);

  // Judges a user against every list (same code path as `tyr check` and the inline veto).
  policy::Judgement judge_user(const std::string& user_id) const;
  // Queues the ban (and for takedowns the redaction) a judgement calls for.
  void enqueue_ban(Batch& batch, const std::string& room, const std::string& user,
                   const policy::Judgement& j);
  // Allowlisted by config or by `allow` (globs).
  bool is_allowlisted(const std::string& entity) const;
  // Servers no server rule may deny: operators' servers and literal allowlisted servers.
  std::vector<std::string> protected_servers() const;

  // The allowlist shrank: sweep every protected room and recompute their server ACLs.
  void reapply(Batch& batch) {
    schedule_sweeps(batch);
    schedule_acl(batch);
  }

  // The executor started a room's sweep or ACL pass: a later rule change queues a new one.
  void sweep_started(const std::string& room);
  void acl_started(const std::string& room);

 private:
  void offer_list_ban(const nlohmann::json& event, Batch& batch);
  void schedule_sweeps(Batch& batch);
  void schedule_acl(Batch& batch);

  const Config& config_;
  Store& store_;
  PolicyBook& book_;
  const RoomRegistry& rooms_;
  ManagementNotices& notices_;
  const std::string bot_user_;
  mutable std::mutex pending_mu_;
  std::set<std::string> pending_sweeps_;  // rooms with a sweep queued and not yet started
  std::set<std::string> pending_acl_;     // rooms with an ACL update queued and not started
};

}  // namespace tyr::engine
