// Regressions found by the libFuzzer targets (tests/fuzz/, docs/fuzzing.md). Each test is named
// after the corpus input that found the bug (tests/fuzz/corpus/<target>/regression-*), which the
// fuzz targets also replay.

#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "engine/appservice/appservice_server.hpp"
#include "engine/config/config.hpp"
#include "rules/rule_set.hpp"

using tyr::engine::kMaxEventDepth;
using tyr::engine::parse_transaction_body;

namespace {

// An event whose content is `levels` nested arrays: {"event_id":…,"content":[[…]]}.
std::string nested_event(const std::string& id, size_t levels) {
  return R"({"event_id":")" + id + R"(","content":)" + std::string(levels, '[') +
         std::string(levels, ']') + "}";
}

// The loader's error for one rule file "t.yaml", or "" when it loads.
std::string rules_error(const std::string& text) {
  auto loaded = tyr::rules::load_rule_sources({tyr::rules::RuleSource{"t.yaml", text, {}}});
  return loaded ? std::string() : loaded.error().message;
}

}  // namespace

TEST_CASE("fuzz regression: fuzz_transaction/regression-deep-nesting-stack-overflow", "[fuzz]") {
  // Re-serialising an event recursed once per level: 10,000 levels (20 kB) overflowed the stack
  // under ASan, under 100,000 (200 kB) in a release build, far below the 16 MiB body limit; and
  // the homeserver's retries crashed Tyr again and again. Such an entry is now skipped like one
  // without an event_id, and the rest of the transaction is accepted.
  const std::string body =
      R"({"events":[)" + nested_event("$deep", 100000) + "," + nested_event("$ok", 3) + "]}";
  auto parsed = parse_transaction_body(body);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->event_ids.size() == 2);
  CHECK(parsed->event_ids[0].empty());
  CHECK(parsed->event_json[0].empty());
  REQUIRE(parsed->skipped.size() == 1);
  CHECK(parsed->skipped[0].first == 0);
  CHECK(parsed->skipped[0].second == "nests deeper than 1024 levels");
  CHECK(parsed->event_ids[1] == "$ok");
  CHECK(nlohmann::json::parse(parsed->event_json[1])["event_id"] == "$ok");
}

TEST_CASE("fuzz regression: events nested up to the limit are kept", "[fuzz]") {
  // The event object is level 1 and "content" level 2: kMaxEventDepth - 1 arrays in it reach
  // exactly the limit.
  auto at_limit =
      parse_transaction_body(R"({"events":[)" + nested_event("$a", kMaxEventDepth - 1) + "]}");
  REQUIRE(at_limit.ok());
  CHECK(at_limit->event_ids == std::vector<std::string>{"$a"});
  CHECK(at_limit->skipped.empty());
  auto over = parse_transaction_body(R"({"events":[)" + nested_event("$b", kMaxEventDepth) + "]}");
  REQUIRE(over.ok());
  CHECK(over->event_ids == std::vector<std::string>{""});
  CHECK(over->skipped.size() == 1);
}

TEST_CASE("fuzz regression: fuzz_rule_file/regression-stray-comma-endless-documents", "[fuzz]") {
  // yaml-cpp 0.7's LoadAll reported an empty document for a stray "," without consuming it,
  // forever, keeping each one: a rule file "," (or `!tyr rules reload` of one) hung Tyr until
  // memory ran out.
  CHECK(rules_error(",") == "t.yaml:1:1: unexpected ','");
  CHECK(rules_error("rules: []\n---\n,\n") == "t.yaml:3:1: expected a single YAML document");
  CHECK(rules_error("rules: []\n---\nrules: []\n") ==
        "t.yaml:3:1: expected a single YAML document");
  CHECK(rules_error("") == "");
  CHECK(rules_error("# only a comment\n") == "");
}

TEST_CASE("fuzz regression: fuzz_rule_file/regression-alias-cycle-stack-overflow", "[fuzz]") {
  // An alias inside its own anchor is a node that contains itself: reading the condition
  // recursed until the stack overflowed.
  CHECK(rules_error("rules:\n  - id: a\n    score: 1\n    when: &c {not: *c}\n") ==
        "t.yaml:4:11: key 'rules[0].when': conditions nest deeper than 64 levels");
  // Here the limit strikes at the first child of the 64th `any`.
  CHECK(
      rules_error("rules:\n  - id: a\n    score: 1\n    when: &c {any: [{keywords: [x]}, *c]}\n") ==
      "t.yaml:4:21: key 'rules[0].when': conditions nest deeper than 64 levels");
}

TEST_CASE("fuzz regression: fuzz_rule_file/regression-alias-expansion-out-of-memory", "[fuzz]") {
  // Aliases of aliases multiply: 25 rules of `when: &cN {any: [*cM, *cM]}` (1.5 kB) built 2^25
  // conditions and ran out of memory.
  std::string text = "rules:\n  - id: l0\n    score: 1\n    when: &c0 {keywords: [spam]}\n";
  for (int i = 1; i <= 25; ++i) {
    const std::string n = std::to_string(i), m = std::to_string(i - 1);
    text += "  - id: l" + n + "\n    score: 1\n    when: &c" + n + " {any: [*c" + m + ", *c" + m +
            "]}\n";
  }
  const std::string error = rules_error(text);
  CHECK_THAT(error,
             Catch::Matches("t\\.yaml:[0-9]+:[0-9]+: key 'rules\\[[0-9]+\\]\\.when': more than "
                            "10000 conditions in the rule set \\(an alias counts as a copy "
                            "of its anchor\\)"));
  // Sharing through anchors stays fine at real sizes.
  CHECK(rules_error("rules:\n  - id: a\n    score: 1\n    when: &c {keywords: [x]}\n"
                    "  - id: b\n    score: 1\n    when: {all: [*c, *c]}\n") == "");
}

TEST_CASE("fuzz regression: a config file of a stray comma is an error, not a hang", "[fuzz]") {
  // The same yaml-cpp LoadAll loop as the rule file above, in Tyr's config loader.
  auto config_error = [](const std::string& text) -> std::string {
    try {
      tyr::engine::load_config_string(text, "tyr.yaml");
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  CHECK(config_error(",") == "tyr.yaml:1:1: unexpected ','");
  CHECK(config_error("data_dir: x\n---\n,\n") == "tyr.yaml:3:1: expected a single YAML document");
  CHECK(config_error("") == "tyr.yaml:1:1: expected a mapping at the top level");
}
