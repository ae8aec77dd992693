#include "engine/policy/judge.hpp"

#include <algorithm>

#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine::policy {

namespace {

std::string lower_ascii(std::string_view in) {
  std::string s(in);
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool enforceable(const PolicyRule& r) {
  return r.recommendation == Recommendation::kBan || r.recommendation == Recommendation::kTakedown;
}

}  // namespace

std::string describe_rule(const PolicyRule& r) {
  // The state key and reason are whatever the list's writers put there.
  std::string s = std::string(recommendation_name(r.recommendation)) + " by " + r.list + " (rule " +
                  escape_untrusted(r.state_key, kMaxQuotedReason);
  if (!r.reason.empty()) s += ": " + quote_untrusted(r.reason, kMaxQuotedReason);
  return s + ")";
}

Judgement judge_user(const PolicyIndex& index, const JudgeContext& ctx,
                     const std::string& user_id) {
  Judgement j;
  std::vector<const PolicyRule*> hits;
  auto snapshot = index.snapshot();  // keeps the rules alive while we read them
  snapshot->match_user(user_id, hits);
  const std::string server = lower_ascii(strip_port(server_of(user_id)));
  bool any_enforcing = false;
  for (const auto* r : hits) {
    if (!enforceable(*r)) continue;
    if (r->kind == EntityKind::kServer) {
      // A server rule never bans the users of Tyr's own server or of its operators' servers.
      if (server == lower_ascii(strip_port(ctx.own_server)) ||
          std::any_of(ctx.protected_servers.begin(), ctx.protected_servers.end(),
                      [&](const std::string& p) { return lower_ascii(strip_port(p)) == server; })) {
        continue;
      }
    }
    j.matches.push_back(*r);
    if (!ctx.is_shadow || !ctx.is_shadow(r->list)) any_enforcing = true;
  }
  if (j.matches.empty()) return j;
  std::stable_sort(j.matches.begin(), j.matches.end(),
                   [](const PolicyRule& a, const PolicyRule& b) {
                     return a.recommendation == Recommendation::kTakedown &&
                            b.recommendation != Recommendation::kTakedown;
                   });
  if (user_id == ctx.bot_user) {
    j.exempt = "Tyr itself";
  } else if (std::find(ctx.operators.begin(), ctx.operators.end(), user_id) !=
             ctx.operators.end()) {
    j.exempt = "an operator";
  } else if (ctx.is_allowlisted &&
             (ctx.is_allowlisted(user_id) ||
              ctx.is_allowlisted(std::string(strip_port(server_of(user_id)))))) {
    j.exempt = "allowlisted";
  }
  if (!j.exempt.empty()) return j;
  j.act = true;
  j.takedown = j.matches.front().recommendation == Recommendation::kTakedown;
  j.shadow = ctx.dry_run || !any_enforcing;
  return j;
}

std::vector<std::string> server_deny_globs(const std::vector<PolicyRule>& rules) {
  std::vector<std::string> out;
  for (const auto& r : rules) {
    if (r.kind == EntityKind::kServer && enforceable(r) && !r.entity.empty())
      out.push_back(r.entity);
  }
  return out;
}

}  // namespace tyr::engine::policy
