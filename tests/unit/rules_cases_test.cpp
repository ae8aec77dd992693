// Declarative rule tests: every tests/fixtures/rules/cases/*.yaml holds cases of
//   rules: <rule file text, loaded as "rules.yaml">   files: {name: text}  (optional)
//   -- or -- rules_dir: <a directory of the tree, e.g. rules/default: its *.yaml in name order>
//   error: <the exact load error> (or error_prefix: its start) -- or --
//   events: [{body | event, sender, room, ts, display_name, listed, expect: {score, verdict,
//             hits, matches, shadow_score}}]
// Events share one RuntimeState per case, so rate cases are sequences.

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rules/rule_set.hpp"

namespace fs = std::filesystem;
using namespace tyr::rules;

namespace {

struct SetOracle : ListOracle {
  std::set<std::string, std::less<>> entities;
  bool listed(EntityKind, std::string_view entity) const override {
    return entities.find(entity) != entities.end();
  }
};

std::string str(const YAML::Node& n, const char* key, const std::string& fallback = {}) {
  return n[key] ? n[key].as<std::string>() : fallback;
}

nlohmann::json event_of(const YAML::Node& e, size_t index) {
  if (e["event"]) return nlohmann::json::parse(e["event"].as<std::string>());
  nlohmann::json ev = {
      {"type", str(e, "type", "m.room.message")},
      {"event_id", "$e" + std::to_string(index)},
      {"sender", str(e, "sender", "@alice:example.org")},
      {"room_id", str(e, "room", "!room:example.org")},
      {"origin_server_ts", e["ts"] ? e["ts"].as<int64_t>() : static_cast<int64_t>(index) * 1000},
      {"content", {{"msgtype", str(e, "msgtype", "m.text")}, {"body", str(e, "body")}}}};
  if (e["formatted_body"]) ev["content"]["formatted_body"] = str(e, "formatted_body");
  return ev;
}

void run_case(const YAML::Node& c, const fs::path& dir) {
  fs::create_directories(dir);
  if (c["files"]) {
    for (auto it = c["files"].begin(); it != c["files"].end(); ++it) {
      std::ofstream(dir / it->first.as<std::string>()) << it->second.as<std::string>();
    }
  }
  std::vector<RuleSource> sources;
  if (c["rules_dir"]) {
    // A pack of the tree, as `tyr check --rules DIR` reads it.
    const fs::path pack = fs::path(TYR_FIXTURES_DIR) / ".." / ".." / str(c, "rules_dir");
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(pack)) {
      if (entry.path().extension() == ".yaml") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    REQUIRE_FALSE(files.empty());
    for (const auto& f : files) {
      std::ifstream in(f);
      std::stringstream text;
      text << in.rdbuf();
      sources.push_back(RuleSource{f.filename().string(), text.str(), pack});
    }
  } else {
    sources.push_back(RuleSource{"rules.yaml", str(c, "rules"), dir});
  }
  auto loaded = load_rule_sources(sources);
  if (c["error"] || c["error_prefix"]) {
    REQUIRE_FALSE(loaded.ok());
    if (c["error"]) CHECK(loaded.error().message == c["error"].as<std::string>());
    if (c["error_prefix"])
      CHECK_THAT(loaded.error().message, Catch::StartsWith(str(c, "error_prefix")));
    return;
  }
  if (!loaded) FAIL(loaded.error().message);
  RuntimeState state;
  const YAML::Node events = c["events"];
  REQUIRE(events.IsSequence());
  for (size_t i = 0; i < events.size(); ++i) {
    const YAML::Node e = events[i];
    const nlohmann::json ev = event_of(e, i);
    SetOracle oracle;
    if (e["listed"]) {
      for (const auto& l : e["listed"]) oracle.entities.insert(l.as<std::string>());
    }
    ScoreOptions opt;
    opt.lists = &oracle;
    opt.explain = true;
    const std::string display_name = str(e, "display_name");  // outlives the view in opt
    opt.display_name = display_name;
    const Verdict v = score(**loaded, ev, state, ev.value("origin_server_ts", int64_t{0}), opt);
    INFO("event " << i << ": " << ev.dump() << "\n  -> " << explain(v));
    const YAML::Node x = e["expect"];
    REQUIRE(x.IsMap());
    if (x["score"]) CHECK(v.score == Approx(x["score"].as<double>()));
    if (x["shadow_score"]) CHECK(v.total_score == Approx(x["shadow_score"].as<double>()));
    if (x["verdict"]) CHECK(action_name(v.action) == x["verdict"].as<std::string>());
    if (x["hits"]) {
      std::vector<std::string> want, got;
      for (const auto& h : x["hits"]) want.push_back(h.as<std::string>());
      for (const auto& h : v.hits) got.push_back(h.rule);
      CHECK(got == want);
    }
    if (x["matches"]) {
      for (auto it = x["matches"].begin(); it != x["matches"].end(); ++it) {
        const std::string rule = it->first.as<std::string>();
        std::string match = "<no hit>";
        for (const auto& h : v.hits) {
          if (h.rule == rule) match = h.match;
        }
        CHECK(match == it->second.as<std::string>());
      }
    }
  }
}

}  // namespace

TEST_CASE("rules: declarative cases", "[rules]") {
  const fs::path cases_dir = fs::path(TYR_FIXTURES_DIR) / "rules" / "cases";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(cases_dir)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 4);
  const fs::path tmp = fs::temp_directory_path() / ("tyr_rules_cases_" + std::to_string(getpid()));
  size_t n = 0;
  for (const auto& file : files) {
    const YAML::Node doc = YAML::LoadFile(file.string());
    for (const auto& c : doc["cases"]) {
      const std::string name = file.filename().string() + ": " + str(c, "name");
      DYNAMIC_SECTION(name) { run_case(c, tmp / std::to_string(n)); }
      ++n;
    }
  }
  fs::remove_all(tmp);
}
