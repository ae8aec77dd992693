// Fuzzes the HTTP feed parsers with whatever a feed server may send: the input's first byte
// picks the format (JSON state events, text, CSV) and the entity kind, the rest is the document.
// parse_feed -> FeedState -> the JSON the feed worker stores. Beyond "no crash", checks:
//   - everything a parse yields (rules, reasons, warnings, error messages) is valid UTF-8, and
//     the stored state serialises with a strict dump() (a Latin-1 comment or a non-UTF-8 entry
//     made dump() throw and Tyr abort on every restart);
//   - text and CSV rules name entities entity_problem() accepts, at most one per state key;
//   - warnings stay within kMaxFeedWarnings (+ one "more entries skipped" line);
//   - the state reads back (from_json) to the same rules.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include <nlohmann/json.hpp>

#include "engine/core/text.hpp"
#include "engine/policy/feed.hpp"

namespace {

using namespace tyr::engine::policy;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_feed: %s\n", what);
  std::abort();
}

void require(bool condition, const char* what) {
  if (!condition) fail(what);
}

bool same(const PolicyRule& a, const PolicyRule& b) {
  return std::tie(a.list, a.kind, a.family, a.state_key, a.entity, a.sha256, a.recommendation_raw,
                  a.reason, a.event_id) == std::tie(b.list, b.kind, b.family, b.state_key, b.entity,
                                                    b.sha256, b.recommendation_raw, b.reason,
                                                    b.event_id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  FeedConfig feed;
  feed.name = "fuzz";
  feed.url = "http://127.0.0.1:1/feed";
  feed.format = static_cast<FeedConfig::Format>(data[0] % 3);
  feed.kind = static_cast<EntityKind>((data[0] / 3) % 3);
  feed.reason = "listed in feed fuzz";
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto parsed = parse_feed(feed, body);
  if (!parsed) {
    require(tyr::is_valid_utf8(parsed.error().message), "error message: invalid UTF-8");
    return 0;
  }
  require(parsed->warnings.size() <= kMaxFeedWarnings + 1, "too many warnings");
  for (const auto& w : parsed->warnings) require(tyr::is_valid_utf8(w), "warning: invalid UTF-8");
  std::set<std::tuple<EntityKind, Family, std::string>> keys;
  for (const auto& rule : parsed->rules) {
    require(rule.list == feed_list_id(feed.name), "a rule of another list");
    require(keys.emplace(rule.kind, rule.family, rule.state_key).second, "a state key twice");
    for (const std::string* s :
         {&rule.state_key, &rule.entity, &rule.reason, &rule.recommendation_raw}) {
      require(tyr::is_valid_utf8(*s), "rule: invalid UTF-8");
    }
    if (feed.format != FeedConfig::Format::kJsonState) {
      require(!entity_problem(rule.kind, rule.entity),
              "a rule for an entity entity_problem refuses");
    }
  }

  FeedState state;
  state.rules = parsed->rules;
  state.warnings = parsed->warnings;
  state.skipped = parsed->skipped;
  std::string stored;
  try {
    stored = nlohmann::json(state).dump();  // strict: what used to throw
  } catch (const nlohmann::json::exception&) {
    fail("state: dump() threw");
  }
  const FeedState back = nlohmann::json::parse(stored).get<FeedState>();
  require(back.rules.size() == state.rules.size(), "state: rules lost in the round trip");
  for (size_t i = 0; i < back.rules.size(); ++i) {
    require(same(back.rules[i], state.rules[i]), "state: a rule changed in the round trip");
  }
  require(back.warnings == state.warnings, "state: warnings changed in the round trip");
  return 0;
}
