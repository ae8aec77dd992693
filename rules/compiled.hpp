#pragma once
// The compiled, immutable form of a rule set. Conditions are a flat array (children by index);
// every regex and keyword becomes one Pattern in its field's FieldMatcher.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rules/rule_set.hpp"
#include "rules/text_matcher.hpp"

namespace re2 {
class RE2;
}

namespace tyr::rules {

enum class CondKind : uint8_t {
  kText,
  kGlob,
  kFeature,
  kMedia,
  kListed,
  kRate,
  kAll,
  kAny,
  kNot,
  kRuleRef
};
enum class Cmp : uint8_t { kGt, kGe, kLt, kLe, kEq };
enum class RatePer : uint8_t { kSender, kRoom, kSenderInRoom };
enum class ListTarget : uint8_t { kSender, kSenderServer, kRoom };

struct Condition {
  CondKind kind = CondKind::kAll;
  Field field = Field::kBody;                 // kText, kGlob
  std::vector<uint32_t> children;             // kAll, kAny, kNot (one)
  uint32_t rule = 0;                          // kRuleRef
  Feature feature = Feature::kLength;         // kFeature
  std::vector<std::pair<Cmp, double>> tests;  // kFeature: all must hold
  std::vector<std::string> msgtypes;          // kMedia
  ListTarget target = ListTarget::kSender;    // kListed
  RatePer per = RatePer::kSender;             // kRate
  uint32_t rate_count = 0;
  int64_t rate_window_ms = 0;
  std::string rate_key_prefix;           // kRate: "<per>/<count>/<window>/"
  std::shared_ptr<const re2::RE2> glob;  // kGlob: alternation of all globs, full match
};

struct Rule {
  std::string id, description, group;
  std::vector<std::string> events;  // event types; never empty
  uint64_t type_mask = 0;           // bit i: RuleSet::event_types[i] is among `events`
  uint32_t condition = 0;
  double score = 0;
  Mode mode = Mode::kEnforce;
  bool enabled = true;
  std::string file;  // where it was defined
  int line = 0;
};

// What the scoring loop reads of every rule, packed (Rule is a few cache lines of strings): with
// a thousand rules, walking Rule itself costs more than scanning the text.
struct RuleHot {
  static constexpr uint32_t kNoGroup = UINT32_MAX;
  uint64_t type_mask = 0;
  uint32_t text_group = kNoGroup;  // the group when the condition is one text condition
  bool enabled = true;
};

struct RoomOverride {
  Thresholds thresholds;
  std::vector<int8_t> enabled;  // per rule: -1 as the rule says, 0 disabled, 1 enabled
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class RuleSet {
 public:
  std::vector<Rule> rules;
  std::vector<RuleHot> hot;  // parallel to `rules`
  std::vector<Condition> conditions;
  TextMatcher text;  // every regex/keyword, one Hyperscan database per field
  Thresholds thresholds;
  std::unordered_map<std::string, RoomOverride, StringHash, std::equal_to<>> overrides;
  // Rules that are one text group the scan decides are visited only when the scan reports their
  // group; the scoring loop visits the others, `unscanned_rules`, on every event. `field_types`:
  // per field, the event types of its scan-decided rules (the fields scanned up front).
  std::vector<uint32_t> unscanned_rules;  // in rule order
  std::vector<uint32_t> group_rule;       // per text group: its scan-decided rule, or kNoGroup
  std::array<uint64_t, kFields> field_types{};
  std::vector<uint32_t> rate_conditions;  // kRate condition indexes, in rule order
  // Per rate condition: the rules whose event types decide whether an event is counted.
  std::vector<std::vector<uint32_t>> rate_rules;
  // Distinct event types of all rules (at most 64: more is a load error), so a rule's type test
  // is one bit test per event instead of string comparisons.
  std::vector<std::string> event_types;
  bool has_negative = false;  // some rule can lower the score: never stop early
  size_t files = 0;
  uint64_t serial = 0;  // unique per loaded set (per-thread scratch is keyed by it)
};

// Fills `hot`, `unscanned_rules`, `group_rule` and `field_types` of a set whose rules, types
// and text matcher are final (the loader's last step).
void index_for_scoring(RuleSet& set);

}  // namespace tyr::rules
