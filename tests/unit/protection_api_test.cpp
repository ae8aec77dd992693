// The protection plugin API: schemas and their error messages, settings, the registry, the
// suite's modes, score merging with rules verdicts, state round trips and the docs pages.

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "engine/protection/bounded.hpp"
#include "engine/protection/protection.hpp"
#include "engine/protection/settings.hpp"
#include "plugins/registry.hpp"

using namespace tyr;
using namespace tyr::engine::protection;
using nlohmann::json;
using tyr::plugins::ProtectionSuite;

namespace {

json message(const std::string& room, const std::string& sender, const std::string& body,
             const std::string& event_id = "$e") {
  return {{"type", "m.room.message"},
          {"room_id", room},
          {"sender", sender},
          {"event_id", event_id},
          {"content", {{"msgtype", "m.text"}, {"body", body}}}};
}

plugins::ProtectionResult send(ProtectionSuite& suite, const json& ev, int64_t now) {
  return suite.on_event(EventContext(ev, now));
}

}  // namespace

TEST_CASE("protection: config errors name the protection, key and expectation", "[protection]") {
  const auto* d = plugins::find_protection(plugins::builtin_protections(), "flooding");
  REQUIRE(d != nullptr);
  ProtectionConfig cfg(d->name, d->config);
  CHECK(cfg.integer("max_messages") == 10);
  auto bad = cfg.apply(json{{"max_messages", 0}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message ==
        "protection flooding: key 'max_messages': expected an integer between 1 and 1000");
  CHECK(cfg.integer("max_messages") == 10);  // unchanged on error
  CHECK(cfg.apply(json{{"max_messages", 2.5}}).error().message ==
        "protection flooding: key 'max_messages': expected an integer between 1 and 1000");
  CHECK(cfg.apply(json{{"kick", "yes"}}).error().message ==
        "protection flooding: key 'kick': expected true or false");
  CHECK(cfg.apply(json{{"nope", 1}}).error().message ==
        "protection flooding: unknown key 'nope' (keys: max_messages, window_seconds, kick)");
  REQUIRE(cfg.apply(json{{"max_messages", 3}, {"kick", true}}));
  CHECK(cfg.integer("max_messages") == 3);
  CHECK(cfg.boolean("kick"));

  static constexpr ConfigKey kMinOnly{"n", ConfigType::kInteger, "1", "doc", 1};
  CHECK(validate_value("x", kMinOnly, json(0)).error().message ==
        "protection x: key 'n': expected an integer ≥ 1");
}

TEST_CASE("protection: values typed in commands are parsed by the key's type", "[protection]") {
  const auto* d = plugins::find_protection(plugins::builtin_protections(), "link_spam");
  auto list = parse_value_text(d->name, *d->key("blocked_domains"), " Evil.example , spam.test ");
  REQUIRE(list);
  CHECK(*list == json::array({"Evil.example", "spam.test"}));
  CHECK(*parse_value_text(d->name, *d->key("max_links"), "7") == json(7));
  CHECK(parse_value_text(d->name, *d->key("max_links"), "seven").error().message ==
        "protection link_spam: key 'max_links': expected an integer between 1 and 1000");
}

TEST_CASE("protection: the built-in registry is valid and a duplicate name is fatal",
          "[protection]") {
  auto ok = plugins::validate_registry();
  INFO((ok ? std::string() : ok.error().message));
  CHECK(ok);
  CHECK(plugins::builtin_protections().size() == 10);
  const auto all = plugins::builtin_protections();
  std::vector<const ProtectionDescriptor*> dup(all.begin(), all.end());
  dup.push_back(all[3]);
  auto bad = plugins::validate_registry(dup);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "duplicate protection name '" + std::string(all[3]->name) + "'");

  static constexpr ConfigKey kBadDefault[] = {{"max", ConfigType::kInteger, "0", "doc", 1, 10}};
  static constexpr SymbolSpec kSym[] = {{"X", 1, "doc"}};
  const ProtectionDescriptor kBroken{"broken", "desc",     kBadDefault,
                                     kSym,     kPowerNone, all[0]->create};
  const ProtectionDescriptor* one[] = {&kBroken};
  CHECK(plugins::validate_registry(one).error().message ==
        "protection broken: key 'max': expected an integer between 1 and 10 (in its default)");
}

TEST_CASE("protection: every registered protection has a docs page listing its keys and symbols",
          "[protection]") {
  for (const auto* d : plugins::builtin_protections()) {
    const std::string path =
        std::string(TYR_FIXTURES_DIR) + "/../../docs/protections/" + std::string(d->name) + ".md";
    std::ifstream in(path);
    INFO(path);
    REQUIRE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string page = ss.str();
    for (const auto& k : d->config)
      CHECK(page.find("`" + std::string(k.name) + "`") != std::string::npos);
    for (const auto& s : d->symbols)
      CHECK(page.find("`" + std::string(s.name) + "`") != std::string::npos);
    CHECK(page.find("## What it catches") != std::string::npos);
    CHECK(page.find("## How to tune") != std::string::npos);
    // The reference section is regenerated from the descriptor; a stale page fails here.
    CHECK(page.find(plugins::reference_markdown(*d)) != std::string::npos);
  }
}

TEST_CASE("protection: settings validate, layer per room and round-trip through JSON",
          "[protection]") {
  ProtectionSuite suite;
  CHECK(suite.mode("flooding", "!a:x") == Mode::kOff);
  REQUIRE(suite.set_mode("flooding", Mode::kEnforce));
  REQUIRE(suite.set_mode("flooding", Mode::kShadow, "!b:x"));
  REQUIRE(suite.set_config("flooding", "max_messages", "3", "!a:x"));
  CHECK(suite.set_config("flooding", "max_messages", "0").error().message ==
        "protection flooding: key 'max_messages': expected an integer between 1 and 1000");
  CHECK(suite.set_config("nope", "k", "1").error().message.rfind("unknown protection 'nope'", 0) ==
        0);
  CHECK(suite.set_score("flooding", "NOPE", 1).error().message ==
        "protection flooding: unknown symbol 'NOPE'");
  REQUIRE(suite.set_score("flooding", "FLOOD", 7.5));
  CHECK(suite.mode("flooding", "!a:x") == Mode::kEnforce);
  CHECK(suite.mode("flooding", "!b:x") == Mode::kShadow);
  CHECK(suite.config("flooding", "!a:x")->integer("max_messages") == 3);
  CHECK(suite.config("flooding", "!b:x")->integer("max_messages") == 10);

  const json saved = suite.save_settings();
  ProtectionSuite again;
  REQUIRE(again.load_settings(saved));
  CHECK(again.save_settings() == saved);
  CHECK(again.config("flooding", "!a:x")->integer("max_messages") == 3);

  json broken = saved;
  broken["rooms"]["!a:x"]["flooding"]["config"]["max_messages"] = -1;
  CHECK(
      again.load_settings(broken).error().message ==
      "room !a:x: protection flooding: key 'max_messages': expected an integer between 1 and 1000");
  CHECK(again.load_settings(json{{"global", {{"ghost", json::object()}}}}).error().message ==
        "unknown protection 'ghost'");
}

TEST_CASE("protection: off, shadow and enforce modes, hits merge into the rules verdict",
          "[protection]") {
  ProtectionSuite suite;
  REQUIRE(suite.set_mode("flooding", Mode::kEnforce, "!a:x"));
  REQUIRE(suite.set_config("flooding", "max_messages", "2", "!a:x"));
  REQUIRE(suite.set_mode("flooding", Mode::kShadow, "!b:x"));
  REQUIRE(suite.set_config("flooding", "max_messages", "2", "!b:x"));

  plugins::ProtectionResult ra, rb, rc;
  for (int i = 0; i < 3; ++i) {
    ra = send(suite, message("!a:x", "@u:x", "hi"), 1000 + i);
    rb = send(suite, message("!b:x", "@u:x", "hi"), 1000 + i);
    rc = send(suite, message("!c:x", "@u:x", "hi"), 1000 + i);
  }
  REQUIRE(ra.hits.size() == 1);
  CHECK_FALSE(ra.hits[0].shadow);
  CHECK(ra.hits[0].symbol == "FLOOD");
  CHECK(ra.score() == 6);
  REQUIRE(rb.hits.size() == 1);
  CHECK(rb.hits[0].shadow);
  CHECK(rb.score() == 0);
  CHECK(rc.empty());

  EventVerdict rules_verdict;
  rules_verdict.score = 1;
  rules_verdict.explanation = "score 1 -> allow: caps +1";
  rules_verdict.rules = {"caps"};
  const auto v = suite.merge(rules_verdict, ra);
  CHECK(v.score == 7);
  CHECK(v.action == Action::kRedact);
  CHECK(v.rules == std::vector<std::string>{"caps", "flooding/FLOOD"});
  CHECK(v.explanation ==
        "score 7 -> redact: flooding/FLOOD +6 \"3+ messages in 10 s\"; rules: score 1 -> allow: "
        "caps +1");

  const auto s = suite.merge(rules_verdict, rb);
  CHECK(s.action == Action::kAllow);
  CHECK(s.shadow_action == Action::kRedact);

  const auto status = suite.status("!a:x");
  CHECK(status[0].name == "flooding");
  CHECK(status[0].mode == Mode::kEnforce);
  CHECK(status[0].hits == 1);
  CHECK(status[0].shadow_hits == 1);
}

TEST_CASE("protection: a room override of a symbol score and thresholds apply", "[protection]") {
  ProtectionSuite suite;
  REQUIRE(suite.set_mode("link_spam", Mode::kEnforce));
  REQUIRE(suite.set_score("link_spam", "URL_SHORTENER", 3.5, "!a:x"));
  auto r = send(suite, message("!a:x", "@u:x", "see https://bit.ly/abc"), 1);
  REQUIRE(r.hits.size() == 1);
  CHECK(r.hits[0].score == 3.5);
  CHECK(suite.merge({}, r).action == Action::kNotify);
  Thresholds t;
  t.at[static_cast<int>(Action::kRedact)] = 3;
  suite.set_thresholds(t);
  CHECK(suite.merge({}, r).action == Action::kRedact);
  CHECK(send(suite, message("!b:x", "@u:x", "see https://bit.ly/abc"), 2).hits[0].score == 2);
}

TEST_CASE("protection: suite state survives a restart", "[protection]") {
  json saved;
  {
    ProtectionSuite suite;
    REQUIRE(suite.set_mode("flooding", Mode::kEnforce));
    REQUIRE(suite.set_config("flooding", "max_messages", "3"));
    for (int i = 0; i < 3; ++i)
      CHECK(send(suite, message("!a:x", "@u:x", "hi"), 1000 + i).hits.empty());
    saved = suite.save_state();
  }
  ProtectionSuite after;
  REQUIRE(after.set_mode("flooding", Mode::kEnforce));
  REQUIRE(after.set_config("flooding", "max_messages", "3"));
  REQUIRE(after.load_state(saved));
  CHECK(after.save_state() == saved);
  CHECK(send(after, message("!a:x", "@u:x", "hi"), 1004).hits.size() == 1);

  json bad = saved;
  bad["protections"]["flooding"] = "garbage";
  CHECK(after.load_state(bad).error().message == "protection flooding: malformed state");
}

TEST_CASE("protection: bounded map evicts the least recently touched entry", "[protection]") {
  BoundedMap<int> m(2);
  m.touch("a") = 1;
  m.touch("b") = 2;
  m.touch("a");  // a is now most recent
  m.touch("c") = 3;
  CHECK(m.size() == 2);
  CHECK(m.find("b") == nullptr);
  CHECK(*m.find("a") == 1);
  const json saved = m.to_json([](int v) { return json(v); });
  BoundedMap<int> n(2);
  REQUIRE(n.from_json(saved, [](const json& j, int& v) {
    v = j.get<int>();
    return true;
  }));
  CHECK(*n.find("c") == 3);

  Window w;
  for (int i = 0; i < 100; ++i) w.record(i, 1000, 5);
  CHECK(w.times.size() == 5);
  CHECK(w.count(2000, 1000, 5) == 0);
}

TEST_CASE("protection: requests are Tyr's actions or notices, with their room and kind",
          "[protection]") {
  RecordingSink sink;
  sink.act(engine::actions::Kick{"!r:x", "@u:x", "flooding", {}});
  sink.notify("!s:x", "a wave");
  sink.act(engine::actions::SetJoinRule{"!t:x", "invite", {}});
  REQUIRE(sink.requests.size() == 3);
  CHECK(sink.requests[0].kind() == "kick");
  CHECK(sink.requests[0].room() == "!r:x");
  CHECK(sink.requests[1].kind() == "notify");
  CHECK(sink.requests[1].room() == "!s:x");
  CHECK(sink.requests[1].notify()->text == "a wave");
  CHECK(sink.requests[2].kind() == "set_join_rule");
  CHECK(sink.has_request("kick"));
  CHECK_FALSE(sink.has_request("rule_ban"));
  sink.clear();
  CHECK(sink.requests.empty());
}
