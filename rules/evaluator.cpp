// Rule evaluation: rate windows once, then the rules in file order. Conditions read the event's
// Features (extracted once per event, by the caller or here) and the TextMatcher's per-event
// results; nothing re-parses the event.

#include <re2/re2.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "engine/core/text.hpp"
#include "rules/compiled.hpp"

namespace tyr::rules {

namespace {

// Why a condition held: a text condition's group (its span is looked up only for a hit's
// description), or the condition that decided it.
struct Why {
  const Condition* cond = nullptr;
  Field field = Field::kBody;
  uint32_t group = 0;
  bool has_span = false;
  uint32_t rate = 0;  // rate conditions: events in the window
};

// Per-thread evaluation state, sized to one RuleSet; stamps avoid clearing between events.
struct EvalState {
  uint64_t serial = 0;
  uint32_t gen = 0;
  std::vector<uint32_t> rule_stamp;
  std::vector<uint8_t> rule_value;
  std::vector<Why> rule_why;
  std::vector<uint32_t> rate_value;  // per condition (only rate conditions used)
  Features features;                 // for callers that pass an event rather than its features
  std::string key;
  std::vector<uint32_t> visit;  // the scan-decided rules this event visits, in rule order

  void reset_for(const RuleSet& set) {
    if (serial == set.serial && gen != UINT32_MAX) {
      ++gen;
      return;
    }
    serial = set.serial;
    gen = 1;
    rule_stamp.assign(set.rules.size(), 0);
    rule_value.assign(set.rules.size(), 0);
    rule_why.assign(set.rules.size(), Why{});
    rate_value.assign(set.conditions.size(), 0);
  }
};

class Evaluator {
 public:
  Evaluator(const RuleSet& set, EvalState& st, const Features& f, const ScoreOptions& opt)
      : set_(set), st_(st), opt_(opt), f_(f) {}

  bool rule(uint32_t r, Why& why) {
    if (st_.rule_stamp[r] == st_.gen) {
      why = st_.rule_why[r];
      return st_.rule_value[r] != 0;
    }
    // References form a DAG (checked at load), so this cannot recurse forever.
    const bool v = eval(set_.rules[r].condition, why);
    st_.rule_stamp[r] = st_.gen;
    st_.rule_value[r] = v ? 1 : 0;
    st_.rule_why[r] = why;
    return v;
  }

 private:
  bool eval(uint32_t index, Why& why) {
    const Condition& c = set_.conditions[index];
    why = Why{&c, c.field, c.rule, false, 0};
    switch (c.kind) {
      case CondKind::kText: why.has_span = set_.text.matches(c.rule, f_); return why.has_span;
      case CondKind::kGlob: {
        const std::string_view v = f_.field(c.field);
        return !v.empty() && RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *c.glob);
      }
      case CondKind::kFeature: {
        const double x = f_.number(c.feature);
        for (const auto& [op, y] : c.tests) {
          const bool ok = op == Cmp::kGt   ? x > y
                          : op == Cmp::kGe ? x >= y
                          : op == Cmp::kLt ? x < y
                          : op == Cmp::kLe ? x <= y
                                           : x == y;
          if (!ok) return false;
        }
        return true;
      }
      case CondKind::kMedia:
        return std::find(c.msgtypes.begin(), c.msgtypes.end(), f_.msgtype) != c.msgtypes.end();
      case CondKind::kListed: {
        if (opt_.lists == nullptr) return false;
        switch (c.target) {
          case ListTarget::kSender:
            return !f_.sender.empty() && opt_.lists->listed(EntityKind::kUser, f_.sender);
          case ListTarget::kSenderServer:
            return !f_.sender_server.empty() &&
                   opt_.lists->listed(EntityKind::kServer, f_.sender_server);
          case ListTarget::kRoom:
            return !f_.room.empty() && opt_.lists->listed(EntityKind::kRoom, f_.room);
        }
        return false;
      }
      case CondKind::kRate: why.rate = st_.rate_value[index]; return why.rate >= c.rate_count;
      case CondKind::kAll: {
        Why first, child;
        for (uint32_t k : c.children) {
          if (!eval(k, child)) return false;
          // Explain with the first text span, else with the first condition.
          if (first.cond == nullptr || (!first.has_span && child.has_span)) first = child;
        }
        why = first;
        return true;
      }
      case CondKind::kAny: {
        Why child;
        for (uint32_t k : c.children) {
          if (eval(k, child)) {
            why = child;
            return true;
          }
        }
        return false;
      }
      case CondKind::kNot: {
        Why child;
        return !eval(c.children[0], child);
      }
      case CondKind::kRuleRef: return rule(c.rule, why);
    }
    return false;
  }

  const RuleSet& set_;
  EvalState& st_;
  const ScoreOptions& opt_;
  const Features& f_;
};

// Matched text as explanations quote it: one line, at most kMaxMatchBytes (escape_untrusted).
std::string capped(std::string_view s) { return escape_untrusted(s, kMaxMatchBytes); }

std::string describe(const RuleSet& set, const Why& why, const Features& f) {
  if (why.has_span) {
    const std::string_view text = f.field(why.field);
    const Span span = set.text.span(why.group, f);
    return capped(text.substr(span.from, span.to - span.from));
  }
  if (why.cond == nullptr) return {};
  const Condition& c = *why.cond;
  switch (c.kind) {
    case CondKind::kFeature:
      return std::string(feature_name(c.feature)) + "=" + number_text(f.number(c.feature));
    case CondKind::kGlob: return capped(f.field(c.field));
    case CondKind::kMedia: return std::string(f.msgtype);
    case CondKind::kListed:
      return capped(c.target == ListTarget::kSender ? f.sender
                    : c.target == ListTarget::kRoom ? f.room
                                                    : f.sender_server) +
             " listed";
    case CondKind::kRate:
      return std::to_string(why.rate) + " events in " + std::to_string(c.rate_window_ms / 1000) +
             "s per " +
             (c.per == RatePer::kSender ? "sender"
              : c.per == RatePer::kRoom ? "room"
                                        : "sender_in_room");
    case CondKind::kNot: return "not";
    default: return {};
  }
}

uint64_t type_bit(const RuleSet& set, std::string_view type) {
  for (size_t i = 0; i < set.event_types.size(); ++i) {
    if (set.event_types[i] == type) return uint64_t{1} << i;
  }
  return 0;
}

void count_rates(const RuleSet& set, const Features& f, EvalState& st, RuntimeState& state,
                 int64_t now_ms, uint64_t type) {
  for (size_t k = 0; k < set.rate_conditions.size(); ++k) {
    const uint32_t index = set.rate_conditions[k];
    const Condition& c = set.conditions[index];
    st.rate_value[index] = 0;
    if ((set.rules[set.rate_rules[k][0]].type_mask & type) == 0) continue;
    std::string_view entity = c.per == RatePer::kRoom ? f.room : f.sender;
    if (entity.empty() || (c.per == RatePer::kSenderInRoom && f.room.empty())) continue;
    st.key.assign(c.rate_key_prefix);
    st.key.append(entity);
    if (c.per == RatePer::kSenderInRoom) {
      st.key.push_back('\x1f');
      st.key.append(f.room);
    }
    st.rate_value[index] = state.record(st.key, c.rate_count, c.rate_window_ms, now_ms);
  }
}

EvalState& eval_state() {
  thread_local EvalState st;
  return st;
}

}  // namespace

Verdict score(const RuleSet& set, const nlohmann::json& event, RuntimeState& state, int64_t now_ms,
              const ScoreOptions& options) {
  EvalState& st = eval_state();
  extract_features(event, options.display_name, st.features);
  return score(set, st.features, state, now_ms, options);
}

Verdict score(const RuleSet& set, const Features& f, RuntimeState& state, int64_t now_ms,
              const ScoreOptions& options) {
  EvalState& st = eval_state();
  st.reset_for(set);
  set.text.begin_event();
  const uint64_t type = type_bit(set, f.type);
  count_rates(set, f, st, state, now_ms, type);

  const RoomOverride* ov = nullptr;
  if (!set.overrides.empty()) {
    auto it = set.overrides.find(f.room);
    if (it != set.overrides.end()) ov = &it->second;
  }
  const Thresholds& thresholds = ov != nullptr ? ov->thresholds : set.thresholds;
  double top = 0;
  for (int a = 1; a < kActions; ++a) {
    if (thresholds.at[a] < Thresholds::kNever) top = thresholds.at[a];
  }
  if (thresholds.reject_at() < Thresholds::kNever) top = std::max(top, thresholds.reject_at());

  // Scan the fields that decide rules of this event's type; of those rules, visit only the ones
  // whose group the scans reported (a thousand regex rules, a handful of reports). The others
  // are visited always. Both lists are in rule order, and so is the walk through their merge.
  uint32_t fields = 0;
  for (int fi = 0; fi < kFields; ++fi) {
    if ((set.field_types[static_cast<size_t>(fi)] & type) != 0) fields |= 1u << fi;
  }
  set.text.scan_fields(fields, f);
  st.visit.clear();
  for (uint32_t g : set.text.reported_groups()) {
    if (set.group_rule[g] != RuleHot::kNoGroup) st.visit.push_back(set.group_rule[g]);
  }
  std::sort(st.visit.begin(), st.visit.end());
  const std::vector<uint32_t>& always = set.unscanned_rules;
  size_t next_always = 0, next_visit = 0;
  uint32_t last_hit = 0;

  Verdict v;
  Evaluator eval(set, st, f, options);
  while (next_always < always.size() || next_visit < st.visit.size()) {
    const uint32_t r = next_visit == st.visit.size() || (next_always < always.size() &&
                                                         always[next_always] < st.visit[next_visit])
                           ? always[next_always++]
                           : st.visit[next_visit++];
    const RuleHot& hot = set.hot[r];
    const bool enabled = ov == nullptr || ov->enabled[r] < 0 ? hot.enabled : ov->enabled[r] == 1;
    if (!enabled || (hot.type_mask & type) == 0) continue;
    // Nothing can lower the score, and the strongest action is already decided.
    if (!options.explain && !set.has_negative && top > 0 && v.score >= top) {
      v.stopped_early = true;
      break;
    }
    // Most rules are one text condition, and most do not match: ask the matcher directly (the
    // rule is evaluated, and remembered for references, only when it matches).
    if (hot.text_group != RuleHot::kNoGroup && !set.text.matches(hot.text_group, f)) continue;
    Why why;
    if (!eval.rule(r, why)) continue;
    const Rule& rule = set.rules[r];
    Hit h;
    h.rule = rule.id;
    h.group = rule.group;
    h.score = rule.score;
    h.mode = rule.mode;
    h.match = describe(set, why, f);
    if (rule.mode == Mode::kEnforce) v.score += rule.score;
    v.total_score += rule.score;
    v.hits.push_back(std::move(h));
    last_hit = r;
  }
  // The walk skips rules that cannot match; stopping early is still reported when any rule of
  // this event's type comes after the hit that reached the top.
  if (!v.stopped_early && !options.explain && !set.has_negative && top > 0 && v.score >= top) {
    for (uint32_t r = last_hit + 1; r < set.rules.size(); ++r) {
      const RuleHot& hot = set.hot[r];
      const bool enabled = ov == nullptr || ov->enabled[r] < 0 ? hot.enabled : ov->enabled[r] == 1;
      if (enabled && (hot.type_mask & type) != 0) {
        v.stopped_early = true;
        break;
      }
    }
  }
  v.action = thresholds.action_for(v.score);
  v.shadow_action = thresholds.action_for(v.total_score);
  v.reject = thresholds.rejects(v.score);
  return v;
}

Verdict score_text(const RuleSet& set, std::string_view text, std::string_view sender,
                   std::string_view room, const ScoreOptions& options) {
  nlohmann::json event = {{"type", "m.room.message"},
                          {"sender", sender},
                          {"room_id", room},
                          {"content", {{"msgtype", "m.text"}, {"body", text}}}};
  RuntimeState throwaway(16);
  ScoreOptions opt = options;
  opt.explain = true;
  return score(set, event, throwaway, 0, opt);
}

std::string explain(const Verdict& v) {
  std::string out = "score " + number_text(v.score) + " -> " + std::string(action_name(v.action));
  std::string enforced, shadow;
  for (const auto& h : v.hits) {
    std::string& list = h.mode == Mode::kShadow ? shadow : enforced;
    list += list.empty() ? "" : ", ";
    list += h.rule + " " + (h.score >= 0 ? "+" : "") + number_text(h.score);
    if (!h.match.empty()) list += " \"" + h.match + "\"";
  }
  if (!enforced.empty()) out += ": " + enforced;
  if (!shadow.empty()) {
    out += "; shadow: " + shadow + " (would be " + number_text(v.total_score) + " -> " +
           std::string(action_name(v.shadow_action)) + ")";
  }
  return out;
}

void index_for_scoring(RuleSet& set) {
  set.hot.clear();
  set.unscanned_rules.clear();
  set.field_types.fill(0);
  set.group_rule.assign(set.text.groups(), RuleHot::kNoGroup);
  for (uint32_t r = 0; r < set.rules.size(); ++r) {
    RuleHot hot;
    hot.type_mask = set.rules[r].type_mask;
    hot.enabled = set.rules[r].enabled;
    const Condition& c = set.conditions[set.rules[r].condition];
    if (c.kind == CondKind::kText) hot.text_group = c.rule;
    set.hot.push_back(hot);
    const uint32_t g = hot.text_group;
    if (g != RuleHot::kNoGroup && set.text.scan_decides(g) &&
        set.group_rule[g] == RuleHot::kNoGroup) {
      set.group_rule[g] = r;
      set.field_types[static_cast<size_t>(set.text.field_of(g))] |= hot.type_mask;
    } else {
      set.unscanned_rules.push_back(r);
    }
  }
}

RuleSetInfo info(const RuleSet& set) {
  RuleSetInfo i;
  i.rules = set.rules.size();
  for (const auto& r : set.rules) {
    if (!r.enabled)
      ++i.disabled;
    else if (r.mode == Mode::kShadow)
      ++i.shadow;
    else
      ++i.enforced;
  }
  i.hyperscan_patterns = set.text.count(TextMatcher::Kind::kExact) +
                         set.text.count(TextMatcher::Kind::kPrefilter) +
                         set.text.count(TextMatcher::Kind::kHsOnly);
  i.re2_confirmed = set.text.count(TextMatcher::Kind::kPrefilter);
  i.re2_only = set.text.count(TextMatcher::Kind::kRe2Only);
  i.files = set.files;
  i.thresholds = set.thresholds;
  return i;
}

}  // namespace tyr::rules
