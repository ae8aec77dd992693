// Policy rules: parsing state events in every family, and PolicyList's effective rules.
// The index over them is tested in policy_index_test.cpp.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <re2/re2.h>

#include "engine/core/digest.hpp"
#include "engine/core/glob.hpp"
#include "engine/policy/policy_index.hpp"
#include "engine/policy/policy_list.hpp"
#include "engine/policy/policy_rule.hpp"
#include "tests/unit/policy_fixtures.hpp"

using namespace tyr::test;  // policy_fixtures.hpp: tyr::engine::policy and the core glob helpers
                            // too

// ---------------------------------------------------------------------------------------------
// Parsing

TEST_CASE("policy: event types map to kinds and families", "[policy]") {
  CHECK(classify_policy_type("m.policy.rule.user") ==
        std::pair{EntityKind::kUser, Family::kStable});
  CHECK(classify_policy_type("m.policy.rule.room") ==
        std::pair{EntityKind::kRoom, Family::kStable});
  CHECK(classify_policy_type("m.room.rule.server") ==
        std::pair{EntityKind::kServer, Family::kLegacyRoom});
  CHECK(classify_policy_type("org.matrix.mjolnir.rule.user") ==
        std::pair{EntityKind::kUser, Family::kMjolnir});
  CHECK_FALSE(classify_policy_type("m.policy.rule.alias"));
  CHECK_FALSE(classify_policy_type("m.policy.rule."));
  CHECK_FALSE(classify_policy_type("m.room.member"));
  CHECK(stable_type(EntityKind::kServer) == "m.policy.rule.server");
  CHECK(kind_name(EntityKind::kRoom) == "room");
  CHECK(kind_from_name("server") == EntityKind::kServer);
  CHECK_FALSE(kind_from_name("users"));
}

TEST_CASE("policy: recommendations", "[policy]") {
  CHECK(parse_recommendation("m.ban") == Recommendation::kBan);
  CHECK(parse_recommendation("org.matrix.mjolnir.ban") == Recommendation::kBan);
  CHECK(parse_recommendation("m.takedown") == Recommendation::kTakedown);
  CHECK(parse_recommendation("org.matrix.msc4204.takedown") == Recommendation::kTakedown);
  CHECK(parse_recommendation("org.matrix.mjolnir.allow") == Recommendation::kUnknown);
  CHECK(parse_recommendation("M.BAN") == Recommendation::kUnknown);
  CHECK(recommendation_name(Recommendation::kTakedown) == "takedown");
}

TEST_CASE("policy: a rule parses in every family", "[policy]") {
  for (const char* type :
       {"m.policy.rule.server", "m.room.rule.server", "org.matrix.mjolnir.rule.server"}) {
    auto ev = parse(state_event(type, "rule:*.evil.example",
                                {{"entity", "*.evil.example"},
                                 {"recommendation", "org.matrix.mjolnir.ban"},
                                 {"reason", "spam"}}));
    INFO(type);
    CHECK(ev.problem.empty());
    REQUIRE(ev.rule);
    CHECK(ev.kind == EntityKind::kServer);
    CHECK(ev.rule->kind == EntityKind::kServer);
    CHECK(ev.rule->family == ev.family);
    CHECK(ev.rule->list == kList);
    CHECK(ev.rule->state_key == "rule:*.evil.example");
    CHECK(ev.rule->entity == "*.evil.example");
    CHECK(ev.rule->sha256.empty());
    CHECK(ev.rule->recommendation == Recommendation::kBan);
    CHECK(ev.rule->recommendation_raw == "org.matrix.mjolnir.ban");
    CHECK(ev.rule->reason == "spam");
    CHECK(ev.rule->event_id == "$ev");
  }
  CHECK(
      parse(state_event("m.room.rule.user", "k", {{"entity", "@a:b"}, {"recommendation", "m.ban"}}))
          .family == Family::kLegacyRoom);
  CHECK(parse(state_event("org.matrix.mjolnir.rule.room", "k",
                          {{"entity", "!r:b"}, {"recommendation", "m.takedown"}}))
            .rule->recommendation == Recommendation::kTakedown);
}

TEST_CASE("policy: unknown recommendations are kept, reasons are optional", "[policy]") {
  auto ev =
      parse(state_event("m.policy.rule.user", "k",
                        {{"entity", "@a:b"}, {"recommendation", "org.matrix.mjolnir.allow"}}));
  REQUIRE(ev.rule);
  CHECK(ev.problem.empty());
  CHECK(ev.rule->recommendation == Recommendation::kUnknown);
  CHECK(ev.rule->recommendation_raw == "org.matrix.mjolnir.allow");
  CHECK(ev.rule->reason.empty());

  auto odd = parse(state_event("m.policy.rule.user", "k",
                               {{"entity", "@a:b"}, {"recommendation", "m.ban"}, {"reason", 42}}));
  REQUIRE(odd.rule);
  CHECK(odd.problem.empty());
  CHECK(odd.rule->reason.empty());
}

TEST_CASE("policy: empty, missing and redacted content remove the rule", "[policy]") {
  auto empty = parse(state_event("m.policy.rule.user", "k", json::object()));
  CHECK_FALSE(empty.rule);
  CHECK(empty.problem.empty());
  CHECK(empty.state_key == "k");

  json missing = {{"type", "m.policy.rule.user"}, {"state_key", "k"}};
  auto gone = parse(missing);
  CHECK_FALSE(gone.rule);
  CHECK(gone.problem.empty());

  json redacted = state_event("m.policy.rule.user", "k", json::object());
  redacted["unsigned"] = {{"redacted_because", {{"type", "m.room.redaction"}}}};
  auto r = parse(redacted);
  CHECK_FALSE(r.rule);
  CHECK(r.problem.empty());
}

TEST_CASE("policy: malformed content is a removal with an exact problem", "[policy]") {
  CHECK(problem_of({{"entity", "@a:b"}}) == "missing 'recommendation'");
  CHECK(problem_of({{"entity", "@a:b"}, {"recommendation", 1}}) ==
        "'recommendation' is not a string");
  CHECK(problem_of({{"entity", "@a:b"}, {"recommendation", nullptr}}) ==
        "'recommendation' is not a string");
  CHECK(problem_of({{"recommendation", "m.ban"}}) == "missing 'entity'");
  CHECK(problem_of({{"entity", 5}, {"recommendation", "m.ban"}}) == "'entity' is not a string");
  CHECK(problem_of({{"entity", ""}, {"recommendation", "m.ban"}}) == "'entity' is empty");
  CHECK(problem_of({{"entity", nullptr}, {"recommendation", "m.ban"}}) ==
        "'entity' is not a string");
  CHECK(parse(state_event("m.policy.rule.user", "k", "text")).problem ==
        "'content' is not an object");
  for (const json& content : {json{{"entity", "@a:b"}}, json{{"recommendation", "m.ban"}}}) {
    CHECK_FALSE(parse(state_event("m.policy.rule.user", "k", content)).rule);
  }
}

TEST_CASE("policy: MSC4205 hashed entities", "[policy]") {
  CHECK(tyr::to_base64(tyr::sha256("@yarrgh:example.com")) == kYarrgh);

  for (const char* key : {"org.matrix.msc4205.hashes", "hashes"}) {
    auto ev = parse(state_event("m.policy.rule.user", "k",
                                {{"recommendation", "m.ban"}, {key, {{"sha256", kYarrgh}}}}));
    INFO(key);
    CHECK(ev.problem.empty());
    REQUIRE(ev.rule);
    CHECK(ev.rule->entity.empty());
    CHECK(ev.rule->sha256 == kYarrgh);
  }
  const std::string bad_len(kYarrgh, 43);
  std::string bad_char = kYarrgh;
  bad_char[5] = '-';  // URL-safe alphabet is not MSC4205's
  std::string not_canonical = kYarrgh;
  not_canonical[42] = 'H';  // 'G' = 000110 + unused bits 00; 'H' sets an unused bit
  std::string unpadded = std::string(kYarrgh, 43) + "A";
  const std::string expect_bad =
      "'org.matrix.msc4205.hashes.sha256' is not a SHA-256 digest in padded base64 (44 characters)";
  for (const std::string& b64 : {bad_len, bad_char, not_canonical, unpadded}) {
    INFO(b64);
    CHECK(problem_of({{"recommendation", "m.ban"},
                      {"org.matrix.msc4205.hashes", {{"sha256", b64}}}}) == expect_bad);
  }
  CHECK(problem_of({{"recommendation", "m.ban"}, {"org.matrix.msc4205.hashes", "x"}}) ==
        "'org.matrix.msc4205.hashes' is not an object");
  CHECK(problem_of({{"recommendation", "m.ban"}, {"hashes", {{"sha512", "x"}}}}) ==
        "'hashes' has no 'sha256'");
  CHECK(problem_of({{"recommendation", "m.ban"}, {"hashes", {{"sha256", 7}}}}) ==
        "'hashes.sha256' is not a string");
  // An entity wins over hashes; a broken entity is not rescued by them.
  auto both = parse(state_event(
      "m.policy.rule.user", "k",
      {{"entity", "@a:b"}, {"recommendation", "m.ban"}, {"hashes", {{"sha256", kYarrgh}}}}));
  REQUIRE(both.rule);
  CHECK(both.rule->entity == "@a:b");
  CHECK(both.rule->sha256.empty());
  CHECK(
      problem_of({{"entity", 1}, {"recommendation", "m.ban"}, {"hashes", {{"sha256", kYarrgh}}}}) ==
      "'entity' is not a string");

  CHECK(decode_sha256_base64(kYarrgh) == tyr::sha256("@yarrgh:example.com"));
}

TEST_CASE("policy: events that are not policy rules are not parsed", "[policy]") {
  CHECK_FALSE(parse_policy_event(state_event("m.room.member", "@a:b", json::object()), kList));
  json no_key = state_event("m.policy.rule.user", "k", json::object());
  no_key.erase("state_key");
  CHECK_FALSE(parse_policy_event(no_key, kList));
  json numeric_key = state_event("m.policy.rule.user", "k", json::object());
  numeric_key["state_key"] = 3;
  CHECK_FALSE(parse_policy_event(numeric_key, kList));
  CHECK_FALSE(parse_policy_event(json::array(), kList));
}

// ---------------------------------------------------------------------------------------------
// PolicyList

namespace {
PolicyEvent rule_event(const char* type, std::string key, std::string entity,
                       std::string recommendation = "m.ban", std::string event_id = "$ev") {
  json ev =
      state_event(type, std::move(key),
                  {{"entity", std::move(entity)}, {"recommendation", std::move(recommendation)}});
  ev["event_id"] = std::move(event_id);
  return parse(ev);
}
PolicyEvent removal_event(const char* type, std::string key) {
  return parse(state_event(type, std::move(key), json::object()));
}
}  // namespace

TEST_CASE("policy: the highest-precedence family is the effective rule", "[policy]") {
  PolicyList list(kList);
  auto d1 = list.apply(rule_event("org.matrix.mjolnir.rule.user", "k", "@old:x"));
  CHECK_FALSE(d1.removed);
  REQUIRE(d1.added);
  CHECK(d1.added->entity == "@old:x");
  CHECK(d1.added->family == Family::kMjolnir);

  auto d2 = list.apply(rule_event("m.policy.rule.user", "k", "@new:x"));
  REQUIRE(d2.removed);
  REQUIRE(d2.added);
  CHECK(d2.removed->entity == "@old:x");
  CHECK(d2.added->entity == "@new:x");
  CHECK(d2.added->family == Family::kStable);

  // A lower family under a key with a stable rule changes nothing effective.
  CHECK(list.apply(rule_event("m.room.rule.user", "k", "@mid:x")).empty());
  CHECK(list.apply(removal_event("org.matrix.mjolnir.rule.user", "k")).empty());
  CHECK(list.size() == 1);

  // Removing the stable rule uncovers the legacy one.
  auto d3 = list.apply(removal_event("m.policy.rule.user", "k"));
  REQUIRE(d3.removed);
  REQUIRE(d3.added);
  CHECK(d3.removed->entity == "@new:x");
  CHECK(d3.added->entity == "@mid:x");
  CHECK(d3.added->family == Family::kLegacyRoom);

  auto d4 = list.apply(removal_event("m.room.rule.user", "k"));
  REQUIRE(d4.removed);
  CHECK_FALSE(d4.added);
  CHECK(list.size() == 0);
  CHECK(list.effective_rules().empty());
  CHECK(list.apply(removal_event("m.room.rule.user", "k")).empty());
}

TEST_CASE("policy: re-sends are no change, modifications are removed + added", "[policy]") {
  PolicyList list(kList);
  CHECK(list.apply(rule_event("m.policy.rule.user", "k", "@a:x", "m.ban", "$1")).added);
  CHECK(list.apply(rule_event("m.policy.rule.user", "k", "@a:x", "m.ban", "$2")).empty());
  REQUIRE(list.find(EntityKind::kUser, "k"));
  CHECK(list.find(EntityKind::kUser, "k")->event_id == "$1");  // the event that set it

  auto changed = list.apply(rule_event("m.policy.rule.user", "k", "@a:x", "m.takedown", "$3"));
  REQUIRE(changed.removed);
  REQUIRE(changed.added);
  CHECK(changed.removed->recommendation == Recommendation::kBan);
  CHECK(changed.added->recommendation == Recommendation::kTakedown);
  CHECK(changed.added->event_id == "$3");

  // The same state_key in another kind is another rule.
  CHECK(list.apply(rule_event("m.policy.rule.server", "k", "evil.example")).added);
  CHECK(list.count(EntityKind::kUser) == 1);
  CHECK(list.count(EntityKind::kServer) == 1);

  // A malformed event removes the rule it replaces.
  auto broken =
      parse(state_event("m.policy.rule.server", "k", {{"entity", 3}, {"recommendation", "m.ban"}}));
  CHECK(broken.problem == "'entity' is not a string");
  auto d = list.apply(broken);
  REQUIRE(d.removed);
  CHECK_FALSE(d.added);
  CHECK(list.count(EntityKind::kServer) == 0);
}

TEST_CASE("policy: unknown recommendations shadow and are counted", "[policy]") {
  PolicyList list(kList);
  list.apply(rule_event("org.matrix.mjolnir.rule.user", "k", "@a:x", "m.ban"));
  auto d = list.apply(rule_event("m.policy.rule.user", "k", "@a:x", "org.matrix.mjolnir.allow"));
  REQUIRE(d.added);
  CHECK(d.added->recommendation == Recommendation::kUnknown);
  CHECK(list.unknown_count() == 1);
  list.apply(rule_event("m.policy.rule.user", "k2", "@b:x"));
  auto rules = list.effective_rules();
  REQUIRE(rules.size() == 2);
  CHECK(rules[0].state_key == "k");
  CHECK(rules[0].recommendation == Recommendation::kUnknown);
  CHECK(rules[1].state_key == "k2");
}

TEST_CASE("policy: a bulk load leaves the rules apply() leaves, and hands them over", "[policy]") {
  const std::vector<PolicyEvent> events = {
      rule_event("org.matrix.mjolnir.rule.user", "k", "@old:x", "m.ban", "$1"),
      rule_event("m.policy.rule.user", "k", "@new:x", "m.ban", "$2"),
      rule_event("m.room.rule.user", "k", "@mid:x", "m.ban", "$3"),
      rule_event("m.policy.rule.user", "k", "@new:x", "m.ban", "$4"),  // re-send: keeps $2
      rule_event("m.policy.rule.user", "u", "@u:x", "org.matrix.mjolnir.allow", "$5"),
      rule_event("m.policy.rule.server", "k", "evil.example", "m.takedown", "$6"),
      rule_event("m.policy.rule.server", "gone", "gone.example", "m.ban", "$7"),
      removal_event("m.policy.rule.server", "gone"),
      removal_event("m.policy.rule.room", "never"),
      removal_event("m.policy.rule.user", "k"),  // uncovers the legacy rule
  };
  PolicyList applied(kList), loaded(kList);
  for (const PolicyEvent& ev : events) {
    applied.apply(ev);
    loaded.load(PolicyEvent(ev));
  }
  CHECK(loaded.size() == applied.size());
  CHECK(loaded.count(EntityKind::kServer) == 1);
  CHECK(loaded.unknown_count() == applied.unknown_count());
  const auto want = applied.effective_rules();
  REQUIRE(loaded.effective_rules().size() == want.size());
  const auto got = loaded.take_effective_rules();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(same_rule(got[i], want[i]));
    CHECK(got[i].event_id == want[i].event_id);
  }
  REQUIRE(got.size() == 3);
  CHECK(got[0].entity == "@mid:x");
  CHECK(got[0].family == Family::kLegacyRoom);
  CHECK(loaded.size() == 0);
  CHECK(loaded.effective_rules().empty());
}
