#pragma once
// Internal to the policy index (policy_index.cpp is the only includer): the exact matcher of
// reduced ASCII globs, the per-thread Hyperscan scratch, and the table of globs and non-ASCII
// entities of one kind (Hyperscan prefilter, exact confirmation).

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <hs/hs.h>
#include <re2/re2.h>
#include <re2/set.h>

#include "engine/core/glob.hpp"
#include "engine/policy/index_tables.hpp"

namespace tyr::engine::policy::index_detail {
// ---------------------------------------------------------------------------------------------
// Exact matcher for a reduced ASCII glob against a reduced input.

// `*` and `?` never match '\n'; both strings are free of '\n' here.
inline bool match_line(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star_p = ++pi;
      star_t = ti;
    } else if (pi < p.size() && (p[pi] == '?' || p[pi] == lower(t[ti]))) {
      ++pi;
      ++ti;
    } else if (star_p != std::string_view::npos) {
      pi = star_p;
      ti = ++star_t;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// No wildcard crosses a newline, so a pattern's literal newlines must meet the input's
// newlines one for one, and the lines match independently.
inline bool match_lines(std::string_view p, std::string_view t) {
  while (true) {
    const size_t pn = p.find('\n');
    const size_t tn = t.find('\n');
    if ((pn == std::string_view::npos) != (tn == std::string_view::npos)) return false;
    if (!match_line(p.substr(0, pn), t.substr(0, tn))) return false;
    if (pn == std::string_view::npos) return true;
    p.remove_prefix(pn + 1);
    t.remove_prefix(tn + 1);
  }
}

inline bool equal_folded(const char* lowered, const char* text, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (lowered[i] != lower(text[i])) return false;
  }
  return true;
}

class AsciiGlob {
 public:
  explicit AsciiGlob(std::string reduced) : p_(std::move(reduced)) {
    const size_t first = p_.find_first_of("*?");
    const size_t last = p_.find_last_of("*?");
    prefix_ = static_cast<uint32_t>(first == std::string::npos ? p_.size() : first);
    suffix_ = static_cast<uint32_t>(last == std::string::npos ? 0 : p_.size() - last - 1);
    star_ = p_.find('*') != std::string::npos;
    newline_ = p_.find('\n') != std::string::npos;
    min_len_ = static_cast<uint32_t>(p_.size() - std::count(p_.begin(), p_.end(), '*'));
  }

  bool matches(const Text& text) const {
    const std::string_view t = text.reduced;
    if (t.size() < min_len_ || (!star_ && t.size() != min_len_)) return false;
    if (!equal_folded(p_.data(), t.data(), prefix_)) return false;
    if (!equal_folded(p_.data() + p_.size() - suffix_, t.data() + t.size() - suffix_, suffix_)) {
      return false;
    }
    // Prefix and suffix sit at fixed places; only the middle needs the wildcard search.
    const std::string_view pm(p_.data() + prefix_, p_.size() - prefix_ - suffix_);
    const std::string_view tm(t.data() + prefix_, t.size() - prefix_ - suffix_);
    if (newline_ || text.newline) return match_lines(pm, tm);
    return match_line(pm, tm);
  }

 private:
  std::string p_;
  uint32_t prefix_ = 0;   // literal characters before the first wildcard
  uint32_t suffix_ = 0;   // literal characters after the last wildcard
  uint32_t min_len_ = 0;  // code points the input needs at least
  bool star_ = false;     // without a star the input needs exactly min_len_ code points
  bool newline_ = false;
};

// ---------------------------------------------------------------------------------------------
// Hyperscan scratch: one per thread, grown to fit every database the thread scans.

inline std::atomic<uint64_t> g_database_serial{0};

inline hs_scratch_t* scratch_for(const hs_database_t* db, uint64_t serial) {
  struct Scratch {
    hs_scratch_t* scratch = nullptr;
    std::array<uint64_t, 16> fitted{};  // serials of databases `scratch` is known to fit
    size_t next = 0;
    ~Scratch() {
      if (scratch != nullptr) hs_free_scratch(scratch);
    }
  };
  thread_local Scratch tls;
  for (uint64_t s : tls.fitted) {
    if (s == serial) return tls.scratch;
  }
  // Slow (microseconds to milliseconds): once per thread and database.
  if (hs_alloc_scratch(db, &tls.scratch) != HS_SUCCESS) return nullptr;
  tls.fitted[tls.next++ % tls.fitted.size()] = serial;
  return tls.scratch;
}

// ---------------------------------------------------------------------------------------------
// Globs and non-ASCII entities of one kind.

constexpr size_t kGram = 4;       // factor selection looks at 4-byte windows
constexpr size_t kMaxFactor = 8;  // a chosen window is widened leftwards up to this

// Where a factor goes in a glob: the rarest 4-byte window of its literal runs (a run shorter
// than 4 counts whole), widened to the left inside its run. Ending the factor at the rare
// window also keeps Hyperscan's literal matcher from piling factors on a shared suffix.
struct FactorChooser {
  std::unordered_map<std::string_view, uint32_t> counts;

  template <class F>
  static void for_each_window(std::string_view p, F&& f) {
    size_t i = 0;
    while (i < p.size()) {
      if (p[i] == '*' || p[i] == '?') {
        ++i;
        continue;
      }
      const size_t start = i;
      while (i < p.size() && p[i] != '*' && p[i] != '?') ++i;
      const size_t len = i - start;
      if (len < kGram) {
        f(start, start, len);
      } else {
        for (size_t w = start; w + kGram <= i; ++w) f(start, w, kGram);
      }
    }
  }

  void count(std::string_view p) {
    for_each_window(p, [&](size_t, size_t at, size_t len) { ++counts[p.substr(at, len)]; });
  }

  // Empty when the glob has no literal character.
  std::string_view choose(std::string_view p) const {
    std::string_view best;
    uint32_t best_count = UINT32_MAX;
    size_t best_run = 0;
    for_each_window(p, [&](size_t run, size_t at, size_t len) {
      const std::string_view window = p.substr(at, len);
      const uint32_t c = counts.at(window);
      if (c < best_count || (c == best_count && len > best.size())) {
        best = window;
        best_count = c;
        best_run = run;
      }
    });
    if (best.empty()) return best;
    const size_t end = static_cast<size_t>(best.data() - p.data()) + best.size();
    const size_t start = std::max(best_run, end >= kMaxFactor ? end - kMaxFactor : 0);
    return p.substr(start, end - start);
  }
};

// Globs found by a hash of their literal prefix or suffix (up to kMaxAnchor characters of it):
// a lookup hashes the input's first (last) n characters for each anchor length n in use, so it
// costs a few hash probes, and building costs a sort instead of a Hyperscan compile. A glob is
// anchored on the side whose key fewer globs share; one that has no side of at least
// kMinAnchor characters shared by at most kMaxAnchorGroup globs, or whose anchor length is
// rare, goes to Hyperscan. `*.example.org`-style server globs are all suffix-anchored.
constexpr size_t kMinAnchor = 4;
constexpr size_t kMaxAnchor = 24;
constexpr uint32_t kMaxAnchorGroup = 8;
constexpr size_t kMaxAnchorLengths = 8;  // per side

inline std::string_view prefix_anchor(std::string_view p) {
  return p.substr(0, std::min(p.find_first_of("*?"), kMaxAnchor));
}

inline std::string_view suffix_anchor(std::string_view p) {
  const size_t n = std::min(p.size() - p.find_last_of("*?") - 1, kMaxAnchor);
  return p.substr(p.size() - n);
}

struct AnchorTable {
  struct Slot {
    uint64_t hash = 0;  // fold_hash of the key
    uint32_t length = 0;
    RuleRange globs;  // indices of GlobTable::globs_; count 0: empty slot
  };
  std::vector<Slot> slots;
  size_t mask = 0;
  std::vector<uint32_t> lengths;  // key lengths in use, ascending
  HashFilter filter;

  // `keys`: (key, first glob, glob count), keys distinct.
  void build(const std::vector<std::pair<std::string_view, RuleRange>>& keys) {
    if (keys.empty()) return;
    slots.resize(table_capacity(keys.size()));
    mask = slots.size() - 1;
    filter.build(keys.size());
    for (const auto& [key, globs] : keys) {
      const Slot slot{fold_hash(key), static_cast<uint32_t>(key.size()), globs};
      filter.add(slot.hash);
      size_t at = slot.hash & mask;
      while (slots[at].globs.count != 0) at = (at + 1) & mask;
      slots[at] = slot;
      lengths.push_back(slot.length);
    }
    std::sort(lengths.begin(), lengths.end());
    lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  }

  // Calls f(range) for every slot whose key may equal the input's prefix (suffix) of a length
  // in use; equal hashes of different keys only cost a confirmation that fails.
  template <bool kSuffix, class F>
  void probe(std::string_view t, F&& f) const {
    for (const uint32_t length : lengths) {
      if (length > t.size()) return;
      const uint64_t hash = fold_hash(kSuffix ? t.substr(t.size() - length) : t.substr(0, length));
      if (!filter.may_contain(hash)) continue;
      for (size_t at = hash & mask; slots[at].globs.count != 0; at = (at + 1) & mask) {
        if (slots[at].hash == hash && slots[at].length == length) f(slots[at].globs);
      }
    }
  }
};

class GlobTable {
 public:
  // `compiled`: Hyperscan and RE2::Set (built tables); otherwise every glob is checked in turn
  // (small deltas, where a compile per change would cost more than it saves).
  GlobTable(const Rules& rules, bool compiled) : blocks_(blocks_of(rules)) {
    // Deduplicate: one entry per reduced pattern (ASCII) or exact entity (non-ASCII).
    std::map<std::string, std::vector<const PackedRule*>> ascii, unicode;
    for (const PackedRule* rule : rules) {
      std::string reduced = reduce_pattern(rule->entity());
      if (is_ascii(reduced)) {
        ascii[std::move(reduced)].push_back(rule);
      } else {
        unicode[std::string(rule->entity())].push_back(rule);
      }
    }
    auto add_rules = [&](const std::vector<const PackedRule*>& rs) {
      RuleRange range{static_cast<uint32_t>(flat_.size()), static_cast<uint32_t>(rs.size())};
      flat_.insert(flat_.end(), rs.begin(), rs.end());
      return range;
    };
    if (compiled) {
      build_factored(ascii, add_rules);
    } else {
      for (auto& [pattern, rs] : ascii) {
        unfactored_.push_back(static_cast<uint32_t>(globs_.size()));
        globs_.push_back({AsciiGlob(pattern), add_rules(rs)});
      }
    }
    build_unicode(unicode, compiled, add_rules);
  }

  ~GlobTable() {
    if (db_ != nullptr) hs_free_database(db_);
  }
  GlobTable(const GlobTable&) = delete;
  GlobTable& operator=(const GlobTable&) = delete;

  size_t factor_count() const { return factor_globs_.size(); }
  size_t anchored_count() const { return anchored_; }

  void match(const Text& text, std::string_view original, const Emit& emit) const {
    // Every anchored or factored glob has a literal character, so none matches an empty input.
    if (!text.reduced.empty()) {
      const auto confirm = [&](RuleRange globs) {
        for (uint32_t i = 0; i < globs.count; ++i) check(globs.begin + i, text, emit);
      };
      prefixes_.probe<false>(text.reduced, confirm);
      suffixes_.probe<true>(text.reduced, confirm);
      if (db_ != nullptr) scan(text, emit);
    }
    for (uint32_t g : unfactored_) check(g, text, emit);
    if (text.other_non_ascii && !unicode_.empty()) match_unicode(original, emit);
  }

 private:
  struct Glob {
    AsciiGlob glob;
    RuleRange rules;
  };
  struct Unicode {
    std::string entity;
    RuleRange rules;
    std::unique_ptr<RE2> re;  // when there is no set
  };
  struct ScanContext {
    const GlobTable* table;
    const Text* text;
    const Emit* emit;
  };

  static RE2::Options re2_options() {
    RE2::Options options;
    options.set_case_sensitive(false);  // as glob_matches: Unicode simple case folding
    options.set_log_errors(false);
    return options;
  }

  void emit_range(RuleRange range, const Emit& emit) const {
    for (uint32_t i = 0; i < range.count; ++i) emit(flat_[range.begin + i]);
  }

  void check(uint32_t g, const Text& text, const Emit& emit) const {
    if (globs_[g].glob.matches(text)) emit_range(globs_[g].rules, emit);
  }

  template <class AddRules>
  void build_factored(const std::map<std::string, std::vector<const PackedRule*>>& ascii,
                      AddRules& add_rules) {
    using Entry = AsciiEntry;
    const std::vector<const Entry*> rest = build_anchored(ascii, add_rules);
    FactorChooser chooser;
    for (const Entry* entry : rest) chooser.count(entry->first);
    std::map<std::string_view, std::vector<const Entry*>> by_factor;
    for (const Entry* entry_ptr : rest) {
      const Entry& entry = *entry_ptr;
      const std::string_view factor = chooser.choose(entry.first);
      if (factor.empty()) {
        unfactored_.push_back(static_cast<uint32_t>(globs_.size()));
        globs_.push_back({AsciiGlob(entry.first), add_rules(entry.second)});
      } else {
        by_factor[factor].push_back(&entry);
      }
    }
    if (by_factor.empty()) return;

    std::vector<const char*> expressions;
    std::vector<size_t> lengths;
    std::vector<unsigned> flags, ids;
    const auto first_factored = static_cast<uint32_t>(globs_.size());
    for (const auto& [factor, entries] : by_factor) {
      const auto first = static_cast<uint32_t>(globs_.size());
      for (const auto* entry : entries) {
        globs_.push_back({AsciiGlob(entry->first), add_rules(entry->second)});
      }
      ids.push_back(static_cast<unsigned>(factor_globs_.size()));
      factor_globs_.push_back({first, static_cast<uint32_t>(entries.size())});
      expressions.push_back(factor.data());
      lengths.push_back(factor.size());
      flags.push_back(HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH);
    }
    hs_compile_error_t* error = nullptr;
    if (hs_compile_lit_multi(expressions.data(), flags.data(), ids.data(), lengths.data(),
                             static_cast<unsigned>(expressions.size()), HS_MODE_BLOCK, nullptr,
                             &db_, &error) != HS_SUCCESS) {
      // Still correct without the database, only slower: check every glob.
      if (error != nullptr) hs_free_compile_error(error);
      db_ = nullptr;
      factor_globs_.clear();
      for (uint32_t g = first_factored; g < globs_.size(); ++g) unfactored_.push_back(g);
      return;
    }
    serial_ = ++g_database_serial;
  }

  using AsciiEntry = std::pair<const std::string, std::vector<const PackedRule*>>;

  // Puts the globs that have a selective literal prefix or suffix into prefixes_ and
  // suffixes_ (see AnchorTable); returns the others, in pattern order.
  template <class AddRules>
  std::vector<const AsciiEntry*> build_anchored(
      const std::map<std::string, std::vector<const PackedRule*>>& ascii, AddRules& add_rules) {
    std::unordered_map<std::string_view, uint32_t> shared[2];  // [suffix?] key -> globs
    for (const auto& [pattern, rs] : ascii) {
      ++shared[0][prefix_anchor(pattern)];
      ++shared[1][suffix_anchor(pattern)];
    }
    struct Choice {
      const AsciiEntry* entry;
      std::string_view key;
    };
    std::vector<Choice> chosen[2];
    std::vector<const AsciiEntry*> rest;
    for (const auto& entry : ascii) {
      const std::string_view keys[2] = {prefix_anchor(entry.first), suffix_anchor(entry.first)};
      uint32_t counts[2];
      for (int side = 0; side < 2; ++side) {
        counts[side] = keys[side].size() >= kMinAnchor ? shared[side].at(keys[side]) : UINT32_MAX;
      }
      const int side =
          counts[1] < counts[0] || (counts[1] == counts[0] && keys[1].size() > keys[0].size()) ? 1
                                                                                               : 0;
      if (counts[side] > kMaxAnchorGroup) {
        rest.push_back(&entry);
      } else {
        chosen[side].push_back({&entry, keys[side]});
      }
    }
    AnchorTable* tables[2] = {&prefixes_, &suffixes_};
    for (int side = 0; side < 2; ++side) {
      // Each length in use costs every lookup a probe: keep the most used lengths.
      std::array<uint32_t, kMaxAnchor + 1> per_length{};
      for (const Choice& c : chosen[side]) ++per_length[c.key.size()];
      std::array<uint32_t, kMaxAnchor + 1> order{};
      for (uint32_t n = 0; n <= kMaxAnchor; ++n) order[n] = n;
      std::stable_sort(order.begin(), order.end(),
                       [&](uint32_t a, uint32_t b) { return per_length[a] > per_length[b]; });
      std::array<bool, kMaxAnchor + 1> kept{};
      for (size_t i = 0; i < kMaxAnchorLengths; ++i) kept[order[i]] = per_length[order[i]] != 0;

      std::vector<Choice>& cs = chosen[side];
      std::stable_sort(cs.begin(), cs.end(),
                       [](const Choice& a, const Choice& b) { return a.key < b.key; });
      std::vector<std::pair<std::string_view, RuleRange>> keys;
      for (size_t i = 0; i < cs.size();) {
        const std::string_view key = cs[i].key;
        size_t end = i;
        while (end < cs.size() && cs[end].key == key) ++end;
        if (!kept[key.size()]) {
          for (; i < end; ++i) rest.push_back(cs[i].entry);
          continue;
        }
        const auto first = static_cast<uint32_t>(globs_.size());
        for (; i < end; ++i) {
          globs_.push_back({AsciiGlob(cs[i].entry->first), add_rules(cs[i].entry->second)});
        }
        keys.emplace_back(key, RuleRange{first, static_cast<uint32_t>(globs_.size() - first)});
      }
      tables[side]->build(keys);
    }
    anchored_ = 0;
    for (const AnchorTable* table : tables) {
      for (const auto& slot : table->slots) anchored_ += slot.globs.count;
    }
    std::sort(rest.begin(), rest.end(),
              [](const AsciiEntry* a, const AsciiEntry* b) { return a->first < b->first; });
    return rest;
  }

  template <class AddRules>
  void build_unicode(const std::map<std::string, std::vector<const PackedRule*>>& unicode,
                     bool compiled, AddRules& add_rules) {
    if (unicode.empty()) return;
    if (compiled) {
      RE2::Options options = re2_options();
      options.set_max_mem(64 << 20);
      auto set = std::make_unique<RE2::Set>(options, RE2::ANCHOR_BOTH);
      const size_t flat_before = flat_.size();
      for (const auto& [entity, rs] : unicode) {
        // A pattern RE2 rejects (broken UTF-8) never matches, as in glob_matches.
        if (set->Add(glob_to_regex_body(entity), nullptr) < 0) continue;
        unicode_.push_back({entity, add_rules(rs), nullptr});
      }
      if (set->Compile()) {
        set_ = std::move(set);
        return;
      }
      unicode_.clear();  // too big for one set: one RE2 per pattern below
      flat_.resize(flat_before);
    }
    for (const auto& [entity, rs] : unicode) {
      auto re = std::make_unique<RE2>(glob_to_regex_body(entity), re2_options());
      if (!re->ok()) continue;
      unicode_.push_back({entity, add_rules(rs), std::move(re)});
    }
  }

  static int on_factor(unsigned id, unsigned long long, unsigned long long, unsigned,
                       void* context) {
    const auto* c = static_cast<const ScanContext*>(context);
    const RuleRange globs = c->table->factor_globs_[id];
    for (uint32_t i = 0; i < globs.count; ++i) c->table->check(globs.begin + i, *c->text, *c->emit);
    return 0;
  }

  void scan(const Text& text, const Emit& emit) const {
    const size_t before = emit.out->size();
    if (hs_scratch_t* scratch = scratch_for(db_, serial_)) {
      ScanContext context{this, &text, &emit};
      if (hs_scan(db_, text.reduced.data(), static_cast<unsigned>(text.reduced.size()), 0, scratch,
                  &GlobTable::on_factor, &context) == HS_SUCCESS) {
        return;
      }
    }
    // No scratch or a failed scan: start over without Hyperscan.
    emit.out->resize(before);
    for (const RuleRange& globs : factor_globs_) {
      for (uint32_t i = 0; i < globs.count; ++i) check(globs.begin + i, text, emit);
    }
  }

  void match_unicode(std::string_view original, const Emit& emit) const {
    const re2::StringPiece input(original.data(), original.size());
    if (set_) {
      thread_local std::vector<int> hits;
      hits.clear();
      RE2::Set::ErrorInfo error{};
      if (set_->Match(input, &hits, &error)) {
        for (int h : hits) emit_range(unicode_[static_cast<size_t>(h)].rules, emit);
        return;
      }
      if (error.kind == RE2::Set::kNoError) return;
      // The set's DFA ran out of memory: the reference matcher, pattern by pattern.
      for (const Unicode& u : unicode_) {
        if (glob_matches(u.entity, original)) emit_range(u.rules, emit);
      }
      return;
    }
    for (const Unicode& u : unicode_) {
      if (RE2::FullMatch(input, *u.re)) emit_range(u.rules, emit);
    }
  }

  Blocks blocks_;
  std::vector<const PackedRule*> flat_;
  std::vector<Glob> globs_;              // grouped by factor
  std::vector<RuleRange> factor_globs_;  // Hyperscan id -> range of globs_
  std::vector<uint32_t> unfactored_;     // globs_ checked on every lookup
  AnchorTable prefixes_, suffixes_;      // globs_ found by a hash of their literal ends
  size_t anchored_ = 0;                  // globs in prefixes_ and suffixes_
  hs_database_t* db_ = nullptr;
  uint64_t serial_ = 0;
  std::vector<Unicode> unicode_;  // set_ index -> entry when set_ exists
  std::unique_ptr<RE2::Set> set_;
};

// Tables of one kind as a snapshot sees them; null = empty.
struct KindView {
  std::shared_ptr<const LiteralTable> literals, delta_literals;
  std::shared_ptr<const HashTable> hashes, delta_hashes;
  std::shared_ptr<const GlobTable> globs, delta_globs;
  std::shared_ptr<const DeadSet> dead;
};

}  // namespace tyr::engine::policy::index_detail
