#pragma once
// What the policy-list and policy-index tests share: state events, rules, and index lookups
// as sorted state keys.

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/digest.hpp"
#include "engine/core/glob.hpp"
#include "engine/policy/policy_index.hpp"
#include "engine/policy/policy_list.hpp"
#include "engine/policy/policy_rule.hpp"

namespace tyr::test {

using namespace tyr::engine::policy;
using nlohmann::json;
using tyr::decode_sha256_base64;
using tyr::glob_matches;
using tyr::glob_to_regex_body;
using tyr::is_ip_literal;

inline constexpr const char* kList = "!list:example.org";
inline constexpr const char* kYarrgh = "VPqwbUV7mMMkOVto3kPwsNXXiALMs7VCKWh3OeqqjGs=";

inline json state_event(std::string type, std::string state_key, json content) {
  return json{{"type", std::move(type)},
              {"state_key", std::move(state_key)},
              {"event_id", "$ev"},
              {"sender", "@mod:example.org"},
              {"content", std::move(content)}};
}

inline PolicyEvent parse(const json& event) {
  auto parsed = parse_policy_event(event, kList);
  REQUIRE(parsed.has_value());
  return *parsed;
}

// The problem text for a content of an m.policy.rule.user event; "" when it parsed.
inline std::string problem_of(json content) {
  return parse(state_event("m.policy.rule.user", "k", std::move(content))).problem;
}

inline PolicyRule make_rule(EntityKind kind, std::string state_key, std::string entity,
                            std::string list = kList, std::string recommendation = "m.ban") {
  PolicyRule r;
  r.list = std::move(list);
  r.kind = kind;
  r.state_key = std::move(state_key);
  r.entity = std::move(entity);
  r.recommendation_raw = std::move(recommendation);
  r.recommendation = parse_recommendation(r.recommendation_raw);
  r.reason = "spam";
  return r;
}

inline PolicyRule hashed_rule(EntityKind kind, std::string state_key, std::string_view entity) {
  PolicyRule r = make_rule(kind, std::move(state_key), "");
  r.sha256 = tyr::to_base64(tyr::sha256(entity));
  return r;
}

inline ListDiff add(PolicyRule r) { return ListDiff{std::nullopt, std::move(r)}; }
inline ListDiff remove(PolicyRule r) { return ListDiff{std::move(r), std::nullopt}; }

inline std::vector<std::string> sorted_keys(const std::vector<PolicyRuleRef>& hits) {
  std::vector<std::string> out;
  for (PolicyRuleRef r : hits) out.emplace_back(r->state_key);
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<std::string> hits(const PolicyIndex& index, EntityKind kind,
                                     std::string_view entity) {
  std::vector<PolicyRuleRef> out;
  index.match(kind, entity, out);
  return sorted_keys(out);
}

inline std::vector<std::string> user_hits(const PolicyIndex& index, std::string_view user_id) {
  std::vector<PolicyRuleRef> out;
  index.match_user(user_id, out);
  return sorted_keys(out);
}

using Keys = std::vector<std::string>;

// Runs the rest of the test case twice: rules in the small delta tables (linear glob
// matching), then in built tables (Hyperscan factors, RE2::Set).
#define DELTA_AND_BUILT(index)           \
  SECTION("rules in the delta") {}       \
  SECTION("rules in built tables") {     \
    (index).compact();                   \
    REQUIRE((index).stats().delta == 0); \
  }

}  // namespace tyr::test
