// Fuzzes policy rule events end to end: JSON text -> parse_policy_event -> PolicyList::apply ->
// PolicyIndex::apply -> lookups. The input is one state event or a JSON array of them, applied
// in order to one list (so families shadow each other, rules get modified and removed).
// Beyond "no crash", checks the promises the bot relies on:
//   - a parsed event is either a rule or a removal, never both, and a problem means removal;
//   - the index holds exactly the list's effective rules (counts per kind, unknown ones);
//   - a lookup finds exactly the effective rules whose entity glob_matches the probe (servers
//     without their port) or whose MSC4205 hash is the probe's, incrementally, after
//     replace_list, and after compact() (built Hyperscan/RE2::Set tables).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/digest.hpp"
#include "engine/core/glob.hpp"
#include "engine/core/ids.hpp"
#include "engine/policy/policy_index.hpp"
#include "engine/policy/policy_list.hpp"
#include "engine/policy/policy_rule.hpp"

namespace {

using namespace tyr::engine::policy;
using tyr::glob_matches;

constexpr const char* kList = "!list:example.org";
constexpr size_t kMaxEvents = 64;
constexpr size_t kMaxProbes = 24;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_policy_event: %s\n", what);
  std::abort();
}

void require(bool condition, const char* what) {
  if (!condition) fail(what);
}

using Keys = std::set<std::string>;

// What the index must answer, straight from the list and the reference matcher.
Keys expected_hits(const std::vector<PolicyRule>& rules, EntityKind kind, std::string_view probe) {
  const std::string_view entity = kind == EntityKind::kServer ? tyr::strip_port(probe) : probe;
  Keys out;
  for (const PolicyRule& rule : rules) {
    if (rule.kind != kind || rule.recommendation == Recommendation::kUnknown) continue;
    if (!rule.entity.empty()) {
      if (glob_matches(rule.entity, entity)) out.insert(rule.state_key);
    } else if (!rule.sha256.empty()) {
      if (tyr::to_base64(tyr::sha256(entity)) == rule.sha256) out.insert(rule.state_key);
    }
  }
  return out;
}

Keys hits(const PolicyIndex& index, EntityKind kind, std::string_view probe) {
  std::vector<PolicyRuleRef> out;
  index.match(kind, probe, out);
  Keys keys;
  for (PolicyRuleRef rule : out) {
    require(rule->kind == kind && rule->list == kList, "a hit of another kind or list");
    require(keys.emplace(rule->state_key).second, "a rule returned twice");
  }
  return keys;
}

void check_lookups(const PolicyIndex& index, const std::vector<PolicyRule>& rules,
                   const std::vector<std::string>& probes, const char* what) {
  for (const std::string& probe : probes) {
    for (EntityKind kind : {EntityKind::kUser, EntityKind::kRoom, EntityKind::kServer}) {
      if (hits(index, kind, probe) != expected_hits(rules, kind, probe)) {
        std::fprintf(stderr, "fuzz_policy_event: lookup of %s kind %d disagrees (%s)\n",
                     nlohmann::json(probe).dump(-1, ' ', true).c_str(), static_cast<int>(kind),
                     what);
        std::abort();
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto doc = nlohmann::json::parse(data, data + size, nullptr, false);
  if (doc.is_discarded()) return 0;
  // Pointers, not copies: copying a json value recurses, and the input may nest deeply.
  std::vector<const nlohmann::json*> events;
  if (doc.is_array()) {
    for (const auto& e : doc) {
      if (events.size() == kMaxEvents) break;
      events.push_back(&e);
    }
  } else {
    events.push_back(&doc);
  }

  PolicyList list(kList);
  PolicyIndex index;
  std::vector<std::string> probes = {"@spam:example.org", "evil.org:8448", "!room:example.org"};
  for (const nlohmann::json* event : events) {
    const auto parsed = parse_policy_event(*event, kList);
    if (!parsed) continue;
    require(parsed->problem.empty() || !parsed->rule, "a rule with a problem");
    if (parsed->rule) {
      const PolicyRule& r = *parsed->rule;
      require(r.kind == parsed->kind && r.family == parsed->family &&
                  r.state_key == parsed->state_key && r.list == kList,
              "rule and event disagree on where the rule lives");
      require(r.entity.empty() != r.sha256.empty(), "a rule needs an entity or a hash");
      require(r.recommendation == parse_recommendation(r.recommendation_raw),
              "recommendation not parsed from its raw text");
      if (!r.entity.empty() && probes.size() < kMaxProbes) probes.push_back(r.entity);
    }
    index.apply(list.apply(*parsed));
  }

  const std::vector<PolicyRule> rules = list.effective_rules();
  require(rules.size() == list.size(), "effective_rules() and size() disagree");
  const PolicyIndexStats stats = index.stats();
  size_t unknown = 0;
  for (EntityKind kind : {EntityKind::kUser, EntityKind::kRoom, EntityKind::kServer}) {
    const auto k = static_cast<size_t>(kind);
    const auto n = static_cast<size_t>(std::count_if(
        rules.begin(), rules.end(), [&](const PolicyRule& r) { return r.kind == kind; }));
    require(n == list.count(kind), "count(kind) disagrees with the effective rules");
    require(stats.rules[k] == n, "the index holds other rules than the list");
  }
  for (const PolicyRule& r : rules) {
    if (r.recommendation == Recommendation::kUnknown) ++unknown;
    require(list.find(r.kind, r.state_key) != nullptr, "an effective rule find() cannot find");
  }
  require(unknown == list.unknown_count() && unknown == stats.unknown, "unknown counts disagree");

  check_lookups(index, rules, probes, "incremental");
  PolicyIndex reloaded;
  reloaded.replace_list(kList, rules);
  check_lookups(reloaded, rules, probes, "replace_list");
  index.compact();
  check_lookups(index, rules, probes, "compacted");
  return 0;
}
