// Fuzzes the rule language: YAML text -> loader -> compiled RuleSet (RE2, Hyperscan), then
// scores events on it. A broken file must come back as an Error whose message starts with
// "file:line:col: " (or "rules: " for a compile failure), never as a crash, a hang or an
// exception other than the loader's. A set that loads is scored on a few fixed events and on
// the file's own text as a message body (so its keywords and regexes really match), with rate
// windows, a list oracle, explain() and info().

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <re2/re2.h>
#include <nlohmann/json.hpp>

#include "rules/rule_set.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tyr::rules;

// `keywords: {file: keywords.txt}` resolves here; removed at exit.
fs::path g_base_dir;
struct RemoveBaseDir {
  ~RemoveBaseDir() {
    std::error_code ec;
    if (!g_base_dir.empty()) fs::remove_all(g_base_dir, ec);
  }
} g_remove_base_dir;

struct Oracle : ListOracle {
  bool listed(EntityKind, std::string_view entity) const override {
    return entity.find("spam") != std::string_view::npos;
  }
};

nlohmann::json message(std::string_view body, std::string_view sender) {
  return {{"type", "m.room.message"},
          {"event_id", "$e"},
          {"sender", sender},
          {"room_id", "!room:example.org"},
          {"origin_server_ts", 1700000000000},
          {"content", {{"msgtype", "m.text"}, {"body", body}}}};
}

std::vector<nlohmann::json> fixed_events() {
  std::vector<nlohmann::json> events;
  events.push_back(message("Free BITCOIN giveaway!!! DM me on https://bit.ly/x1 or t.me/scam",
                           "@spammer:spam.example:8448"));
  events.push_back(message("hello @alice:example.org, see https://example.org/a?b=c 12345678",
                           "@bob:example.org"));
  events.push_back(message("Ünïcödé ſtraße KELVIN \xE2\x84\xAA 😀😀 \n second line", "@a:b"));
  auto html = message("click", "@x:y.example");
  html["content"]["format"] = "org.matrix.custom.html";
  html["content"]["formatted_body"] = "<a href=\"https://evil.example/p\">click</a>";
  events.push_back(html);
  auto image = message("cat.png", "@x:y.example");
  image["content"]["msgtype"] = "m.image";
  events.push_back(image);
  events.push_back({{"type", "m.room.member"},
                    {"sender", "@joiner:spam.example"},
                    {"state_key", "@joiner:spam.example"},
                    {"room_id", "!room:example.org"},
                    {"content", {{"membership", "join"}, {"displayname", "Free Crypto"}}}});
  return events;
}

// "fuzz.yaml:3:7: ...", or a keyword file's "<path>:12:1: ...", or a failed compile.
bool valid_error_position(const std::string& message) {
  if (message.starts_with("rules: ")) return true;
  static const RE2 kPosition("^[^\\n]*:[0-9]+:[0-9]+: ");
  return RE2::PartialMatch(message, kPosition);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_base_dir = fs::temp_directory_path() / ("tyr_fuzz_rule_file_" + std::to_string(getpid()));
  fs::create_directories(g_base_dir);
  std::ofstream(g_base_dir / "keywords.txt") << "# one keyword per line\nfree crypto\nusdt\n\n";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto loaded = load_rule_sources({RuleSource{"fuzz.yaml", text, g_base_dir}});
  if (!loaded) {
    const tyr::Error& e = loaded.error();
    if (e.code != "TYR_RULES" || !valid_error_position(e.message)) {
      std::fprintf(stderr, "fuzz_rule_file: malformed error: %s: %s\n", e.code.c_str(),
                   e.message.c_str());
      std::abort();
    }
    return 0;
  }
  const RuleSet& set = **loaded;
  (void)info(set);

  static const std::vector<nlohmann::json> kEvents = fixed_events();
  RuntimeState state(64);
  Oracle oracle;
  ScoreOptions options;
  options.lists = &oracle;
  options.display_name = "Free Crypto";
  int64_t now = 1700000000000;
  for (int round = 0; round < 2; ++round) {
    for (const auto& event : kEvents) {
      (void)explain(score(set, event, state, now, options));
      now += 1000;
    }
    // The file's own text as a body: its keywords and regexes find something to match.
    const auto own = message(std::string_view(text).substr(0, 2048), "@spam:example.org");
    (void)explain(score(set, own, state, now, options));
  }
  (void)explain(score_text(set, text, "@a:example.org", "!r:example.org", options));
  return 0;
}
