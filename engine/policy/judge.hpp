#pragma once
// What the policy lists say about a user, after the exemptions that keep Tyr safe: Tyr itself,
// operators, allowlisted entities, and server rules that would hit Tyr's own server or an
// operator's. One function, used by live enforcement and by `tyr check`.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/policy/policy_index.hpp"
#include "engine/policy/policy_rule.hpp"

namespace tyr::engine::policy {

struct Judgement {
  bool act = false;       // ban (or take down)
  bool takedown = false;  // also redact recent history
  bool shadow = false;    // every matching list is in shadow mode, or Tyr runs dry
  std::string exempt;     // why a matched user is left alone ("operator", "allowlisted", …)
  std::vector<PolicyRule> matches;  // enforceable matches, takedowns first
};

struct JudgeContext {
  std::string bot_user;
  std::string own_server;
  std::vector<std::string> operators;          // user IDs
  std::vector<std::string> protected_servers;  // servers no server rule may touch
  bool dry_run = false;
  std::function<bool(const std::string& list)> is_shadow;         // may be empty: none are
  std::function<bool(const std::string& entity)> is_allowlisted;  // may be empty: none are
};

Judgement judge_user(const PolicyIndex& index, const JudgeContext& ctx, const std::string& user_id);

// The same judgement with the matches as rules of `snapshot` (valid while it lives), into
// storage the caller reuses: judging many users this way allocates nothing once it is warm.
struct JudgementRefs {
  bool act = false;
  bool takedown = false;
  bool shadow = false;
  std::string_view exempt;
  std::vector<PolicyRuleRef> matches;
  std::vector<PolicyRuleRef> hits;  // scratch
};

void judge_user(const PolicyIndexSnapshot& snapshot, const JudgeContext& ctx,
                std::string_view user_id, JudgementRefs& out);

// Banned server globs of the given rules (ban or takedown, server kind, literal/glob entity).
std::vector<std::string> server_deny_globs(const std::vector<PolicyRule>& rules);

std::string describe_rule(const PolicyRule& rule);
std::string describe_rule(const PolicyRuleView& rule);

}  // namespace tyr::engine::policy
