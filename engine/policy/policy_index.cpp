#include "engine/policy/policy_index.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <hs/hs.h>
#include <openssl/evp.h>
#include <re2/re2.h>
#include <re2/set.h>

#include "engine/core/digest.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/glob.hpp"

namespace tyr::policy {

namespace {

using RulePtr = std::shared_ptr<const PolicyRule>;
using DeadSet = std::unordered_set<const PolicyRule*>;

size_t kind_index(EntityKind kind) { return static_cast<size_t>(kind); }

// ---------------------------------------------------------------------------------------------
// ASCII case folding, eight bytes at a time.

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x80 * kOnes;

// Sets bit 0x20 in every byte that is 'A'..'Z'; bytes >= 0x80 are left alone.
inline uint64_t lower8(uint64_t w) {
  const uint64_t low7 = w & (0x7F * kOnes);
  const uint64_t at_least_a = low7 + (0x80 - 'A') * kOnes;  // no carries: at most 0x7F + 0x3F
  const uint64_t above_z = low7 + (0x80 - 'Z' - 1) * kOnes;
  const uint64_t upper = at_least_a & ~above_z & ~w & kHighBits;
  return w | (upper >> 2);
}

inline char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }

inline uint64_t load(const char* p, size_t n) {  // n <= 8; missing bytes are zero
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  return w;
}

inline uint64_t mix(uint64_t h) {
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 31);
}

// Hash of the ASCII-lower-cased bytes; the low bits are good enough for power-of-two tables.
uint64_t fold_hash(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ s.size();
  for (size_t i = 0; i < s.size(); i += 8) {
    h = mix(h ^ lower8(load(s.data() + i, std::min<size_t>(8, s.size() - i))));
  }
  h ^= h >> 33;  // murmur3 finaliser
  h *= 0xFF51AFD7ED558CCDULL;
  return h ^ (h >> 33);
}

// `lowered` is already lower-case.
bool equal_folded8(const char* lowered, std::string_view text) {
  for (size_t i = 0; i < text.size(); i += 8) {
    const size_t n = std::min<size_t>(8, text.size() - i);
    if (load(lowered + i, n) != lower8(load(text.data() + i, n))) return false;
  }
  return true;
}

size_t table_capacity(size_t entries) {  // a power of two, at most half full
  size_t capacity = 16;
  while (capacity < entries * 2) capacity *= 2;
  return capacity;
}

bool is_ascii(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    if (load(s.data() + i, 8) & kHighBits) return false;
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The one-byte-per-code-point reduction (see the header).

constexpr std::string_view kKelvinSign = "\xE2\x84\xAA";  // U+212A, folds with 'k'
constexpr std::string_view kLongS = "\xC5\xBF";           // U+017F, folds with 's'

// Length of the UTF-8 sequence RE2's `.` accepts at `lead`, or 0. RE2 is deliberately loose
// (overlong E0/F0 forms, surrogates, F4 beyond U+10FFFF), and so must this be.
size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

struct Text {
  std::string_view reduced;     // one byte per code point
  bool other_non_ascii = false;  // a code point that became 0x80
  bool newline = false;
};

// nullopt when RE2 cannot read `s` as UTF-8. `buf` holds the reduction for non-ASCII input.
std::optional<Text> reduce_input(std::string_view s, std::string& buf) {
  Text t;
  if (is_ascii(s)) {
    t.reduced = s;
    t.newline = s.find('\n') != std::string_view::npos;
    return t;
  }
  buf.clear();
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const size_t len = sequence_length(lead);
    if (len == 0 || i + len > s.size()) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return std::nullopt;
    }
    const std::string_view seq = s.substr(i, len);
    if (len == 1) {
      buf.push_back(s[i]);
      if (s[i] == '\n') t.newline = true;
    } else if (seq == kKelvinSign) {
      buf.push_back('k');
    } else if (seq == kLongS) {
      buf.push_back('s');
    } else {
      buf.push_back('\x80');
      t.other_non_ascii = true;
    }
    i += len;
  }
  t.reduced = buf;
  return t;
}

// A pattern's reduction: ASCII lower-cased, Kelvin sign and long s replaced, every other byte
// kept (so a pattern with other non-ASCII characters, or broken UTF-8, stays non-ASCII).
std::string reduce_pattern(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const size_t len = lead < 0x80 ? 1 : std::max<size_t>(1, sequence_length(lead));
    const std::string_view seq = s.substr(i, len);
    if (len == 1) {
      out.push_back(lower(s[i]));
    } else if (seq == kKelvinSign) {
      out.push_back('k');
    } else if (seq == kLongS) {
      out.push_back('s');
    } else {
      out.append(seq);
    }
    i += seq.size();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// How a rule is indexed.

enum class Shape : uint8_t {
  kLiteral,      // ASCII after reduction, no wildcard
  kGlob,         // ASCII after reduction, with wildcards
  kUnicode,      // other non-ASCII characters (or broken UTF-8): RE2
  kHashed,       // MSC4205 sha256
  kUnknown,      // unknown recommendation: never matched
  kUnmatchable,  // no entity and no usable hash
};

enum Sort : size_t { kLiterals = 0, kHashes = 1, kGlobs = 2, kSorts = 3 };

Shape shape_of(const PolicyRule& rule) {
  if (rule.recommendation == Recommendation::kUnknown) return Shape::kUnknown;
  if (!rule.entity.empty()) {
    if (is_ascii(rule.entity)) return is_glob(rule.entity) ? Shape::kGlob : Shape::kLiteral;
    const std::string reduced = reduce_pattern(rule.entity);
    if (!is_ascii(reduced)) return Shape::kUnicode;
    return is_glob(reduced) ? Shape::kGlob : Shape::kLiteral;
  }
  if (!rule.sha256.empty() && decode_sha256_base64(rule.sha256)) return Shape::kHashed;
  return Shape::kUnmatchable;
}

std::optional<Sort> sort_of(Shape shape) {
  switch (shape) {
    case Shape::kLiteral: return kLiterals;
    case Shape::kHashed: return kHashes;
    case Shape::kGlob:
    case Shape::kUnicode: return kGlobs;
    case Shape::kUnknown:
    case Shape::kUnmatchable: return std::nullopt;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Hot-path SHA-256: one digest context per thread instead of one allocation per call.

Sha256 hot_sha256(std::string_view s) {
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local Context context;
  Sha256 out{};
  unsigned int len = 0;
  if (md == nullptr || context.ctx == nullptr ||
      EVP_DigestInit_ex(context.ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, s.data(), s.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, out.data(), &len) != 1 || len != out.size()) {
    return sha256(s);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Results: every emitted rule goes through the tombstones of its snapshot.

struct Emit {
  const DeadSet* dead;  // nullptr when there are none
  std::vector<const PolicyRule*>* out;

  void operator()(const PolicyRule* rule) const {
    if (dead != nullptr && dead->count(rule) != 0) return;
    out->push_back(rule);
  }
};

struct RuleRange {
  uint32_t begin = 0;
  uint32_t count = 0;
};

// ---------------------------------------------------------------------------------------------
// Literal entities (reduced to ASCII), ASCII-caseless. Immutable open addressing: a probe
// usually touches one slot and one key, where a node-based map touches bucket, node and key.

class LiteralTable {
 public:
  explicit LiteralTable(std::vector<RulePtr> rules) : owned_(std::move(rules)) {
    std::vector<std::pair<std::string, const PolicyRule*>> items;
    items.reserve(owned_.size());
    for (const RulePtr& rule : owned_) items.emplace_back(reduce_pattern(rule->entity), rule.get());
    std::sort(items.begin(), items.end());
    flat_.reserve(items.size());
    slots_.resize(table_capacity(items.size()));
    mask_ = slots_.size() - 1;
    for (size_t i = 0; i < items.size();) {
      const std::string& key = items[i].first;
      Slot slot{fold_hash(key), static_cast<uint32_t>(keys_.size()),
                static_cast<uint32_t>(key.size()), {static_cast<uint32_t>(flat_.size()), 0}};
      keys_ += key;
      for (; i < items.size() && items[i].first == key; ++i) {
        flat_.push_back(items[i].second);
        ++slot.rules.count;
      }
      size_t at = slot.hash & mask_;
      while (slots_[at].rules.count != 0) at = (at + 1) & mask_;
      slots_[at] = slot;
    }
  }

  void find(std::string_view reduced, const Emit& emit) const {
    const uint64_t hash = fold_hash(reduced);
    for (size_t at = hash & mask_; slots_[at].rules.count != 0; at = (at + 1) & mask_) {
      const Slot& slot = slots_[at];
      if (slot.hash != hash || slot.length != reduced.size() ||
          !equal_folded8(keys_.data() + slot.key, reduced)) {
        continue;
      }
      for (uint32_t i = 0; i < slot.rules.count; ++i) emit(flat_[slot.rules.begin + i]);
      return;
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t key = 0;  // offset in keys_
    uint32_t length = 0;
    RuleRange rules;   // count 0: empty slot
  };
  std::vector<RulePtr> owned_;
  std::string keys_;  // lower-cased keys back to back
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  std::vector<const PolicyRule*> flat_;
};

// ---------------------------------------------------------------------------------------------
// MSC4205 hashed entities: the same layout, keyed by the digest (already uniformly random).

class HashTable {
 public:
  explicit HashTable(std::vector<RulePtr> rules) : owned_(std::move(rules)) {
    std::vector<std::pair<Sha256, const PolicyRule*>> items;
    items.reserve(owned_.size());
    for (const RulePtr& rule : owned_) {
      if (auto digest = decode_sha256_base64(rule->sha256)) items.emplace_back(*digest, rule.get());
    }
    std::sort(items.begin(), items.end());
    flat_.reserve(items.size());
    slots_.resize(table_capacity(items.size()));
    mask_ = slots_.size() - 1;
    for (size_t i = 0; i < items.size();) {
      Slot slot{items[i].first, {static_cast<uint32_t>(flat_.size()), 0}};
      for (; i < items.size() && items[i].first == slot.digest; ++i) {
        flat_.push_back(items[i].second);
        ++slot.rules.count;
      }
      size_t at = bucket(slot.digest);
      while (slots_[at].rules.count != 0) at = (at + 1) & mask_;
      slots_[at] = slot;
    }
  }

  void find(const Sha256& digest, const Emit& emit) const {
    for (size_t at = bucket(digest); slots_[at].rules.count != 0; at = (at + 1) & mask_) {
      const Slot& slot = slots_[at];
      if (slot.digest != digest) continue;
      for (uint32_t i = 0; i < slot.rules.count; ++i) emit(flat_[slot.rules.begin + i]);
      return;
    }
  }

 private:
  struct Slot {
    Sha256 digest{};
    RuleRange rules;  // count 0: empty slot
  };
  size_t bucket(const Sha256& digest) const {
    return load(reinterpret_cast<const char*>(digest.data()), 8) & mask_;
  }
  std::vector<RulePtr> owned_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  std::vector<const PolicyRule*> flat_;
};

// ---------------------------------------------------------------------------------------------
// Exact matcher for a reduced ASCII glob against a reduced input.

// `*` and `?` never match '\n'; both strings are free of '\n' here.
bool match_line(std::string_view p, std::string_view t) {
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
bool match_lines(std::string_view p, std::string_view t) {
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

bool equal_folded(const char* lowered, const char* text, size_t n) {
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

std::atomic<uint64_t> g_database_serial{0};

hs_scratch_t* scratch_for(const hs_database_t* db, uint64_t serial) {
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

constexpr size_t kGram = 4;        // factor selection looks at 4-byte windows
constexpr size_t kMaxFactor = 8;   // a chosen window is widened leftwards up to this

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

class GlobTable {
 public:
  // `compiled`: Hyperscan and RE2::Set (built tables); otherwise every glob is checked in turn
  // (small deltas, where a compile per change would cost more than it saves).
  GlobTable(std::vector<RulePtr> rules, bool compiled) : owned_(std::move(rules)) {
    // Deduplicate: one entry per reduced pattern (ASCII) or exact entity (non-ASCII).
    std::map<std::string, std::vector<const PolicyRule*>> ascii, unicode;
    for (const RulePtr& rule : owned_) {
      std::string reduced = reduce_pattern(rule->entity);
      if (is_ascii(reduced)) {
        ascii[std::move(reduced)].push_back(rule.get());
      } else {
        unicode[rule->entity].push_back(rule.get());
      }
    }
    auto add_rules = [&](const std::vector<const PolicyRule*>& rs) {
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

  void match(const Text& text, std::string_view original, const Emit& emit) const {
    // Every factored glob has a literal character, so none matches an empty input.
    if (db_ != nullptr && !text.reduced.empty()) scan(text, emit);
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
  void build_factored(const std::map<std::string, std::vector<const PolicyRule*>>& ascii,
                      AddRules& add_rules) {
    FactorChooser chooser;
    for (const auto& [pattern, rs] : ascii) chooser.count(pattern);
    using Entry = std::pair<const std::string, std::vector<const PolicyRule*>>;
    std::map<std::string_view, std::vector<const Entry*>> by_factor;
    for (const auto& entry : ascii) {
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
      unfactored_.clear();
      for (uint32_t g = 0; g < globs_.size(); ++g) unfactored_.push_back(g);
      return;
    }
    serial_ = ++g_database_serial;
  }

  template <class AddRules>
  void build_unicode(const std::map<std::string, std::vector<const PolicyRule*>>& unicode,
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
      if (hs_scan(db_, text.reduced.data(), static_cast<unsigned>(text.reduced.size()), 0,
                  scratch, &GlobTable::on_factor, &context) == HS_SUCCESS) {
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

  std::vector<RulePtr> owned_;
  std::vector<const PolicyRule*> flat_;
  std::vector<Glob> globs_;               // grouped by factor
  std::vector<RuleRange> factor_globs_;   // Hyperscan id -> range of globs_
  std::vector<uint32_t> unfactored_;      // globs_ checked on every lookup
  hs_database_t* db_ = nullptr;
  uint64_t serial_ = 0;
  std::vector<Unicode> unicode_;          // set_ index -> entry when set_ exists
  std::unique_ptr<RE2::Set> set_;
};

// Tables of one kind as a snapshot sees them; null = empty.
struct KindView {
  std::shared_ptr<const LiteralTable> literals, delta_literals;
  std::shared_ptr<const HashTable> hashes, delta_hashes;
  std::shared_ptr<const GlobTable> globs, delta_globs;
  std::shared_ptr<const DeadSet> dead;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Snapshot

struct PolicyIndexSnapshot::State {
  std::array<KindView, kEntityKinds> kinds;
};

PolicyIndexSnapshot::PolicyIndexSnapshot(std::unique_ptr<const State> state,
                                         PolicyIndexStats stats)
    : state_(std::move(state)), stats_(stats) {}

PolicyIndexSnapshot::~PolicyIndexSnapshot() = default;

void PolicyIndexSnapshot::match(EntityKind kind, std::string_view entity,
                                std::vector<const PolicyRule*>& out) const {
  if (kind == EntityKind::kServer) entity = strip_port(entity);
  const KindView& view = state_->kinds[kind_index(kind)];
  const Emit emit{view.dead.get(), &out};

  if (view.hashes || view.delta_hashes) {
    const Sha256 digest = hot_sha256(entity);
    if (view.hashes) view.hashes->find(digest, emit);
    if (view.delta_hashes) view.delta_hashes->find(digest, emit);
  }
  if (!view.literals && !view.delta_literals && !view.globs && !view.delta_globs) return;

  thread_local std::string buffer;
  const std::optional<Text> text = reduce_input(entity, buffer);
  if (!text) return;
  if (!text->other_non_ascii) {  // 0x80 is in no literal key
    if (view.literals) view.literals->find(text->reduced, emit);
    if (view.delta_literals) view.delta_literals->find(text->reduced, emit);
  }
  if (view.globs) view.globs->match(*text, entity, emit);
  if (view.delta_globs) view.delta_globs->match(*text, entity, emit);
}

void PolicyIndexSnapshot::match_user(std::string_view user_id,
                                     std::vector<const PolicyRule*>& out) const {
  match(EntityKind::kUser, user_id, out);
  const std::string_view server = server_of(user_id);
  if (!server.empty()) match(EntityKind::kServer, server, out);
}

// ---------------------------------------------------------------------------------------------
// Index (writer side)

struct PolicyIndex::Impl {
  explicit Impl(PolicyIndexOptions o) : options(o) {}

  using Key = std::pair<EntityKind, std::string>;
  using ListRules = std::map<Key, RulePtr>;

  // One sort of table of one kind, writer's bookkeeping.
  struct Part {
    std::unordered_map<const PolicyRule*, RulePtr> delta;  // added since the table was built
    DeadSet dead;                                           // removed since it was built
    size_t built_size = 0;
    bool delta_changed = false;
    bool dead_changed = false;
  };

  // One step of a batch, applied in order.
  struct Op {
    bool add;
    RulePtr rule;
  };

  PolicyIndexOptions options;
  std::mutex write_mutex;
  // Held only to copy or swap the pointer. (libstdc++ 12's atomic<shared_ptr> unlocks with
  // relaxed order after a load, which ThreadSanitizer rightly reports as a race.)
  mutable std::mutex current_mutex;
  std::shared_ptr<const PolicyIndexSnapshot> current;

  // Guarded by write_mutex.
  std::unordered_map<std::string, ListRules> lists;
  std::array<std::array<Part, kSorts>, kEntityKinds> parts;
  std::array<KindView, kEntityKinds> view;
  PolicyIndexStats stats;

  // Updates `lists` for one diff and appends the table operations it implies.
  void collect(const ListDiff& diff, std::vector<Op>& ops) {
    if (diff.removed) {
      const PolicyRule& r = *diff.removed;
      if (auto list = lists.find(r.list); list != lists.end()) {
        if (auto it = list->second.find({r.kind, r.state_key}); it != list->second.end()) {
          ops.push_back({false, std::move(it->second)});
          list->second.erase(it);
          if (list->second.empty()) lists.erase(list);
        }
      }
    }
    if (diff.added) {
      auto rule = std::make_shared<const PolicyRule>(*diff.added);
      auto& slot = lists[rule->list][{rule->kind, rule->state_key}];
      if (slot) ops.push_back({false, std::move(slot)});
      slot = rule;
      ops.push_back({true, std::move(rule)});
    }
  }

  size_t limit(size_t sort) const {
    return sort == kGlobs ? options.max_delta_globs : options.max_delta_entries;
  }

  void count(const PolicyRule& rule, int sign) {
    auto bump = [sign](size_t& n) { n = sign > 0 ? n + 1 : n - 1; };
    bump(stats.rules[kind_index(rule.kind)]);
    switch (shape_of(rule)) {
      case Shape::kLiteral: bump(stats.literals); break;
      case Shape::kGlob:
      case Shape::kUnicode: bump(stats.globs); break;
      case Shape::kHashed: bump(stats.hashes); break;
      case Shape::kUnknown: bump(stats.unknown); break;
      case Shape::kUnmatchable: bump(stats.unmatchable); break;
    }
  }

  void run(const std::vector<Op>& ops) {
    for (const Op& op : ops) {
      count(*op.rule, op.add ? 1 : -1);
      const auto sort = sort_of(shape_of(*op.rule));
      if (!sort) continue;
      Part& part = parts[kind_index(op.rule->kind)][*sort];
      if (op.add) {
        part.delta.emplace(op.rule.get(), op.rule);
        part.delta_changed = true;
      } else if (part.delta.erase(op.rule.get()) != 0) {
        part.delta_changed = true;
      } else {
        part.dead.insert(op.rule.get());  // it is in the built table
        part.dead_changed = true;
      }
    }
    for (size_t k = 0; k < kEntityKinds; ++k) {
      bool dead_changed = false;
      for (size_t s = 0; s < kSorts; ++s) {
        Part& part = parts[k][s];
        if (part.delta.size() > limit(s) ||
            part.dead.size() > std::max(limit(s), part.built_size / 4)) {
          rebuild(k, s);
          dead_changed = true;
        } else if (part.delta_changed) {
          publish_delta(k, s);
        }
        dead_changed = dead_changed || part.dead_changed;
        part.delta_changed = part.dead_changed = false;
      }
      if (dead_changed) publish_dead(k);
    }
    publish();
  }

  std::vector<RulePtr> live_rules(size_t kind, size_t sort) const {
    std::vector<RulePtr> out;
    for (const auto& [name, rules] : lists) {
      for (const auto& [key, rule] : rules) {
        if (kind_index(key.first) != kind) continue;
        if (sort_of(shape_of(*rule)) == sort) out.push_back(rule);
      }
    }
    return out;
  }

  template <class Table>
  static std::shared_ptr<const Table> make_table(std::vector<RulePtr> rules) {
    if (rules.empty()) return nullptr;
    return std::make_shared<const Table>(std::move(rules));
  }

  void rebuild(size_t k, size_t s) {
    Part& part = parts[k][s];
    std::vector<RulePtr> rules = live_rules(k, s);
    part.built_size = rules.size();
    part.delta = {};  // = {} rather than clear(): gives back the buckets of a bulk load
    part.dead = {};
    KindView& v = view[k];
    switch (s) {
      case kLiterals:
        v.literals = make_table<LiteralTable>(std::move(rules));
        v.delta_literals = nullptr;
        break;
      case kHashes:
        v.hashes = make_table<HashTable>(std::move(rules));
        v.delta_hashes = nullptr;
        break;
      default:
        v.globs =
            rules.empty() ? nullptr : std::make_shared<const GlobTable>(std::move(rules), true);
        v.delta_globs = nullptr;
        break;
    }
    ++stats.rebuilds;
  }

  void publish_delta(size_t k, size_t s) {
    std::vector<RulePtr> rules;
    rules.reserve(parts[k][s].delta.size());
    for (const auto& [ptr, rule] : parts[k][s].delta) rules.push_back(rule);
    KindView& v = view[k];
    switch (s) {
      case kLiterals: v.delta_literals = make_table<LiteralTable>(std::move(rules)); break;
      case kHashes: v.delta_hashes = make_table<HashTable>(std::move(rules)); break;
      default:
        v.delta_globs =
            rules.empty() ? nullptr : std::make_shared<const GlobTable>(std::move(rules), false);
        break;
    }
  }

  void publish_dead(size_t k) {
    DeadSet all;
    for (const Part& part : parts[k]) all.insert(part.dead.begin(), part.dead.end());
    view[k].dead = all.empty() ? nullptr : std::make_shared<const DeadSet>(std::move(all));
  }

  void publish() {
    stats.delta = stats.tombstones = stats.hyperscan_factors = 0;
    for (size_t k = 0; k < kEntityKinds; ++k) {
      for (const Part& part : parts[k]) {
        stats.delta += part.delta.size();
        stats.tombstones += part.dead.size();
      }
      if (view[k].globs) stats.hyperscan_factors += view[k].globs->factor_count();
    }
    ++stats.version;
    auto state = std::make_unique<PolicyIndexSnapshot::State>();
    state->kinds = view;
    auto next = std::make_shared<const PolicyIndexSnapshot>(std::move(state), stats);
    {
      std::lock_guard lock(current_mutex);
      current.swap(next);
    }
    // `next` now holds the previous snapshot: it dies here, outside the lock, unless a
    // reader still holds it.
  }

  std::shared_ptr<const PolicyIndexSnapshot> load() const {
    std::lock_guard lock(current_mutex);
    return current;
  }
};

PolicyIndex::PolicyIndex(PolicyIndexOptions options) : impl_(std::make_unique<Impl>(options)) {
  std::lock_guard lock(impl_->write_mutex);
  impl_->publish();
}

PolicyIndex::~PolicyIndex() = default;

std::shared_ptr<const PolicyIndexSnapshot> PolicyIndex::snapshot() const {
  return impl_->load();
}

void PolicyIndex::match(EntityKind kind, std::string_view entity,
                        std::vector<const PolicyRule*>& out) const {
  snapshot()->match(kind, entity, out);
}

void PolicyIndex::match_user(std::string_view user_id, std::vector<const PolicyRule*>& out) const {
  snapshot()->match_user(user_id, out);
}

PolicyIndexStats PolicyIndex::stats() const { return snapshot()->stats(); }

void PolicyIndex::apply(const ListDiff& diff) {
  std::lock_guard lock(impl_->write_mutex);
  std::vector<Impl::Op> ops;
  impl_->collect(diff, ops);
  if (!ops.empty()) impl_->run(ops);
}

void PolicyIndex::apply(const std::vector<ListDiff>& diffs) {
  std::lock_guard lock(impl_->write_mutex);
  std::vector<Impl::Op> ops;
  for (const ListDiff& diff : diffs) impl_->collect(diff, ops);
  if (!ops.empty()) impl_->run(ops);
}

void PolicyIndex::replace_list(const std::string& list, const std::vector<PolicyRule>& rules) {
  std::lock_guard lock(impl_->write_mutex);
  // One rule per key; should the caller pass several families, the highest precedence wins.
  std::map<Impl::Key, const PolicyRule*> incoming;
  for (const PolicyRule& rule : rules) {
    auto [it, inserted] = incoming.try_emplace({rule.kind, rule.state_key}, &rule);
    if (!inserted && rule.family < it->second->family) it->second = &rule;
  }
  auto same = [&](const PolicyRule& held, const PolicyRule& next) {
    PolicyRule copy = next;
    copy.list = list;
    return same_rule(held, copy);
  };

  std::vector<Impl::Op> ops;
  Impl::ListRules& held = impl_->lists[list];
  for (auto it = held.begin(); it != held.end();) {
    auto next = incoming.find(it->first);
    if (next == incoming.end() || !same(*it->second, *next->second)) {
      ops.push_back({false, std::move(it->second)});
      it = held.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [key, rule] : incoming) {
    if (held.count(key) != 0) continue;  // unchanged
    auto copy = std::make_shared<PolicyRule>(*rule);
    copy->list = list;
    RulePtr ptr = std::move(copy);
    held.emplace(key, ptr);
    ops.push_back({true, std::move(ptr)});
  }
  if (held.empty()) impl_->lists.erase(list);
  if (!ops.empty()) impl_->run(ops);
}

void PolicyIndex::remove_list(const std::string& list) {
  std::lock_guard lock(impl_->write_mutex);
  auto it = impl_->lists.find(list);
  if (it == impl_->lists.end()) return;
  std::vector<Impl::Op> ops;
  for (auto& [key, rule] : it->second) ops.push_back({false, std::move(rule)});
  impl_->lists.erase(it);
  impl_->run(ops);
}

void PolicyIndex::compact() {
  std::lock_guard lock(impl_->write_mutex);
  bool changed = false;
  for (size_t k = 0; k < kEntityKinds; ++k) {
    bool dead_changed = false;
    for (size_t s = 0; s < kSorts; ++s) {
      if (impl_->parts[k][s].delta.empty() && impl_->parts[k][s].dead.empty()) continue;
      dead_changed = dead_changed || !impl_->parts[k][s].dead.empty();
      impl_->rebuild(k, s);
      changed = true;
    }
    if (dead_changed) impl_->publish_dead(k);
  }
  if (changed) impl_->publish();
}

}  // namespace tyr::policy
