// The verdict combiner: one feature extraction per event shared by rules and protections, the
// protections folding their hits into the rules' verdict, reloads handing the rules' thresholds
// on; and the service's wiring of the real rules and protections (cli/scoring_wiring.hpp).

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cli/scoring_wiring.hpp"
#include "engine/pipeline/verdict_combiner.hpp"
#include "plugins/registry.hpp"
#include "rules/rule_scorer.hpp"
#include "temp_dir.hpp"

using namespace tyr;
using nlohmann::json;

namespace {

json message(const std::string& body, const std::string& room = "!r:x") {
  return {{"type", "m.room.message"},
          {"event_id", "$e"},
          {"room_id", room},
          {"sender", "@u:x"},
          {"content", {{"msgtype", "m.text"}, {"body", body}}}};
}

class RecordingRules : public RuleScorer {
 public:
  std::vector<const Features*> seen;
  std::string body;
  bool fail_reload = false;
  Thresholds loaded;
  EventVerdict score(const Features& features, int64_t) override {
    seen.push_back(&features);
    body = std::string(features.body);
    EventVerdict v;
    v.score = 2;
    v.rules = {"r1"};
    v.shadow = {false};
    v.explanation = "rules said so";
    return v;
  }
  EventVerdict explain(const json&) override {
    EventVerdict v;
    v.explanation = "explained";
    return v;
  }
  Result<void> reload() override {
    if (fail_reload) return Error{"TYR_RULES", "r.yaml:1:1: broken"};
    return {};
  }
  std::vector<std::string> describe() const override { return {"1 rule"}; }
  size_t rules_loaded() const override { return 1; }
  Thresholds thresholds() const override { return loaded; }
};

class RecordingProtections : public ProtectionScorer {
 public:
  std::vector<const Features*> seen;
  std::optional<EventVerdict> folded_from;
  std::optional<Thresholds> thresholds;
  EventVerdict fold(const EventVerdict& rules_verdict, const json&, const Features& features,
                    int64_t, const RoomFacts& room) override {
    seen.push_back(&features);
    folded_from = rules_verdict;
    EventVerdict v = rules_verdict;
    v.score += room.known ? 10 : 1;
    v.rules.push_back("flooding/FLOOD");
    return v;
  }
  void set_thresholds(const Thresholds& t) override { thresholds = t; }
  std::string summary() const override { return "protections: 1 on"; }
};

}  // namespace

TEST_CASE("verdict combiner: rules and protections read one extraction of the event",
          "[combiner]") {
  RecordingRules rules;
  RecordingProtections protections;
  engine::VerdictCombiner combiner(&rules, &protections);
  RoomFacts room;
  room.known = true;
  const EventVerdict v = combiner.score(message("see https://example.com"), 5, room);
  REQUIRE(rules.seen.size() == 1);
  REQUIRE(protections.seen.size() == 1);
  CHECK(rules.seen[0] == protections.seen[0]);  // the same Features, extracted once
  CHECK(rules.body == "see https://example.com");
  REQUIRE(protections.folded_from);
  CHECK(protections.folded_from->explanation == "rules said so");
  CHECK(v.score == 12);
  CHECK(v.rules == std::vector<std::string>{"r1", "flooding/FLOOD"});
}

TEST_CASE("verdict combiner: either side may be missing", "[combiner]") {
  RecordingRules rules;
  RecordingProtections protections;
  engine::VerdictCombiner rules_only(&rules, nullptr);
  CHECK(rules_only.score(message("x"), 1, {}).score == 2);
  CHECK(rules_only.describe() == std::vector<std::string>{"1 rule"});
  engine::VerdictCombiner protections_only(nullptr, &protections);
  CHECK(protections_only.score(message("x"), 1, {}).score == 1);
  CHECK(protections.folded_from->rules.empty());
  CHECK(protections_only.describe() ==
        std::vector<std::string>{"no rules configured", "protections: 1 on"});
  CHECK(protections_only.rules_loaded() == 0);
  CHECK(protections_only.explain(message("x")).explanation.empty());
  CHECK(protections_only.reload());
  engine::VerdictCombiner nothing(nullptr, nullptr);
  CHECK(nothing.score(message("x"), 1, {}).action == Action::kAllow);
}

TEST_CASE("verdict combiner: a reload hands the rules' thresholds to the protections",
          "[combiner]") {
  RecordingRules rules;
  RecordingProtections protections;
  engine::VerdictCombiner combiner(&rules, &protections);
  rules.loaded.at[static_cast<int>(Action::kRedact)] = 4;
  REQUIRE(combiner.reload());
  REQUIRE(protections.thresholds);
  CHECK(protections.thresholds->at[static_cast<int>(Action::kRedact)] == 4);

  // A broken reload keeps the old rules, so the protections keep their thresholds too.
  protections.thresholds.reset();
  rules.fail_reload = true;
  auto r = combiner.reload();
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "r.yaml:1:1: broken");
  CHECK_FALSE(protections.thresholds);
  CHECK(combiner.explain(message("x")).explanation == "explained");
  CHECK(combiner.describe() == std::vector<std::string>{"1 rule", "protections: 1 on"});
}

TEST_CASE("scoring wiring: rules and protections give the verdict each gives on its own extraction",
          "[combiner]") {
  test::TempDir dir(/*create=*/true);
  dir.write("r.yaml",
            "thresholds: {notify: 3, redact: 5}\n"
            "rules:\n"
            "  - {id: prize, score: 4, when: {regex: 'prize'}}\n"
            "  - {id: links, score: 0.5, when: {feature: links, ge: 1}}\n");
  cli::ScoringWiring wiring(dir.path(), nullptr);
  REQUIRE(wiring.scorer().reload());
  CHECK(wiring.scorer().rules_loaded() == 2);
  auto [reply, changed] = wiring.protections().command({"enable", "link_spam"});
  CHECK(changed);
  const json ev = message("win a prize at https://bit.ly/abc");
  const EventVerdict v = wiring.scorer().score(ev, 1000, RoomFacts{});

  // The same event through rules and protections separately, each extracting its features.
  auto set = rules::load_rule_dir(dir.path());
  REQUIRE(set);
  rules::RuntimeState state;
  const EventVerdict rules_verdict = rules::to_event_verdict(rules::score(**set, ev, state, 1000));
  plugins::ProtectionSuite suite;
  REQUIRE(suite.set_mode("link_spam", engine::protection::Mode::kEnforce));
  suite.set_thresholds(rules::info(**set).thresholds);
  const EventVerdict expected =
      suite.merge(rules_verdict, suite.on_event(engine::protection::EventContext(ev, 1000)));

  CHECK(v.score == expected.score);
  CHECK(v.score == 6.5);  // prize 4 + links 0.5 + link_spam/URL_SHORTENER 2
  CHECK(v.action == Action::kRedact);
  CHECK(v.action == expected.action);
  CHECK(v.rules == expected.rules);
  CHECK(v.explanation == expected.explanation);
  CHECK(v.explanation.find("link_spam/URL_SHORTENER +2") != std::string::npos);
  CHECK(v.explanation.find("prize +4") != std::string::npos);
  const auto lines = wiring.scorer().describe();
  REQUIRE(lines.size() == 6);
  CHECK(lines[3] == "protections: 1 on, 0 in shadow mode, of 10");
  CHECK(lines[4].find("Classifier: nothing learned yet") == 0);
}

TEST_CASE("scoring wiring: without a rule directory only protections score", "[combiner]") {
  cli::ScoringWiring wiring({}, nullptr);
  REQUIRE(wiring.scorer().reload());
  CHECK(wiring.scorer().rules_loaded() == 0);
  CHECK(wiring.scorer().describe().front() == "no rules configured");
  CHECK(wiring.scorer().score(message("win a prize at https://bit.ly/abc"), 1, {}).action ==
        Action::kAllow);
  wiring.protections().command({"enable", "link_spam"});
  const EventVerdict v = wiring.scorer().score(message("https://bit.ly/abc"), 2, {});
  CHECK(v.rules == std::vector<std::string>{"link_spam/URL_SHORTENER"});
  CHECK(v.action == Action::kAllow);  // 2 is below the default notify threshold of 3
}
