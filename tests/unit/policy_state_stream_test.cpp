// The streaming reader of policy state (state_stream.hpp) gives, event by event, exactly what
// the DOM reader parse_policy_event gives: every shape of rule, removal and problem, in random
// mixes, and the conformance list file.

#include <catch2/catch.hpp>

#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/policy/policy_list.hpp"
#include "engine/policy/policy_rule.hpp"
#include "engine/policy/state_stream.hpp"

using namespace tyr::engine::policy;
using nlohmann::json;

namespace {

constexpr const char* kList = "!list:example.org";
constexpr const char* kDigest = "\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"";

// Event objects as text, including what a DOM keeps that a careless stream would not: escaped
// keys, duplicate keys (the last counts), nested objects in skipped fields.
const std::vector<std::string> kEvents = {
    R"({"type":"m.policy.rule.user","state_key":"k1","event_id":"$1","room_id":"!a:b",
        "content":{"entity":"@spam*:example.org","recommendation":"m.ban","reason":"spam"}})",
    R"({"type":"m.room.rule.server","state_key":"k2","content":{"entity":"EVIL.org",
        "recommendation":"m.takedown"}})",
    R"({"type":"org.matrix.mjolnir.rule.room","state_key":"k3","content":{"entity":"!r:x",
        "recommendation":"org.matrix.mjolnir.ban","reason":7}})",
    R"({"type":"m.policy.rule.user","state_key":"k4","content":{}})",
    R"({"type":"m.policy.rule.user","state_key":"k5","content":null})",
    R"({"type":"m.policy.rule.user","state_key":"k6"})",
    R"({"type":"m.policy.rule.user","state_key":"k7","content":[1,2]})",
    R"({"type":"m.policy.rule.user","state_key":"k8","content":{"entity":"@a:b"}})",
    R"({"type":"m.policy.rule.user","state_key":"k9","content":{"entity":"@a:b","recommendation":1}})",
    R"({"type":"m.policy.rule.user","state_key":"k10","content":{"entity":5,"recommendation":"m.ban"}})",
    R"({"type":"m.policy.rule.user","state_key":"k11","content":{"entity":"","recommendation":"m.ban"}})",
    R"({"type":"m.policy.rule.user","state_key":"k12","content":{"recommendation":"m.ban"}})",
    R"({"type":"m.policy.rule.user","state_key":"k13","content":{"recommendation":"m.ban",
        "org.matrix.msc4205.hashes":{"sha256":DIGEST}}})",
    R"({"type":"m.policy.rule.user","state_key":"k14","content":{"recommendation":"m.ban",
        "hashes":{"sha256":DIGEST}}})",
    R"({"type":"m.policy.rule.user","state_key":"k15","content":{"recommendation":"m.ban",
        "org.matrix.msc4205.hashes":"x","hashes":{"sha256":DIGEST}}})",
    R"({"type":"m.policy.rule.user","state_key":"k16","content":{"recommendation":"m.ban",
        "hashes":{"sha1":"x"}}})",
    R"({"type":"m.policy.rule.user","state_key":"k17","content":{"recommendation":"m.ban",
        "hashes":{"sha256":3}}})",
    R"({"type":"m.policy.rule.user","state_key":"k18","content":{"recommendation":"m.ban",
        "hashes":{"sha256":"bm90IGEgZGlnZXN0"}}})",
    R"({"type":"m.policy.rule.user","state_key":"k19","content":{"entity":"@r:x",
        "recommendation":"m.ban"},"unsigned":{"redacted_because":{"a":[1,{"b":null}]}}})",
    R"({"type":"m.policy.rule.user","state_key":"k20","unsigned":{"age":5},
        "content":{"entity":"@u:x","recommendation":"m.ban"}})",
    R"({"type":"m.policy.rule.user","state_key":"k21","content":{"entity":"@first:x",
        "recommendation":"m.ban","entity":"@second:x"}})",
    R"({"typ\u0065":"m.policy.rule.server","state_key":"k22","content":{"entit\u0079":"é.example",
        "recommendation":"m.ban","reason":"caf\u00e9 \ud83d\ude00"}})",
    R"({"type":"m.policy.rule.user","state_key":5,"content":{"entity":"@a:b","recommendation":"m.ban"}})",
    R"({"type":"m.room.member","state_key":"@a:b","content":{"membership":"join"}})",
    R"({"state_key":"k25","content":{"entity":"@a:b","recommendation":"m.ban"}})",
    R"({"type":["m.policy.rule.user"],"state_key":"k26"})",
    R"({"type":"m.policy.rule.user","state_key":"k27","content":{"entity":"@a:b",
        "recommendation":"m.ban","extra":{"deep":[[[]]],"n":-1.5e10}},"origin_server_ts":1})",
    R"({"content":{"entity":"@late:x","recommendation":"m.ban"},"state_key":"k28",
        "type":"m.policy.rule.user"})",
};

std::string with_digest(std::string text) {
  for (size_t at; (at = text.find("DIGEST")) != std::string::npos;) text.replace(at, 6, kDigest);
  return text;
}

bool same_event(const std::optional<PolicyEvent>& a, const std::optional<PolicyEvent>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  if (a->kind != b->kind || a->family != b->family || a->state_key != b->state_key ||
      a->problem != b->problem || a->rule.has_value() != b->rule.has_value()) {
    return false;
  }
  return !a->rule || (same_rule(*a->rule, *b->rule) && a->rule->event_id == b->rule->event_id);
}

// Streams `text` (an array) and checks every element against the DOM reader.
void check_same_as_dom(const std::string& text) {
  const json doc = json::parse(text);
  size_t seen = 0;
  auto result = read_state_events(text, [&](size_t index, const PolicyEventFacts* facts) {
    REQUIRE(index == seen++);
    const json& ev = doc.at(index);
    INFO(ev.dump());
    if (!facts) {
      CHECK_FALSE(ev.is_object());
      return;
    }
    CHECK(same_event(policy_event_from_facts(*facts, kList), parse_policy_event(ev, kList)));
  });
  REQUIRE(result.ok);
  CHECK(seen == doc.size());
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("policy stream: every event shape reads as the DOM reads it", "[policy]") {
  std::string text = "[";
  for (size_t i = 0; i < kEvents.size(); ++i) text += (i ? "," : "") + with_digest(kEvents[i]);
  text += R"(,1,"x",null,[{"type":"m.policy.rule.user"}],true])";
  check_same_as_dom(text);
}

TEST_CASE("policy stream: random mixes read as the DOM reads them", "[policy]") {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::string text = "[";
    const size_t n = 1 + rng() % 40;
    for (size_t i = 0; i < n; ++i) {
      text += (i ? ",\n" : "") + with_digest(kEvents[rng() % kEvents.size()]);
    }
    text += "]";
    check_same_as_dom(text);
  }
}

TEST_CASE("policy stream: the conformance list file reads as the DOM reads it", "[policy]") {
  check_same_as_dom(read_text(TYR_FIXTURES_DIR "/policy/list.json"));
  size_t events = 0;
  auto result = read_state_events_file(TYR_FIXTURES_DIR "/policy/list.json",
                                       [&](size_t, const PolicyEventFacts*) { ++events; });
  CHECK(result.ok);
  CHECK(events == json::parse(read_text(TYR_FIXTURES_DIR "/policy/list.json")).size());
}

TEST_CASE("policy stream: documents that are not an array of events are refused", "[policy]") {
  auto refused = [](const std::string& text) {
    return !read_state_events(text, [](size_t, const PolicyEventFacts*) {}).ok;
  };
  CHECK(refused(""));
  CHECK(refused("{}"));
  CHECK(read_state_events("{}", [](size_t, const PolicyEventFacts*) {}).not_array);
  CHECK(refused("[{\"type\":\"m.policy.rule.user\",]"));
  CHECK(refused("[{}] [{}]"));
  CHECK(refused("[{\"type\":\"\xff\"}]"));  // not UTF-8
  CHECK(refused("[{\"type\":\"m.policy.rule.user\""));
  CHECK_FALSE(refused("[]"));
  CHECK_FALSE(refused(" [ {} ] \n"));
  CHECK_FALSE(
      read_state_events_file("/nonexistent/list.json", [](size_t, const PolicyEventFacts*) {}).ok);
}
