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

using namespace tyr::policy;
using tyr::glob_matches;
using tyr::decode_sha256_base64;
using tyr::is_ip_literal;
using nlohmann::json;

namespace {

constexpr const char* kList = "!list:example.org";
constexpr const char* kYarrgh = "VPqwbUV7mMMkOVto3kPwsNXXiALMs7VCKWh3OeqqjGs=";

json state_event(std::string type, std::string state_key, json content) {
  return json{{"type", std::move(type)},
              {"state_key", std::move(state_key)},
              {"event_id", "$ev"},
              {"sender", "@mod:example.org"},
              {"content", std::move(content)}};
}

PolicyEvent parse(const json& event) {
  auto parsed = parse_policy_event(event, kList);
  REQUIRE(parsed.has_value());
  return *parsed;
}

// The problem text for a content of an m.policy.rule.user event; "" when it parsed.
std::string problem_of(json content) {
  return parse(state_event("m.policy.rule.user", "k", std::move(content))).problem;
}

PolicyRule make_rule(EntityKind kind, std::string state_key, std::string entity,
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

PolicyRule hashed_rule(EntityKind kind, std::string state_key, std::string_view entity) {
  PolicyRule r = make_rule(kind, std::move(state_key), "");
  r.sha256 = tyr::to_base64(tyr::sha256(entity));
  return r;
}

ListDiff add(PolicyRule r) { return ListDiff{std::nullopt, std::move(r)}; }
ListDiff remove(PolicyRule r) { return ListDiff{std::move(r), std::nullopt}; }

std::vector<std::string> sorted_keys(const std::vector<const PolicyRule*>& hits) {
  std::vector<std::string> out;
  for (const PolicyRule* r : hits) out.push_back(r->state_key);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> hits(const PolicyIndex& index, EntityKind kind, std::string_view entity) {
  std::vector<const PolicyRule*> out;
  index.match(kind, entity, out);
  return sorted_keys(out);
}

std::vector<std::string> user_hits(const PolicyIndex& index, std::string_view user_id) {
  std::vector<const PolicyRule*> out;
  index.match_user(user_id, out);
  return sorted_keys(out);
}

using Keys = std::vector<std::string>;

// Runs the rest of the test case twice: rules in the small delta tables (linear glob
// matching), then in built tables (Hyperscan factors, RE2::Set).
#define DELTA_AND_BUILT(index)                          \
  SECTION("rules in the delta") {}                      \
  SECTION("rules in built tables") {                    \
    (index).compact();                                  \
    REQUIRE((index).stats().delta == 0);                \
  }

}  // namespace

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
  CHECK(parse(state_event("m.room.rule.user", "k",
                          {{"entity", "@a:b"}, {"recommendation", "m.ban"}}))
            .family == Family::kLegacyRoom);
  CHECK(parse(state_event("org.matrix.mjolnir.rule.room", "k",
                          {{"entity", "!r:b"}, {"recommendation", "m.takedown"}}))
            .rule->recommendation == Recommendation::kTakedown);
}

TEST_CASE("policy: unknown recommendations are kept, reasons are optional", "[policy]") {
  auto ev = parse(state_event(
      "m.policy.rule.user", "k",
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
  auto both = parse(state_event("m.policy.rule.user", "k",
                                {{"entity", "@a:b"},
                                 {"recommendation", "m.ban"},
                                 {"hashes", {{"sha256", kYarrgh}}}}));
  REQUIRE(both.rule);
  CHECK(both.rule->entity == "@a:b");
  CHECK(both.rule->sha256.empty());
  CHECK(problem_of({{"entity", 1},
                    {"recommendation", "m.ban"},
                    {"hashes", {{"sha256", kYarrgh}}}}) == "'entity' is not a string");

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
  json ev = state_event(
      type, std::move(key),
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
  auto broken = parse(
      state_event("m.policy.rule.server", "k", {{"entity", 3}, {"recommendation", "m.ban"}}));
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

// ---------------------------------------------------------------------------------------------
// PolicyIndex

TEST_CASE("policy: literal entities match case-insensitively, globs as ACLs", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kUser, "lit", "@Spammer:Example.org")),
               add(make_rule(EntityKind::kUser, "glob", "@spam*:example.org")),
               add(make_rule(EntityKind::kUser, "q", "@???:example.org")),
               add(make_rule(EntityKind::kUser, "upper", "@BOT-*:EVIL.EXAMPLE")),
               add(make_rule(EntityKind::kRoom, "room", "#spam-*:example.org")),
               add(make_rule(EntityKind::kRoom, "roomid", "!AbC:example.org"))});
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kUser, "@spammer:example.org") == Keys{"glob", "lit"});
  CHECK(hits(index, EntityKind::kUser, "@SPAMMER:EXAMPLE.ORG") == Keys{"glob", "lit"});
  CHECK(hits(index, EntityKind::kUser, "@spam:example.org") == Keys{"glob"});
  CHECK(hits(index, EntityKind::kUser, "@bob:example.org") == Keys{"q"});
  CHECK(hits(index, EntityKind::kUser, "@bo:example.org").empty());
  CHECK(hits(index, EntityKind::kUser, "@bot-1:evil.example") == Keys{"upper"});
  CHECK(hits(index, EntityKind::kUser, "x@spammer:example.org").empty());   // whole string
  CHECK(hits(index, EntityKind::kUser, "@spammer:example.org.").empty());
  CHECK(hits(index, EntityKind::kRoom, "#SPAM-room:example.org") == Keys{"room"});
  CHECK(hits(index, EntityKind::kRoom, "!abc:example.org") == Keys{"roomid"});
  CHECK(hits(index, EntityKind::kServer, "example.org").empty());  // kinds are separate
}

TEST_CASE("policy: ? is one code point, never a newline", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kUser, "one", "@?:x")),
               add(make_rule(EntityKind::kUser, "two", "@??:x")),
               add(make_rule(EntityKind::kUser, "star", "@a*b:x"))});
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kUser, "@é:x") == Keys{"one"});
  CHECK(hits(index, EntityKind::kUser, "@😀:x") == Keys{"one"});
  CHECK(hits(index, EntityKind::kUser, "@ab:x") == Keys{"star", "two"});
  CHECK(hits(index, EntityKind::kUser, "@éé:x") == Keys{"two"});
  CHECK(hits(index, EntityKind::kUser, "@\n:x").empty());
  CHECK(hits(index, EntityKind::kUser, "@a\nb:x").empty());
  CHECK(hits(index, EntityKind::kUser, "@aéb:x") == Keys{"star"});
  for (std::string_view input : {"@é:x", "@😀:x", "@\n:x", "@a\nb:x", "@aéb:x"}) {
    CHECK(glob_matches("@?:x", input) == (hits(index, EntityKind::kUser, input) == Keys{"one"}));
  }
}

TEST_CASE("policy: non-ASCII case folding follows glob_matches", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kUser, "kelvin", "@\xE2\x84\xAA" "en:x")),  // U+212A
               add(make_rule(EntityKind::kUser, "ascii-k", "@kim:x")),
               add(make_rule(EntityKind::kUser, "eacute", "@ÉLODIE:x")),
               add(make_rule(EntityKind::kUser, "sigma", "@Σ*:x")),
               add(make_rule(EntityKind::kUser, "longs", "@ſam*"))});
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kUser, "@ken:x") == Keys{"kelvin"});
  CHECK(hits(index, EntityKind::kUser, "@KEN:x") == Keys{"kelvin"});
  CHECK(hits(index, EntityKind::kUser, "@\xE2\x84\xAAim:x") == Keys{"ascii-k"});
  CHECK(hits(index, EntityKind::kUser, "@élodie:x") == Keys{"eacute"});
  CHECK(hits(index, EntityKind::kUser, "@σα:x") == Keys{"sigma"});
  CHECK(hits(index, EntityKind::kUser, "@ςα:x") == Keys{"sigma"});
  CHECK(hits(index, EntityKind::kUser, "@SAM:y") == Keys{"longs"});
  CHECK(hits(index, EntityKind::kUser, "@ſAM:y") == Keys{"longs"});
  for (auto [glob, input] : std::vector<std::pair<std::string, std::string>>{
           {"@\xE2\x84\xAA" "en:x", "@ken:x"}, {"@kim:x", "@\xE2\x84\xAAim:x"},
           {"@ÉLODIE:x", "@élodie:x"}, {"@Σ*:x", "@ςα:x"}, {"@ſam*", "@SAM:y"}}) {
    CHECK(glob_matches(glob, input));
  }
}

TEST_CASE("policy: server rules match the server name without its port", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kServer, "lit", "evil.example")),
               add(make_rule(EntityKind::kServer, "glob", "*.bad.example")),
               add(make_rule(EntityKind::kServer, "ip", "1.2.3.4")),
               add(make_rule(EntityKind::kServer, "ipglob", "10.0.0.*")),
               add(make_rule(EntityKind::kServer, "v6", "[::1]")),
               add(make_rule(EntityKind::kUser, "user", "@mallory:*"))});
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kServer, "evil.example:8448") == Keys{"lit"});
  CHECK(hits(index, EntityKind::kServer, "EVIL.example") == Keys{"lit"});
  CHECK(hits(index, EntityKind::kServer, "a.b.bad.example:443") == Keys{"glob"});
  CHECK(hits(index, EntityKind::kServer, "bad.example").empty());
  CHECK(hits(index, EntityKind::kServer, "[::1]") == Keys{"v6"});
  CHECK(hits(index, EntityKind::kServer, "[::1]:8448") == Keys{"v6"});
  // IP-literal look-alikes are names: no special casing, `.` is literal.
  CHECK(is_ip_literal("1.2.3.4"));
  CHECK_FALSE(is_ip_literal("1.2.3.4.example.org"));
  CHECK(hits(index, EntityKind::kServer, "1.2.3.4") == Keys{"ip"});
  CHECK(hits(index, EntityKind::kServer, "1.2.3.4:8448") == Keys{"ip"});
  CHECK(hits(index, EntityKind::kServer, "1.2.3.4.example.org").empty());
  CHECK(hits(index, EntityKind::kServer, "1x2x3x4").empty());
  CHECK(hits(index, EntityKind::kServer, "10.0.0.7.example.org") == Keys{"ipglob"});

  CHECK(user_hits(index, "@alice:evil.example:8448") == Keys{"lit"});
  CHECK(user_hits(index, "@mallory:x.bad.example") == Keys{"glob", "user"});
  CHECK(user_hits(index, "@alice:good.example").empty());
  CHECK(user_hits(index, "@alice:[::1]:8448") == Keys{"v6"});
}

TEST_CASE("policy: regex metacharacters in entities are literal", "[policy]") {
  PolicyIndex index;
  const std::vector<std::string> entities = {"a+b.example", "(x)|y", "[abc]", "\\d", "^a$",
                                             "a{2}", "a.b*", "\\Q*\\E", "#room:x?"};
  std::vector<ListDiff> diffs;
  for (const auto& e : entities) diffs.push_back(add(make_rule(EntityKind::kRoom, e, e)));
  index.apply(diffs);
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kRoom, "a+b.example") == Keys{"a+b.example"});
  CHECK(hits(index, EntityKind::kRoom, "aab.example").empty());
  CHECK(hits(index, EntityKind::kRoom, "a+bxexample").empty());
  CHECK(hits(index, EntityKind::kRoom, "(x)|y") == Keys{"(x)|y"});
  CHECK(hits(index, EntityKind::kRoom, "y").empty());
  CHECK(hits(index, EntityKind::kRoom, "x").empty());
  CHECK(hits(index, EntityKind::kRoom, "[abc]") == Keys{"[abc]"});
  CHECK(hits(index, EntityKind::kRoom, "a").empty());
  CHECK(hits(index, EntityKind::kRoom, "\\d") == Keys{"\\d"});
  CHECK(hits(index, EntityKind::kRoom, "7").empty());
  CHECK(hits(index, EntityKind::kRoom, "^a$") == Keys{"^a$"});
  CHECK(hits(index, EntityKind::kRoom, "a{2}") == Keys{"a{2}"});
  CHECK(hits(index, EntityKind::kRoom, "aa").empty());
  CHECK(hits(index, EntityKind::kRoom, "a.bbb") == Keys{"a.b*"});
  CHECK(hits(index, EntityKind::kRoom, "axb").empty());
  CHECK(hits(index, EntityKind::kRoom, "\\Qanything\\E") == Keys{"\\Q*\\E"});
  CHECK(hits(index, EntityKind::kRoom, "#room:x1") == Keys{"#room:x?"});
}

TEST_CASE("policy: hashed user and server rules", "[policy]") {
  PolicyIndex index;
  PolicyRule user = make_rule(EntityKind::kUser, "h-user", "");
  user.sha256 = kYarrgh;
  index.apply({add(user), add(hashed_rule(EntityKind::kServer, "h-server", "evil.example")),
               add(hashed_rule(EntityKind::kRoom, "h-room", "!secret:example.org"))});
  DELTA_AND_BUILT(index)
  CHECK(index.stats().hashes == 3);
  CHECK(hits(index, EntityKind::kUser, "@yarrgh:example.com") == Keys{"h-user"});
  CHECK(hits(index, EntityKind::kUser, "@Yarrgh:example.com").empty());  // exact bytes
  CHECK(user_hits(index, "@yarrgh:example.com") == Keys{"h-user"});
  CHECK(user_hits(index, "@anyone:evil.example:8448") == Keys{"h-server"});
  CHECK(hits(index, EntityKind::kServer, "evil.example") == Keys{"h-server"});
  CHECK(hits(index, EntityKind::kRoom, "!secret:example.org") == Keys{"h-room"});
  CHECK(hits(index, EntityKind::kRoom, "!secret:example.org ").empty());

  // A rule the parser would reject never matches and is counted as such.
  PolicyRule broken = make_rule(EntityKind::kUser, "bad", "");
  broken.sha256 = "nope";
  index.apply(add(broken));
  CHECK(index.stats().unmatchable == 1);
}

TEST_CASE("policy: diffs, replace_list and remove_list update the index", "[policy]") {
  PolicyIndex index;
  const std::string other = "!other:example.org";
  index.apply({add(make_rule(EntityKind::kUser, "a", "@a:x")),
               add(make_rule(EntityKind::kUser, "g", "@g*:x")),
               add(make_rule(EntityKind::kUser, "b", "@a:x", other))});
  CHECK(hits(index, EntityKind::kUser, "@a:x") == Keys{"a", "b"});

  // Explaining: each hit names its list, key, entity, recommendation and reason.
  {
    auto snap = index.snapshot();
    std::vector<const PolicyRule*> out;
    snap->match(EntityKind::kUser, "@a:x", out);
    REQUIRE(out.size() == 2);
    std::set<std::string> lists;
    for (const PolicyRule* r : out) {
      lists.insert(r->list);
      CHECK(r->entity == "@a:x");
      CHECK(r->recommendation == Recommendation::kBan);
      CHECK(r->reason == "spam");
    }
    CHECK(lists == std::set<std::string>{kList, other});
  }

  index.apply(remove(make_rule(EntityKind::kUser, "a", "@a:x")));
  CHECK(hits(index, EntityKind::kUser, "@a:x") == Keys{"b"});
  index.apply(ListDiff{make_rule(EntityKind::kUser, "g", "@g*:x"),
                       make_rule(EntityKind::kUser, "g", "@h*:x")});
  CHECK(hits(index, EntityKind::kUser, "@gg:x").empty());
  CHECK(hits(index, EntityKind::kUser, "@hh:x") == Keys{"g"});

  // Unknown recommendations are held but never matched.
  index.apply(add(
      make_rule(EntityKind::kUser, "allow", "@allowed:x", kList, "org.matrix.mjolnir.allow")));
  CHECK(hits(index, EntityKind::kUser, "@allowed:x").empty());
  CHECK(index.stats().unknown == 1);

  index.replace_list(kList, {make_rule(EntityKind::kUser, "n", "@new:x"),
                             make_rule(EntityKind::kServer, "s", "*.evil.example")});
  CHECK(hits(index, EntityKind::kUser, "@hh:x").empty());
  CHECK(hits(index, EntityKind::kUser, "@new:x") == Keys{"n"});
  CHECK(user_hits(index, "@x:a.evil.example") == Keys{"s"});
  CHECK(hits(index, EntityKind::kUser, "@a:x") == Keys{"b"});
  CHECK(index.stats().unknown == 0);
  const auto before = index.stats().version;
  index.replace_list(kList, {make_rule(EntityKind::kUser, "n", "@new:x"),
                             make_rule(EntityKind::kServer, "s", "*.evil.example")});
  CHECK(index.stats().version == before);  // unchanged list: nothing published

  index.remove_list(other);
  CHECK(hits(index, EntityKind::kUser, "@a:x").empty());
  index.remove_list(kList);
  CHECK(hits(index, EntityKind::kUser, "@new:x").empty());
  auto stats = index.stats();
  CHECK(stats.rules == std::array<size_t, kEntityKinds>{0, 0, 0});
  CHECK(stats.literals + stats.globs + stats.hashes == 0);
}

TEST_CASE("policy: deltas merge into the built tables past the limits", "[policy]") {
  PolicyIndexOptions options;
  options.max_delta_globs = 4;
  options.max_delta_entries = 4;
  PolicyIndex index(options);
  for (int i = 0; i < 4; ++i) {
    index.apply(add(make_rule(EntityKind::kServer, "g" + std::to_string(i),
                              "*.bad-" + std::to_string(i) + ".example")));
  }
  auto stats = index.stats();
  CHECK(stats.delta == 4);
  CHECK(stats.hyperscan_factors == 0);
  const auto rebuilds = stats.rebuilds;
  index.apply(add(make_rule(EntityKind::kServer, "g4", "*.bad-4.example")));
  stats = index.stats();
  CHECK(stats.delta == 0);
  CHECK(stats.rebuilds == rebuilds + 1);
  CHECK(stats.hyperscan_factors == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(hits(index, EntityKind::kServer, "x.bad-" + std::to_string(i) + ".example") ==
          Keys{"g" + std::to_string(i)});
  }
  // Removals from a built table are tombstones until there are too many.
  for (int i = 0; i < 4; ++i) {
    index.apply(remove(make_rule(EntityKind::kServer, "g" + std::to_string(i), "")));
    CHECK(hits(index, EntityKind::kServer, "x.bad-" + std::to_string(i) + ".example").empty());
  }
  stats = index.stats();
  CHECK(stats.tombstones == 4);
  index.apply(add(make_rule(EntityKind::kServer, "late", "late.example")));
  index.compact();
  stats = index.stats();
  CHECK(stats.tombstones == 0);
  CHECK(stats.delta == 0);
  CHECK(stats.hyperscan_factors == 1);
  CHECK(hits(index, EntityKind::kServer, "y.bad-4.example") == Keys{"g4"});
  CHECK(hits(index, EntityKind::kServer, "late.example") == Keys{"late"});
  CHECK(hits(index, EntityKind::kServer, "x.bad-0.example").empty());
}

TEST_CASE("policy: input RE2 cannot read as UTF-8 matches what glob_matches says", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kRoom, "star", "*")),
               add(make_rule(EntityKind::kRoom, "q", "?")),
               add(make_rule(EntityKind::kRoom, "aq", "a?")),
               add(make_rule(EntityKind::kRoom, "uq", "é?"))});
  const std::vector<std::pair<std::string, std::string>> globs = {
      {"*", "star"}, {"?", "q"}, {"a?", "aq"}, {"é?", "uq"}};
  const std::vector<std::string> conts = {"", std::string(1, '\0'), "\x7F", "\x80", "\xBF",
                                          "\xC0", "\xFF"};
  std::vector<std::string> inputs;
  for (int lead = 0x80; lead <= 0xFF; ++lead) {
    for (const auto& c1 : conts) {
      for (const std::string c2 : {"", "\x80\x80", "\xBF"}) {
        inputs.push_back(std::string(1, static_cast<char>(lead)) + c1 + c2);
      }
    }
  }
  size_t matched = 0;
  for (const std::string& base : inputs) {
    for (const std::string& input : {base, "a" + base, "é" + base}) {
      Keys expected;
      for (const auto& [glob, key] : globs) {
        if (glob_matches(glob, input)) expected.push_back(key);
      }
      std::sort(expected.begin(), expected.end());
      matched += expected.size();
      INFO(Catch::Detail::stringify(input));
      CHECK(hits(index, EntityKind::kRoom, input) == expected);
    }
  }
  CHECK(matched > 100);  // RE2 reads overlong E0/F0 forms and surrogates as characters
}

// ---------------------------------------------------------------------------------------------
// Differential: the index against the reference matcher.

namespace {

// The regex glob_matches builds, compiled once per pattern (glob_matches compiles per call,
// which would make 4 million comparisons take minutes). Checked against glob_matches below.
struct Reference {
  std::string entity;
  std::unique_ptr<RE2> re;
  explicit Reference(std::string e) : entity(std::move(e)) {
    RE2::Options options;
    options.set_case_sensitive(false);
    options.set_log_errors(false);
    re = std::make_unique<RE2>(glob_to_regex_body(entity), options);
  }
  bool matches(std::string_view text) const {
    return re->ok() && RE2::FullMatch(re2::StringPiece(text.data(), text.size()), *re);
  }
};

struct Corpus {
  std::vector<std::string> patterns;
  std::vector<std::string> inputs;
};

Corpus make_corpus(size_t n_patterns, size_t n_inputs, uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  // Few distinct letters so that random globs and inputs meet often.
  const std::vector<std::string> ascii = {"a", "b", "A", "B", "k", "K", "s", "S", ".", ":", "@",
                                          "-", "+", "(", ")", "|", "[", "]", "\\", "^", "$", "{",
                                          "}", "1", "#", "!", " "};
  const std::vector<std::string> unicode = {"é", "É", "ß", "ẞ", "\xE2\x84\xAA", "ſ", "σ", "ς",
                                            "Σ", "ǅ", "ǆ", "İ", "ı", "😀", "Ω", "ω", "\xE2\x84\xA6"};
  auto atom = [&](bool allow_unicode) -> std::string {
    const size_t r = pick(100);
    if (allow_unicode && r < 12) return unicode[pick(unicode.size())];
    if (r == 12) return "\n";
    return ascii[pick(ascii.size())];
  };
  Corpus c;
  for (size_t i = 0; i < n_patterns; ++i) {
    const bool uni = pick(100) < 15;
    const size_t len = 1 + pick(8);
    std::string p;
    for (size_t j = 0; j < len; ++j) {
      const size_t r = pick(100);
      if (r < 15) p += "*";
      else if (r < 28) p += "?";
      else p += atom(uni);
    }
    if (pick(100) == 0) p.insert(pick(p.size() + 1), 1, '\xC3');  // broken UTF-8: never matches
    c.patterns.push_back(p);
  }
  for (size_t i = 0; i < n_inputs; ++i) {
    std::string s;
    if (pick(2) == 0) {
      // Instantiate a pattern: wildcards become random text, letters may change case.
      for (char ch : c.patterns[pick(c.patterns.size())]) {
        if (ch == '*') {
          for (size_t n = pick(3); n > 0; --n) s += atom(true);
        } else if (ch == '?') {
          s += atom(true);
        } else if (std::isalpha(static_cast<unsigned char>(ch)) && pick(2) == 0) {
          s += static_cast<char>(ch ^ 0x20);
        } else {
          s += ch;
        }
      }
    } else {
      for (size_t n = pick(9); n > 0; --n) s += atom(true);
    }
    if (pick(100) < 2) s.insert(pick(s.size() + 1), 1, '\xC3');  // broken UTF-8
    c.inputs.push_back(s);
  }
  return c;
}

// Matches every input in the index and in the reference; returns the number of mismatches.
size_t differ(const PolicyIndex& index, const std::vector<Reference>& live,
              const std::vector<std::string>& inputs, size_t* total_hits) {
  size_t mismatches = 0;
  auto snap = index.snapshot();
  for (const std::string& input : inputs) {
    Keys expected;
    for (size_t i = 0; i < live.size(); ++i) {
      if (live[i].matches(input)) expected.push_back(std::to_string(i));
    }
    std::sort(expected.begin(), expected.end());
    std::vector<const PolicyRule*> out;
    snap->match(EntityKind::kRoom, input, out);
    const Keys got = sorted_keys(out);
    *total_hits += expected.size();
    if (got != expected) {
      if (++mismatches <= 5) {
        UNSCOPED_INFO("input " << Catch::Detail::stringify(input) << ": index " << got.size()
                               << " rules, reference " << expected.size());
      }
    }
  }
  return mismatches;
}

}  // namespace

TEST_CASE("policy: index agrees with glob_matches on random globs and entities", "[policy]") {
  const Corpus corpus = make_corpus(2000, 2000, 20240611);
  std::vector<Reference> refs;
  std::vector<PolicyRule> rules;
  for (size_t i = 0; i < corpus.patterns.size(); ++i) {
    refs.emplace_back(corpus.patterns[i]);
    rules.push_back(make_rule(EntityKind::kRoom, std::to_string(i), corpus.patterns[i]));
  }

  // The precompiled reference is glob_matches.
  std::mt19937 rng(7);
  for (int n = 0; n < 3000; ++n) {
    const auto& ref = refs[rng() % refs.size()];
    const auto& input = corpus.inputs[rng() % corpus.inputs.size()];
    REQUIRE(ref.matches(input) == glob_matches(ref.entity, input));
  }

  size_t total_hits = 0;
  SECTION("built tables (Hyperscan, RE2::Set)") {
    PolicyIndex index;
    index.replace_list(kList, rules);
    index.compact();  // the literals fit in a delta: build them too
    CHECK(index.stats().delta == 0);
    CHECK(index.stats().hyperscan_factors > 0);
    CHECK(differ(index, refs, corpus.inputs, &total_hits) == 0);
  }
  SECTION("everything in the delta (linear matching)") {
    PolicyIndexOptions options;
    options.max_delta_globs = 100000;
    options.max_delta_entries = 100000;
    PolicyIndex index(options);
    std::vector<ListDiff> diffs;
    for (const auto& r : rules) diffs.push_back(add(r));
    index.apply(diffs);
    CHECK(index.stats().hyperscan_factors == 0);
    CHECK(differ(index, refs, corpus.inputs, &total_hits) == 0);
  }
  SECTION("built, then half removed (tombstones) and re-added (delta)") {
    PolicyIndexOptions options;
    options.max_delta_globs = 5000;
    options.max_delta_entries = 5000;
    PolicyIndex index(options);
    index.replace_list(kList, rules);
    index.compact();
    std::vector<ListDiff> diffs;
    std::vector<Reference> live;
    for (size_t i = 0; i < rules.size(); ++i) {
      if (i % 2 == 0) {
        diffs.push_back(remove(rules[i]));
        live.emplace_back("");  // index i removed: nothing matches "" but ""
      } else {
        live.emplace_back(corpus.patterns[i]);
      }
    }
    for (size_t i = 0; i < rules.size(); i += 4) {  // a quarter comes back in the delta
      diffs.push_back(add(rules[i]));
      live[i] = Reference(corpus.patterns[i]);
    }
    index.apply(diffs);
    CHECK(index.stats().tombstones > 0);
    CHECK(index.stats().delta > 0);
    std::vector<std::string> inputs = corpus.inputs;
    inputs.erase(std::remove(inputs.begin(), inputs.end(), ""), inputs.end());
    CHECK(differ(index, live, inputs, &total_hits) == 0);
  }
  CHECK(total_hits > 1000);  // the corpus really exercises matches
}

// ---------------------------------------------------------------------------------------------
// Concurrency

TEST_CASE("policy: readers match while a writer applies diffs", "[policy]") {
  PolicyIndexOptions options;
  options.max_delta_globs = 8;  // forces frequent rebuilds
  options.max_delta_entries = 8;
  PolicyIndex index(options);
  index.replace_list(kList, {make_rule(EntityKind::kUser, "pinned", "@pinned:*"),
                             make_rule(EntityKind::kServer, "pinned-server", "stays.example")});
  std::atomic<bool> done{false};
  std::atomic<size_t> failures{0};
  std::atomic<size_t> lookups{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::vector<const PolicyRule*> out;
      size_t i = 0;
      while (!done.load(std::memory_order_relaxed) || i < 200) {
        auto snap = index.snapshot();
        out.clear();
        const std::string n = std::to_string((i * 7 + t) % 64);
        snap->match_user("@pinned:host-" + n + ".stays.example", out);
        bool pinned = false;
        for (const PolicyRule* r : out) {
          if (r->state_key == "pinned") pinned = true;
          if (r->entity.empty() && r->sha256.empty()) ++failures;  // a dangling rule
        }
        if (!pinned) ++failures;
        out.clear();
        snap->match_user("@u" + n + ":evil-" + n + ".example:8448", out);
        for (const PolicyRule* r : out) {
          if (r->list != kList) ++failures;
        }
        ++i;
        ++lookups;
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    const std::string n = std::to_string(i % 64);
    PolicyRule glob = make_rule(EntityKind::kServer, "g" + n, "*.evil-" + n + ".example");
    PolicyRule lit = make_rule(EntityKind::kUser, "l" + n, "@u" + n + ":evil-" + n + ".example");
    if (i % 3 == 2) {
      index.apply({remove(glob), remove(lit)});
    } else {
      index.apply({add(glob), add(lit)});
    }
  }
  done = true;
  for (auto& r : readers) r.join();
  CHECK(failures.load() == 0);
  CHECK(lookups.load() >= 800);
  CHECK(index.stats().rebuilds > 10);
}
