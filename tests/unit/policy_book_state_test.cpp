// Loading a policy room's /state answer from its text (PolicyBook::read_state, no DOM) gives
// what loading its DOM gives: the same rules, stored records, diffs, invalid-event counts and
// shortcode, on the policy fixture and on answers full of odd events; and the same verdict on
// bodies that are not JSON arrays.

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/text.hpp"
#include "engine/pipeline/policy_book.hpp"
#include "engine/store/keys.hpp"
#include "temp_dir.hpp"

using namespace tyr;
using namespace tyr::engine;
using nlohmann::json;

namespace {

constexpr const char* kList = "!list:example.org";

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(TYR_FIXTURES_DIR) + "/policy/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Odd events of a policy room's state, as a homeserver could answer them (kept as text: the
// streaming path must store what a DOM re-serialises, whatever the spacing and key order).
const std::string kOdd = R"([
  {"type":"m.room.create","state_key":"","content":{"creator":"@a:b","room_version":"10"}},
  {"type":"m.room.member","state_key":"@a:b","content":{"membership":"join","displayname":"A"}},
  {"type":"m.room.power_levels","state_key":"","content":{"users":{"@a:b":100},"events":{}}},
  {"type":"org.matrix.mjolnir.shortcode","state_key":"","content":{"shortcode":"first"}},
  {"content": {"recommendation": "m.ban", "entity": "@spam:x", "reason": "spam"},
   "type": "m.policy.rule.user", "state_key": "u1", "event_id": "$u1", "origin_server_ts": 17},
  {"type":"m.policy.rule.user","state_key":"u2","content":{"entity":"@dup:x",
   "recommendation":"m.ban","entity":"@dup2:x","reason":"caf\u00e9 \ud83d\ude00"}},
  {"type":"m.policy.rule.user","state_key":"u3","content":{}},
  {"type":"m.policy.rule.user","state_key":"u4","content":{"entity":"@r:x","recommendation":
   "m.ban"},"unsigned":{"redacted_because":{"type":"m.room.redaction"}}},
  {"type":"m.policy.rule.user","state_key":"u5","content":{"entity":5,"recommendation":"m.ban"}},
  {"type":"m.policy.rule.user","state_key":"u6","content":[1,2]},
  {"type":"m.policy.rule.user","state_key":"u7","content":null},
  {"type":"m.policy.rule.user","state_key":"u8"},
  {"type":"m.policy.rule.user","state_key":7,"content":{"entity":"@a:x","recommendation":"m.ban"}},
  {"type":"m.policy.rule.room","state_key":"r1","content":{"entity":"!r:x",
   "recommendation":"org.example.custom"}},
  {"type":"m.room.rule.server","state_key":"s1","content":{"entity":"EVIL.org",
   "recommendation":"m.takedown","extra":{"deep":[[[]]],"n":-1.5e10}}},
  {"type":"org.matrix.mjolnir.rule.server","state_key":"s1","content":{"entity":"evil.org",
   "recommendation":"m.ban"}},
  {"type":"m.policy.rule.server","state_key":"s2","content":{"recommendation":"m.ban",
   "org.matrix.msc4205.hashes":{"sha256":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}}},
  {"type":"m.policy.rule.user","state_key":"u9","content":{"entity":"@twice:x",
   "recommendation":"m.ban"}},
  {"type":"m.policy.rule.user","state_key":"u9","content":{"entity":"@twice2:x",
   "recommendation":"m.ban"}},
  {"type":"m.policy.rule.user","state_key":"u10","content":{"entity":"@x:x","recommendation":
   "m.ban","reason":"a\"quote\\and\/slash"}},
  "not an object", 3, null, [],
  {"type":"org.matrix.mjolnir.shortcode","state_key":"","content":{"name":"no shortcode"}}
]
)";

// A later answer: some rules gone, one changed, one new.
const std::string kLater = R"([
  {"type":"org.matrix.mjolnir.shortcode","state_key":"","content":{"shortcode":"second"}},
  {"type":"m.policy.rule.user","state_key":"u1","content":{"entity":"@spam:x",
   "recommendation":"m.ban","reason":"changed"}},
  {"type":"m.policy.rule.user","state_key":"u2","content":{}},
  {"type":"m.policy.rule.user","state_key":"u11","content":{"entity":"@new:x",
   "recommendation":"m.ban"}}
])";

std::string rule_text(const std::optional<policy::PolicyRule>& r) {
  if (!r) return "-";
  return r->list + "|" + std::string(policy::kind_name(r->kind)) + "|" +
         std::to_string(static_cast<int>(r->family)) + "|" + r->state_key + "|" + r->entity + "|" +
         r->sha256 + "|" + std::to_string(static_cast<int>(r->recommendation)) + "|" +
         r->recommendation_raw + "|" + r->reason + "|" + r->event_id;
}

std::vector<std::string> diff_texts(const std::vector<policy::ListDiff>& diffs) {
  std::vector<std::string> out;
  for (const auto& d : diffs) out.push_back(rule_text(d.removed) + " -> " + rule_text(d.added));
  return out;
}

// One book over its own store, loading answers one way or the other.
struct Side {
  test::TempDir dir;
  Store store{dir.path()};
  PolicyBook book{store};

  Side() {
    book.load();
    Batch batch;
    WatchedList l;
    l.id = kList;
    book.watch(batch, l);
    REQUIRE(store.commit(batch));
  }

  std::vector<std::string> load_dom(const std::string& text) {
    Batch batch;
    auto diffs = book.load_state(batch, kList, json::parse(text));
    REQUIRE(store.commit(batch));
    return diff_texts(diffs);
  }

  std::vector<std::string> load_text(const std::string& text, std::optional<std::string>* code) {
    auto state = PolicyBook::read_state(kList, text);
    REQUIRE(state.ok);
    *code = state.shortcode;
    Batch batch;
    auto diffs = book.load_state(batch, kList, std::move(state));
    REQUIRE(store.commit(batch));
    return diff_texts(diffs);
  }

  std::vector<std::pair<std::string, std::string>> records() {
    std::vector<std::pair<std::string, std::string>> out;
    store.scan(Cf::kState, state_keys::kPolicyState, [&](std::string_view k, std::string_view v) {
      out.emplace_back(std::string(k), std::string(v));
    });
    return out;
  }

  // What the book holds, as a reload from its store sees it too.
  std::vector<std::string> holdings() {
    std::vector<std::string> out;
    for (auto kind :
         {policy::EntityKind::kUser, policy::EntityKind::kRoom, policy::EntityKind::kServer}) {
      for (const auto& r : book.enforced_rules(kind)) out.push_back(rule_text(r));
    }
    auto c = book.counts(kList);
    out.push_back(std::to_string(c[0]) + "/" + std::to_string(c[1]) + "/" + std::to_string(c[2]) +
                  " ignored " + std::to_string(book.ignored_rules(kList)) + " invalid " +
                  std::to_string(book.invalid_events()));
    return out;
  }
};

// The shortcode as the DOM path of a list load reads it.
std::optional<std::string> dom_shortcode(const std::string& text) {
  std::optional<std::string> code;
  for (const auto& ev : json::parse(text)) {
    if (ev.is_object() && ev.value("type", "") == "org.matrix.mjolnir.shortcode" &&
        ev.contains("content")) {
      code = ev["content"].value("shortcode", "");
    }
  }
  return code;
}

void same_loads(const std::vector<std::string>& answers) {
  Side dom, text;
  for (const auto& answer : answers) {
    std::optional<std::string> code;
    const auto text_diffs = text.load_text(answer, &code);
    CHECK(text_diffs == dom.load_dom(answer));
    CHECK(code == dom_shortcode(answer));
    CHECK(text.records() == dom.records());
    CHECK(text.holdings() == dom.holdings());
  }
  text.book.load();
  dom.book.load();
  CHECK(text.holdings() == dom.holdings());
}

}  // namespace

TEST_CASE("policy state text: the fixture list loads as its DOM does", "[policy]") {
  const std::string list = fixture("list.json");
  same_loads({list});
  Side side;
  std::optional<std::string> code;
  CHECK_FALSE(side.load_text(list, &code).empty());
  CHECK_FALSE(side.records().empty());
}

TEST_CASE("policy state text: odd events load as their DOM does", "[policy]") {
  same_loads({kOdd});
  Side side;
  std::optional<std::string> code;
  side.load_text(kOdd, &code);
  CHECK(code == std::optional<std::string>(""));  // the last shortcode event has none
  // Rule events only: members, power levels, shortcode and removals leave no record.
  for (const auto& [key, value] : side.records()) {
    CHECK(key.find("m.room.member") == std::string::npos);
    CHECK(json::parse(value).at("content").contains("recommendation"));
  }
  CHECK(side.book.invalid_events() > 0);
}

TEST_CASE("policy state text: reloads give the DOM's diffs", "[policy]") {
  same_loads({kOdd, kLater, fixture("list.json"), kOdd, "[]"});
}

TEST_CASE("policy state text: bodies that are not arrays or not JSON", "[policy]") {
  const std::vector<std::string> bodies = {
      "{}",
      R"({"errcode":"M_FORBIDDEN"})",
      "\"text\"",
      "null",
      "[",
      "[1,",
      "[{\"type\":\"m.policy.rule.user\"}",
      "[]]",
      "[] x",
      "nul",
      "[\"\xff\"]",
      // A malformed number inside a rule event, which the stream itself skips unchecked.
      R"([{"type":"m.policy.rule.user","state_key":"k","content":{"entity":"@a:b",
          "recommendation":"m.ban"},"origin_server_ts":01}])",
      R"([{"type":"m.policy.rule.user","state_key":"k","content":{"entity":"@a:b",
          "recommendation":"m.ban","n":-}}])",
  };
  for (const auto& body : bodies) {
    INFO(body);
    const json dom = json::parse(body, nullptr, false);
    const auto state = PolicyBook::read_state(kList, body);
    CHECK_FALSE(state.ok);
    CHECK(state.not_array == !dom.is_discarded());
    CHECK(state.records.empty());
  }
  CHECK(PolicyBook::read_state(kList, "[]").ok);
  CHECK(PolicyBook::read_state(kList, " [ ] \n").ok);
}

TEST_CASE("policy state text: a failed read changes nothing", "[policy]") {
  Side side;
  std::optional<std::string> code;
  side.load_text(kOdd, &code);
  const auto records = side.records();
  const auto holdings = side.holdings();
  auto state = PolicyBook::read_state(kList, kLater.substr(0, kLater.size() - 2));
  REQUIRE_FALSE(state.ok);
  CHECK(side.records() == records);
  CHECK(side.holdings() == holdings);
}
