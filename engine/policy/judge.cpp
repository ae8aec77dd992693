#include "engine/policy/judge.hpp"

#include <algorithm>

#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine::policy {

namespace {

// As comparing the two lower-cased: only 'A'..'Z' fold.
bool equal_ascii_caseless(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

template <class Rule>
bool enforceable(const Rule& r) {
  return r.recommendation == Recommendation::kBan || r.recommendation == Recommendation::kTakedown;
}

template <class Rule>
std::string describe(const Rule& r) {
  // The state key and reason are whatever the list's writers put there.
  std::string s = std::string(recommendation_name(r.recommendation)) + " by " + r.list + " (rule " +
                  escape_untrusted(r.state_key, kMaxQuotedReason);
  if (!r.reason.empty()) s += ": " + quote_untrusted(r.reason, kMaxQuotedReason);
  return s + ")";
}

}  // namespace

std::string describe_rule(const PolicyRule& r) { return describe(r); }
std::string describe_rule(const PolicyRuleView& r) { return describe(r); }

void judge_user(const PolicyIndexSnapshot& snapshot, const JudgeContext& ctx,
                std::string_view user_id, JudgementRefs& out) {
  out.act = out.takedown = out.shadow = false;
  out.exempt = {};
  out.matches.clear();
  out.hits.clear();
  snapshot.match_user(user_id, out.hits);
  const std::string_view server = strip_port(server_of(user_id));
  bool any_enforcing = false;
  for (const PolicyRuleRef r : out.hits) {
    if (!enforceable(*r)) continue;
    if (r->kind == EntityKind::kServer) {
      // A server rule never bans the users of Tyr's own server or of its operators' servers.
      if (equal_ascii_caseless(server, strip_port(ctx.own_server)) ||
          std::any_of(
              ctx.protected_servers.begin(), ctx.protected_servers.end(),
              [&](const std::string& p) { return equal_ascii_caseless(strip_port(p), server); })) {
        continue;
      }
    }
    out.matches.push_back(r);
    if (!ctx.is_shadow || !ctx.is_shadow(r->list)) any_enforcing = true;
  }
  if (out.matches.empty()) return;
  std::stable_sort(out.matches.begin(), out.matches.end(), [](PolicyRuleRef a, PolicyRuleRef b) {
    return a->recommendation == Recommendation::kTakedown &&
           b->recommendation != Recommendation::kTakedown;
  });
  if (user_id == ctx.bot_user) {
    out.exempt = "Tyr itself";
  } else if (std::find(ctx.operators.begin(), ctx.operators.end(), user_id) !=
             ctx.operators.end()) {
    out.exempt = "an operator";
  } else if (ctx.is_allowlisted &&
             (ctx.is_allowlisted(std::string(user_id)) ||
              ctx.is_allowlisted(std::string(strip_port(server_of(user_id)))))) {
    out.exempt = "allowlisted";
  }
  if (!out.exempt.empty()) return;
  out.act = true;
  out.takedown = out.matches.front()->recommendation == Recommendation::kTakedown;
  out.shadow = ctx.dry_run || !any_enforcing;
}

Judgement judge_user(const PolicyIndex& index, const JudgeContext& ctx,
                     const std::string& user_id) {
  JudgementRefs refs;
  auto snapshot = index.snapshot();  // keeps the rules alive while we read them
  judge_user(*snapshot, ctx, user_id, refs);
  Judgement j;
  j.act = refs.act;
  j.takedown = refs.takedown;
  j.shadow = refs.shadow;
  j.exempt = refs.exempt;
  j.matches.reserve(refs.matches.size());
  for (const PolicyRuleRef r : refs.matches) j.matches.push_back(r->to_rule());
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
