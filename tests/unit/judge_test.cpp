// The judgement shared by live enforcement and `tyr check`: matches, exemptions, shadow.

#include <catch2/catch.hpp>

#include "engine/policy/judge.hpp"
#include "engine/policy/policy_index.hpp"

using namespace tyr::engine::policy;

namespace {

PolicyRule rule(EntityKind kind, const std::string& entity, const std::string& rec = "m.ban",
                const std::string& list = "!list:hs") {
  PolicyRule r;
  r.list = list;
  r.kind = kind;
  r.state_key = "rule:" + entity;
  r.entity = entity;
  r.recommendation_raw = rec;
  r.recommendation = parse_recommendation(rec);
  r.reason = "because";
  return r;
}

JudgeContext context() {
  JudgeContext ctx;
  ctx.bot_user = "@tyr:home.org";
  ctx.own_server = "home.org";
  ctx.operators = {"@op:partner.org"};
  ctx.protected_servers = {"partner.org"};
  return ctx;
}

}  // namespace

TEST_CASE("judge: user and server rules ban, takedown is the strongest", "[judge]") {
  PolicyIndex index;
  index.replace_list("!list:hs", {rule(EntityKind::kUser, "@spam*:evil.org"),
                                  rule(EntityKind::kServer, "*.evil.org", "m.takedown"),
                                  rule(EntityKind::kServer, "evil.org")});
  auto ctx = context();
  auto j = judge_user(index, ctx, "@spammer:evil.org");
  CHECK(j.act);
  CHECK_FALSE(j.takedown);  // *.evil.org does not match evil.org itself
  CHECK(j.matches.size() == 2);
  // Server rules compare the server without its port.
  CHECK(judge_user(index, ctx, "@other:evil.org:8448").matches.size() == 1);
  auto t = judge_user(index, ctx, "@x:a.evil.org");
  CHECK(t.act);
  CHECK(t.takedown);
  CHECK(t.matches.front().recommendation == Recommendation::kTakedown);
  CHECK_FALSE(judge_user(index, ctx, "@x:good.org").act);
}

TEST_CASE("judge: Tyr, operators, allowlisted users and protected servers are exempt", "[judge]") {
  PolicyIndex index;
  index.replace_list(
      "!list:hs",
      {rule(EntityKind::kServer, "*"), rule(EntityKind::kUser, "@tyr:home.org"),
       rule(EntityKind::kUser, "@op:partner.org"), rule(EntityKind::kUser, "@friend:other.org")});
  auto ctx = context();
  ctx.is_allowlisted = [](const std::string& e) { return e == "@friend:other.org"; };
  auto self = judge_user(index, ctx, "@tyr:home.org");
  CHECK_FALSE(self.act);
  CHECK(self.exempt == "Tyr itself");
  auto op = judge_user(index, ctx, "@op:partner.org");
  CHECK_FALSE(op.act);
  CHECK(op.exempt == "an operator");
  auto friend_ = judge_user(index, ctx, "@friend:other.org");
  CHECK_FALSE(friend_.act);
  CHECK(friend_.exempt == "allowlisted");
  // A server rule never bans users of Tyr's own server or of an operator's server…
  auto local = judge_user(index, ctx, "@alice:HOME.org");
  CHECK_FALSE(local.act);
  CHECK(local.matches.empty());
  CHECK_FALSE(judge_user(index, ctx, "@bob:partner.org:8448").act);
  // …but everyone else on a `*` server rule is banned.
  CHECK(judge_user(index, ctx, "@carol:elsewhere.net").act);
}

TEST_CASE("judge: shadow lists and dry run report without acting for real", "[judge]") {
  PolicyIndex index;
  index.replace_list("!shadow:hs", {rule(EntityKind::kUser, "@x:evil.org", "m.ban", "!shadow:hs")});
  index.replace_list("!real:hs", {rule(EntityKind::kUser, "@y:evil.org", "m.ban", "!real:hs")});
  auto ctx = context();
  ctx.is_shadow = [](const std::string& list) { return list == "!shadow:hs"; };
  auto x = judge_user(index, ctx, "@x:evil.org");
  CHECK(x.act);
  CHECK(x.shadow);
  auto y = judge_user(index, ctx, "@y:evil.org");
  CHECK(y.act);
  CHECK_FALSE(y.shadow);
  ctx.dry_run = true;
  CHECK(judge_user(index, ctx, "@y:evil.org").shadow);
}

TEST_CASE("judge: unknown recommendations never act", "[judge]") {
  PolicyIndex index;
  index.replace_list("!list:hs", {rule(EntityKind::kUser, "@z:evil.org", "org.example.frown")});
  auto j = judge_user(index, context(), "@z:evil.org");
  CHECK_FALSE(j.act);
  CHECK(j.matches.empty());
}

TEST_CASE("judge: server deny globs come from ban and takedown server rules only", "[judge]") {
  auto globs = server_deny_globs({rule(EntityKind::kServer, "evil.org"),
                                  rule(EntityKind::kServer, "*.bad.org", "m.takedown"),
                                  rule(EntityKind::kServer, "meh.org", "org.example.frown"),
                                  rule(EntityKind::kUser, "@u:evil.org")});
  CHECK(globs == std::vector<std::string>{"evil.org", "*.bad.org"});
}
