// Rule files -> RuleSet. Strict like engine/config/config.cpp: unknown keys, duplicate keys,
// wrong types, quoted numbers and YAML 1.1 booleans (yes/no/on/off) are errors, reported as
// "file:line:col: message" with 1-based positions. See docs/rules.md for the format.

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "engine/core/text.hpp"
#include "engine/core/yaml_document.hpp"
#include "rules/compiled.hpp"
#include "rules/glob_condition.hpp"

namespace tyr::rules {
namespace {

namespace fs = std::filesystem;

struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void raise_load_error(const std::string& what) { throw LoadError(what); }

std::atomic<uint64_t> next_serial{1};

using Entry = YamlEntry;
using Section = YamlSection;

struct PendingRef {
  uint32_t condition;
  std::string id;
  std::string file;
  YAML::Mark mark;
};

struct PendingOverride {
  std::string room;
  std::string file;
  std::optional<YAML::Node> thresholds;
  std::vector<std::pair<std::string, YAML::Mark>> enable, disable;
};

// Conditions nest a few levels in practice. The limit also ends the recursion into an alias
// inside its own anchor (`when: &c {not: *c}`), which yaml-cpp builds as a node that contains
// itself.
constexpr int kMaxConditionDepth = 64;
// An alias is read as a copy of its anchor, so aliases of aliases multiply: 25 rules of
// `when: &cN {any: [*cM, *cM]}` (1.5 kB) would build 2^25 conditions. Far above real rule sets
// (the default pack has a few dozen).
constexpr size_t kMaxConditions = 10000;

constexpr std::string_view kConditionKeys[] = {
    "regex", "keywords", "glob", "feature", "media", "listed", "rate", "all", "any", "not", "rule"};

class Builder : StrictYaml {
 public:
  Builder() : StrictYaml("", raise_load_error), set_(std::make_shared<RuleSet>()) {}

  void load_file(const RuleSource& src) {
    file_ = src.name;
    base_dir_ = src.base_dir;
    const YAML::Node root = parse_document(src.text, /*empty_is_map=*/true);
    Section top = section(root, "", YAML::Mark(), {"rules", "thresholds", "overrides"});
    if (const Entry* rules = top.find("rules")) {
      if (!rules->value.IsSequence()) fail_at(*rules, "key 'rules': expected a list");
      for (size_t i = 0; i < rules->value.size(); ++i) {
        read_rule(rules->value[i], "rules[" + std::to_string(i) + "]");
      }
    }
    if (const Entry* t = top.find("thresholds")) {
      if (thresholds_file_) {
        fail(file_, t->key.Mark(), "thresholds already defined at " + *thresholds_file_);
      }
      thresholds_file_ = yaml_position(file_, t->key.Mark());
      set_->thresholds = read_thresholds(*t, "thresholds", Thresholds::none());
    }
    if (const Entry* o = top.find("overrides")) read_overrides(*o);
    ++set_->files;
  }

  RuleSetPtr finish() {
    resolve_references();
    check_cycles();
    resolve_overrides();
    collect_rates();
    for (auto& r : set_->rules) {
      set_->has_negative = set_->has_negative || r.score < 0;
      for (const auto& type : r.events) {
        auto& types = set_->event_types;
        auto it = std::find(types.begin(), types.end(), type);
        if (it == types.end()) {
          if (types.size() == 64)
            throw LoadError(r.file + ":" + std::to_string(r.line) +
                            ":1: more than 64 distinct event types");
          it = types.insert(types.end(), type);
        }
        r.type_mask |= uint64_t{1} << (it - types.begin());
      }
    }
    set_->serial = next_serial.fetch_add(1);
    try {
      set_->text.build(set_->serial);
    } catch (const std::exception& e) {
      throw LoadError(std::string("rules: ") + e.what());
    }
    index_for_scoring(*set_);
    return set_;
  }

 private:
  // ---- YAML plumbing beyond engine/core/yaml_document.hpp ----

  std::string non_empty_string(const Entry& e, const std::string& path) const {
    std::string v = string_of(e, path);
    if (v.empty()) fail_at(e, "key '" + path + "': must not be empty");
    return v;
  }

  // A string or a list of strings, never empty.
  std::vector<std::pair<std::string, YAML::Mark>> strings_of(const Entry& e,
                                                             const std::string& path) const {
    std::vector<std::pair<std::string, YAML::Mark>> out;
    if (e.value.IsScalar()) {
      out.emplace_back(e.value.Scalar(), e.value.Mark());
    } else if (e.value.IsSequence()) {
      for (size_t i = 0; i < e.value.size(); ++i) {
        const YAML::Node n = e.value[i];
        if (!n.IsScalar()) {
          fail(file_, n.Mark(), "key '" + path + "[" + std::to_string(i) + "]': expected a string");
        }
        out.emplace_back(n.Scalar(), n.Mark());
      }
    } else {
      fail_at(e, "key '" + path + "': expected a string or a list of strings");
    }
    if (out.empty()) fail_at(e, "key '" + path + "': must not be empty");
    return out;
  }

  double number_of(const Entry& e, const std::string& path) const {
    const std::string& tag = e.value.Tag();
    // A quoted scalar has the tag "!": "3" is a string to YAML.
    if (!e.value.IsScalar() ||
        (tag != "?" && tag != "tag:yaml.org,2002:float" && tag != "tag:yaml.org,2002:int")) {
      fail_at(e, "key '" + path + "': expected a number");
    }
    std::string_view text = e.value.Scalar();
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty() ||
        !std::isfinite(v)) {
      fail_at(e, "key '" + path + "': expected a number");
    }
    return v;
  }

  long long int_of(const Entry& e, const std::string& path, long long lo, long long hi) const {
    const std::string& tag = e.value.Tag();
    if (!e.value.IsScalar() || (tag != "?" && tag != "tag:yaml.org,2002:int")) {
      fail_at(e, "key '" + path + "': expected an integer");
    }
    std::string_view text = e.value.Scalar();
    long long v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
      fail_at(e, "key '" + path + "': expected an integer");
    }
    if (v < lo || v > hi) {
      fail_at(e, "key '" + path + "': must be between " + std::to_string(lo) + " and " +
                     std::to_string(hi));
    }
    return v;
  }

  template <class T>
  T choice(const Entry& e, const std::string& path,
           std::initializer_list<std::pair<std::string_view, T>> options) const {
    const std::string v = string_of(e, path);
    std::string names;
    for (const auto& [name, value] : options) {
      if (name == v) return value;
      names += names.empty() ? "" : ", ";
      names += name;
    }
    fail_at(e, "key '" + path + "': expected one of " + names);
  }

  // ---- rules ----

  void read_rule(const YAML::Node& node, const std::string& path) {
    const Section s = item_section(
        node, path, {"id", "description", "events", "when", "score", "group", "mode", "enabled"});
    Rule r;
    const Entry& id = require(s, "id");
    r.id = non_empty_string(id, s.dotted("id"));
    for (char c : r.id) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
      if (!ok) fail_at(id, "key '" + s.dotted("id") + "': use only letters, digits, '-', '_', '.'");
    }
    if (auto it = ids_.find(r.id); it != ids_.end()) {
      fail_at(id, "duplicate rule id '" + r.id + "' (first defined at " + it->second.second + ")");
    }
    if (const Entry* e = s.find("description"))
      r.description = string_of(*e, s.dotted("description"));
    if (const Entry* e = s.find("group")) r.group = non_empty_string(*e, s.dotted("group"));
    if (const Entry* e = s.find("events")) {
      for (auto& [type, mark] : strings_of(*e, s.dotted("events"))) {
        if (type.empty()) fail(file_, mark, "key '" + s.dotted("events") + "': empty event type");
        r.events.push_back(type);
      }
    } else {
      r.events.push_back("m.room.message");
    }
    r.score = number_of(require(s, "score"), s.dotted("score"));
    if (const Entry* e = s.find("mode")) {
      r.mode = choice<Mode>(*e, s.dotted("mode"),
                            {{"enforce", Mode::kEnforce}, {"shadow", Mode::kShadow}});
    }
    if (const Entry* e = s.find("enabled")) r.enabled = bool_of(*e, s.dotted("enabled"));
    const Entry& when = require(s, "when");
    const auto index = static_cast<uint32_t>(set_->rules.size());
    current_rule_ = index;
    when_path_ = s.dotted("when");
    r.condition = read_condition(when, when_path_);
    r.file = file_;
    r.line = node.Mark().line + 1;
    ids_.emplace(r.id, std::make_pair(index, yaml_position(file_, id.value.Mark())));
    set_->rules.push_back(std::move(r));
  }

  uint32_t add_condition(Condition c) {
    set_->conditions.push_back(std::move(c));
    condition_rule_.push_back(current_rule_);
    return static_cast<uint32_t>(set_->conditions.size() - 1);
  }

  uint32_t read_condition(const Entry& e, const std::string& path, int depth = 1) {
    if (depth > kMaxConditionDepth) {
      fail_at(e, "key '" + when_path_ + "': conditions nest deeper than " +
                     std::to_string(kMaxConditionDepth) + " levels");
    }
    if (set_->conditions.size() >= kMaxConditions) {
      fail_at(e, "key '" + when_path_ + "': more than " + std::to_string(kMaxConditions) +
                     " conditions in the rule set (an alias counts as a copy of its anchor)");
    }
    if (!e.value.IsMap()) fail_at(e, "key '" + path + "': expected a mapping with a condition");
    // Find the one key that names the condition; the others are its options.
    std::optional<Entry> kind_entry;
    std::string kind;
    for (auto it = e.value.begin(); it != e.value.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string& k = it->first.Scalar();
      if (std::find(std::begin(kConditionKeys), std::end(kConditionKeys), k) ==
          std::end(kConditionKeys)) {
        continue;
      }
      if (kind_entry) {
        fail(file_, it->first.Mark(),
             "key '" + path + "." + k + "': cannot be combined with '" + kind +
                 "' (use all/any to combine conditions)");
      }
      kind = k;
      kind_entry = Entry{it->first, it->second};
    }
    if (!kind_entry) {
      std::string names;
      for (auto k : kConditionKeys) names += (names.empty() ? "" : ", ") + std::string(k);
      // Unknown keys are reported before "no condition" so typos point at themselves.
      section(e.value, path, e.value.Mark(),
              {"field", "case", "match", "gt", "ge", "lt", "le", "eq"});
      fail(file_, e.value.Mark(), "key '" + path + "': expected one of " + names);
    }
    const Entry ke = *kind_entry;
    if (kind == "regex" || kind == "keywords") return read_text(e, ke, kind, path);
    if (kind == "glob") return read_glob(e, ke, path);
    if (kind == "feature") return read_feature(e, path);
    if (kind == "media") {
      section(e.value, path, e.value.Mark(), {"media"});
      Condition c;
      c.kind = CondKind::kMedia;
      for (auto& [t, m] : strings_of(ke, path + ".media")) c.msgtypes.push_back(t);
      return add_condition(std::move(c));
    }
    if (kind == "listed") {
      section(e.value, path, e.value.Mark(), {"listed"});
      Condition c;
      c.kind = CondKind::kListed;
      c.target = choice<ListTarget>(ke, path + ".listed",
                                    {{"sender", ListTarget::kSender},
                                     {"sender_server", ListTarget::kSenderServer},
                                     {"room", ListTarget::kRoom}});
      return add_condition(std::move(c));
    }
    if (kind == "rate") return read_rate(e, ke, path);
    if (kind == "all" || kind == "any") {
      if (kind == "all") {
        section(e.value, path, e.value.Mark(), {"all"});
      } else {
        section(e.value, path, e.value.Mark(), {"any"});
      }
      const std::string p = path + "." + kind;
      if (!ke.value.IsSequence()) fail_at(ke, "key '" + p + "': expected a list of conditions");
      if (ke.value.size() == 0) fail_at(ke, "key '" + p + "': must not be empty");
      Condition c;
      c.kind = kind == "all" ? CondKind::kAll : CondKind::kAny;
      for (size_t i = 0; i < ke.value.size(); ++i) {
        const YAML::Node child = ke.value[i];
        c.children.push_back(
            read_condition(Entry{child, child}, p + "[" + std::to_string(i) + "]", depth + 1));
      }
      return add_condition(std::move(c));
    }
    if (kind == "not") {
      section(e.value, path, e.value.Mark(), {"not"});
      Condition c;
      c.kind = CondKind::kNot;
      c.children.push_back(read_condition(ke, path + ".not", depth + 1));
      return add_condition(std::move(c));
    }
    // rule: <id>
    section(e.value, path, e.value.Mark(), {"rule"});
    Condition c;
    c.kind = CondKind::kRuleRef;
    const std::string id = non_empty_string(ke, path + ".rule");
    const uint32_t index = add_condition(std::move(c));
    refs_.push_back(PendingRef{index, id, file_, ke.value.Mark()});
    return index;
  }

  Field text_field(const Section& s, const std::string& path) const {
    const Entry* e = s.find("field");
    if (e == nullptr) return Field::kBody;
    return choice<Field>(*e, path + ".field",
                         {{"body", Field::kBody},
                          {"formatted_body", Field::kFormattedBody},
                          {"urls", Field::kUrls},
                          {"domains", Field::kDomains},
                          {"display_name", Field::kDisplayName},
                          {"sender", Field::kSender},
                          {"sender_server", Field::kSenderServer},
                          {"room", Field::kRoom}});
  }

  uint32_t read_text(const Entry& e, const Entry& ke, const std::string& kind,
                     const std::string& path) {
    const bool keywords = kind == "keywords";
    const Section s =
        keywords ? section(e.value, path, e.value.Mark(), {"keywords", "field", "match", "case"})
                 : section(e.value, path, e.value.Mark(), {"regex", "field", "case"});
    bool caseless = true;
    if (const Entry* c = s.find("case")) {
      caseless = choice<bool>(*c, path + ".case", {{"insensitive", true}, {"sensitive", false}});
    }
    Condition c;
    c.kind = CondKind::kText;
    c.field = text_field(s, path);
    // The group index is stored in `rule` for text conditions (see scorer.cpp).
    const uint32_t group = set_->text.new_group(c.field);
    c.rule = group;
    const std::string p = path + "." + kind;
    if (!keywords) {
      for (auto& [re, mark] : strings_of(ke, p)) {
        if (!is_valid_utf8(re)) fail(file_, mark, "key '" + p + "': invalid UTF-8");
        if (re.find('\0') != std::string::npos) fail(file_, mark, "key '" + p + "': NUL in regex");
        if (auto err = set_->text.add_regex(group, re, caseless)) {
          fail(file_, mark, "key '" + p + "': " + *err);
        }
      }
      return add_condition(std::move(c));
    }
    bool whole_word = true;
    if (const Entry* m = s.find("match")) {
      whole_word = choice<bool>(*m, path + ".match", {{"word", true}, {"substring", false}});
    }
    if (ke.value.IsMap()) {
      const Section fs_sec = section(ke.value, p, ke.value.Mark(), {"file"});
      const Entry& fe = require(fs_sec, "file");
      const std::string name = non_empty_string(fe, p + ".file");
      for (const auto& [kw, where] : read_keyword_file(name, fe)) {
        set_->text.add_keyword(group, kw, whole_word, caseless);
      }
      return add_condition(std::move(c));
    }
    if (!ke.value.IsSequence()) {
      fail_at(ke, "key '" + p + "': expected a list of keywords or {file: path}");
    }
    for (auto& [kw, mark] : strings_of(ke, p)) {
      if (kw.empty()) fail(file_, mark, "key '" + p + "': empty keyword");
      if (!is_valid_utf8(kw)) fail(file_, mark, "key '" + p + "': invalid UTF-8");
      set_->text.add_keyword(group, kw, whole_word, caseless);
    }
    return add_condition(std::move(c));
  }

  // One keyword per line; blank lines and lines starting with '#' are skipped.
  std::vector<std::pair<std::string, int>> read_keyword_file(const std::string& name,
                                                             const Entry& blame) const {
    const fs::path path = fs::path(name).is_absolute() ? fs::path(name) : base_dir_ / name;
    std::error_code ec;
    if (fs::is_directory(path, ec))
      fail_at(blame, "cannot read '" + path.string() + "': is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in)
      fail_at(blame,
              "cannot read '" + path.string() + "': " + std::generic_category().message(errno));
    std::vector<std::pair<std::string, int>> out;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
        line.pop_back();
      }
      size_t start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line[start] == '#') continue;
      line.erase(0, start);
      if (!is_valid_utf8(line)) {
        throw LoadError(path.string() + ":" + std::to_string(number) + ":1: invalid UTF-8");
      }
      out.emplace_back(line, number);
    }
    if (out.empty()) fail_at(blame, "keyword file '" + path.string() + "' has no keywords");
    return out;
  }

  uint32_t read_glob(const Entry& e, const Entry& ke, const std::string& path) {
    const Section s = section(e.value, path, e.value.Mark(), {"glob", "field"});
    Condition c;
    c.kind = CondKind::kGlob;
    c.field = Field::kSender;
    if (const Entry* f = s.find("field")) {
      c.field = choice<Field>(*f, path + ".field",
                              {{"sender", Field::kSender},
                               {"sender_server", Field::kSenderServer},
                               {"room", Field::kRoom}});
    }
    std::vector<std::string> globs;
    for (auto& [g, mark] : strings_of(ke, path + ".glob")) {
      if (!is_valid_utf8(g)) fail(file_, mark, "key '" + path + ".glob': invalid UTF-8");
      globs.push_back(g);
    }
    c.glob = compile_globs(globs);
    if (c.glob == nullptr) fail_at(ke, "key '" + path + ".glob': glob too large");
    return add_condition(std::move(c));
  }

  uint32_t read_feature(const Entry& e, const std::string& path) {
    const Section s =
        section(e.value, path, e.value.Mark(), {"feature", "gt", "ge", "lt", "le", "eq"});
    Condition c;
    c.kind = CondKind::kFeature;
    std::vector<std::pair<std::string_view, Feature>> names;
    for (int i = 0; i < kFeatures; ++i) {
      names.emplace_back(feature_name(static_cast<Feature>(i)), static_cast<Feature>(i));
    }
    const Entry& fe = require(s, "feature");
    const std::string name = string_of(fe, path + ".feature");
    auto it = std::find_if(names.begin(), names.end(), [&](auto& n) { return n.first == name; });
    if (it == names.end()) {
      std::string all;
      for (auto& n : names) all += (all.empty() ? "" : ", ") + std::string(n.first);
      fail_at(fe, "key '" + path + ".feature': expected one of " + all);
    }
    c.feature = it->second;
    for (const auto& [key, entry] : s.entries) {
      if (key == "feature") continue;
      const Cmp op = key == "gt"   ? Cmp::kGt
                     : key == "ge" ? Cmp::kGe
                     : key == "lt" ? Cmp::kLt
                     : key == "le" ? Cmp::kLe
                                   : Cmp::kEq;
      c.tests.emplace_back(op, number_of(entry, path + "." + key));
    }
    if (c.tests.empty())
      fail(file_, s.mark, "key '" + path + "': expected a comparison (gt, ge, lt, le or eq)");
    return add_condition(std::move(c));
  }

  uint32_t read_rate(const Entry& e, const Entry& ke, const std::string& path) {
    section(e.value, path, e.value.Mark(), {"rate"});
    const std::string p = path + ".rate";
    if (!ke.value.IsMap()) fail_at(ke, "key '" + p + "': expected a mapping");
    const Section s = section(ke.value, p, ke.value.Mark(), {"events", "seconds", "per"});
    Condition c;
    c.kind = CondKind::kRate;
    c.rate_count = static_cast<uint32_t>(int_of(require(s, "events"), p + ".events", 1, 10000));
    c.rate_window_ms = int_of(require(s, "seconds"), p + ".seconds", 1, 7 * 86400) * 1000;
    c.per = choice<RatePer>(require(s, "per"), p + ".per",
                            {{"sender", RatePer::kSender},
                             {"room", RatePer::kRoom},
                             {"sender_in_room", RatePer::kSenderInRoom}});
    c.rate_key_prefix = std::to_string(static_cast<int>(c.per)) + "/" +
                        std::to_string(c.rate_count) + "/" + std::to_string(c.rate_window_ms) + "/";
    return add_condition(std::move(c));
  }

  // ---- thresholds and overrides ----

  Thresholds read_thresholds(const Entry& e, const std::string& path, Thresholds base) const {
    if (!e.value.IsMap()) fail_at(e, "key '" + path + "': expected a mapping");
    const Section s =
        section(e.value, path, e.value.Mark(), {"notify", "redact", "kick", "ban", "reject"});
    if (const Entry* v = s.find("reject")) {
      const double t = number_of(*v, s.dotted("reject"));
      if (t <= 0) fail_at(*v, "key '" + s.dotted("reject") + "': must be > 0");
      base.reject = t;
    }
    static constexpr std::pair<std::string_view, Action> kNames[] = {{"notify", Action::kNotify},
                                                                     {"redact", Action::kRedact},
                                                                     {"kick", Action::kKick},
                                                                     {"ban", Action::kBan}};
    for (const auto& [name, action] : kNames) {
      if (const Entry* v = s.find(name)) {
        const double t = number_of(*v, s.dotted(name));
        if (t <= 0) fail_at(*v, "key '" + s.dotted(name) + "': must be > 0");
        base.at[static_cast<int>(action)] = t;
      }
    }
    // A stronger action needs at least the score of a weaker one.
    for (int a = 2; a < kActions; ++a) {
      for (int b = 1; b < a; ++b) {
        if (base.at[a] < Thresholds::kNever && base.at[a] < base.at[b] &&
            base.at[b] < Thresholds::kNever) {
          const auto& [name, act] = kNames[a - 1];
          const Entry* v = s.find(name);
          const Entry& blame = v != nullptr ? *v : e;
          fail_at(blame, "key '" + path + "': '" + std::string(name) + "' must not be below '" +
                             std::string(kNames[b - 1].first) + "'");
        }
      }
    }
    return base;
  }

  void read_overrides(const Entry& e) {
    if (!e.value.IsMap()) fail_at(e, "key 'overrides': expected a mapping of room IDs");
    const Section rooms = [&] {
      Section s{"overrides", e.value.Mark(), {}};
      for (auto it = e.value.begin(); it != e.value.end(); ++it) {
        if (!it->first.IsScalar()) fail(file_, it->first.Mark(), "keys must be plain strings");
        const std::string& room = it->first.Scalar();
        if (s.find(room) != nullptr) {
          fail(file_, it->first.Mark(), "duplicate key '" + s.dotted(room) + "'");
        }
        if (room.size() < 2 || room[0] != '!') {
          fail(file_, it->first.Mark(), "key 'overrides': '" + room + "' is not a room ID (!…)");
        }
        s.entries.emplace_back(room, Entry{it->first, it->second});
      }
      return s;
    }();
    for (const auto& [room, entry] : rooms.entries) {
      for (const auto& o : overrides_) {
        if (o.room == room) {
          fail(file_, entry.key.Mark(),
               "overrides for '" + room + "' already defined in " + o.file);
        }
      }
      const std::string path = "overrides." + room;
      if (!entry.value.IsMap()) fail_at(entry, "key '" + path + "': expected a mapping");
      const Section s =
          section(entry.value, path, entry.value.Mark(), {"thresholds", "enable", "disable"});
      PendingOverride o;
      o.room = room;
      o.file = file_;
      // Validated once all files are read: they apply on top of the global thresholds.
      if (const Entry* t = s.find("thresholds")) o.thresholds = t->value;
      if (const Entry* en = s.find("enable")) o.enable = strings_of(*en, s.dotted("enable"));
      if (const Entry* di = s.find("disable")) o.disable = strings_of(*di, s.dotted("disable"));
      overrides_.push_back(std::move(o));
    }
  }

  void resolve_overrides() {
    for (const auto& o : overrides_) {
      file_ = o.file;
      RoomOverride ro;
      ro.thresholds = set_->thresholds;
      if (o.thresholds) {
        const YAML::Node t = *o.thresholds;
        ro.thresholds =
            read_thresholds(Entry{t, t}, "overrides." + o.room + ".thresholds", set_->thresholds);
      }
      ro.enabled.assign(set_->rules.size(), -1);
      for (const auto* list : {&o.enable, &o.disable}) {
        for (const auto& [id, mark] : *list) {
          auto it = ids_.find(id);
          if (it == ids_.end()) fail(file_, mark, "unknown rule '" + id + "'");
          ro.enabled[it->second.first] = list == &o.enable ? 1 : 0;
        }
      }
      set_->overrides.emplace(o.room, std::move(ro));
    }
  }

  // ---- references ----

  void resolve_references() {
    for (const auto& ref : refs_) {
      auto it = ids_.find(ref.id);
      if (it == ids_.end()) fail(ref.file, ref.mark, "unknown rule '" + ref.id + "'");
      set_->conditions[ref.condition].rule = it->second.first;
    }
  }

  // A rule reference cycle would recurse forever: reject it at the reference that closes it.
  void check_cycles() {
    const size_t n = set_->rules.size();
    std::vector<std::vector<const PendingRef*>> edges(n);
    for (const auto& ref : refs_) edges[condition_rule_[ref.condition]].push_back(&ref);
    std::vector<int> state(n, 0);  // 0 new, 1 on stack, 2 done
    std::vector<uint32_t> stack;
    std::function<void(uint32_t)> visit = [&](uint32_t r) {
      state[r] = 1;
      stack.push_back(r);
      for (const PendingRef* ref : edges[r]) {
        const uint32_t to = set_->conditions[ref->condition].rule;
        if (state[to] == 1) {
          std::string cycle;
          auto from = std::find(stack.begin(), stack.end(), to);
          for (auto it = from; it != stack.end(); ++it) cycle += set_->rules[*it].id + " -> ";
          cycle += set_->rules[to].id;
          fail(ref->file, ref->mark, "rule reference cycle: " + cycle);
        }
        if (state[to] == 0) visit(to);
      }
      stack.pop_back();
      state[r] = 2;
    };
    for (uint32_t r = 0; r < n; ++r) {
      if (state[r] == 0) visit(r);
    }
  }

  void collect_rates() {
    for (uint32_t i = 0; i < set_->conditions.size(); ++i) {
      if (set_->conditions[i].kind != CondKind::kRate) continue;
      set_->rate_conditions.push_back(i);
      set_->rate_rules.push_back({condition_rule_[i]});
    }
  }

  std::shared_ptr<RuleSet> set_;
  fs::path base_dir_;
  uint32_t current_rule_ = 0;
  std::string when_path_;                 // "rules[i].when" of the rule being read
  std::vector<uint32_t> condition_rule_;  // per condition: the rule whose tree holds it
  std::map<std::string, std::pair<uint32_t, std::string>, std::less<>> ids_;  // id -> index, where
  std::vector<PendingRef> refs_;
  std::vector<PendingOverride> overrides_;
  std::optional<std::string> thresholds_file_;
};

Error rules_error(std::string message) { return Error{"TYR_RULES", std::move(message), 0, -1}; }

}  // namespace

Result<RuleSetPtr> load_rule_sources(const std::vector<RuleSource>& sources) {
  try {
    Builder b;
    for (const auto& src : sources) b.load_file(src);
    return b.finish();
  } catch (const LoadError& e) {
    return rules_error(e.what());
  } catch (const YAML::Exception& e) {
    return rules_error(e.what());
  }
}

}  // namespace tyr::rules
