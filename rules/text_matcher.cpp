#include "rules/text_matcher.hpp"

#include <hs/hs.h>
#include <re2/re2.h>

#include <array>
#include <stdexcept>

namespace tyr::rules {

namespace {

constexpr unsigned kBaseFlags = HS_FLAG_UTF8;

// Regex constructs whose Hyperscan (PCRE) meaning differs from RE2's, or that Hyperscan does
// not know: such regexes are prefiltered by Hyperscan and confirmed by RE2.
bool needs_confirmation(std::string_view re) {
  for (size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\' && i + 1 < re.size()) {
      const char e = re[++i];
      if (e == 's' || e == 'S' || e == 'p' || e == 'P' || e == 'C' || e == 'Q' || e == 'v' ||
          e == 'V' || e == 'h' || e == 'H') {
        return true;
      }
      continue;
    }
    if (c == '$') return true;  // PCRE: also before a final newline
    if (c == '[' && re.substr(i, 2) == "[[" && re.substr(i + 1, 2) == "[:") return true;
    if (c == '[' && re.substr(i, 2) == "[:") return true;
  }
  return false;
}

// Hyperscan folds the case of most non-ASCII letters but not all of RE2's fold orbits (U+1C80
// and в, ς and σ, ...): case-insensitive patterns with non-ASCII characters run on RE2.
bool has_non_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

std::string escape_literal(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80) {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

RE2::Options re2_options(bool caseless) {
  RE2::Options o;
  o.set_case_sensitive(!caseless);
  o.set_log_errors(false);
  return o;
}

// Word characters for whole-word keywords: ASCII letters, digits and '_', and any Unicode
// letter or digit (decided by RE2, only for non-ASCII neighbours).
bool word_char_at(std::string_view text, size_t start, size_t len) {
  if (len == 1) {
    const char c = text[start];
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  static const RE2 kWord("[\\pL\\pN]", re2_options(false));
  return RE2::FullMatch(re2::StringPiece(text.data() + start, len), kWord);
}

size_t utf8_len_at(std::string_view text, size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return i + len <= text.size() ? len : 1;
}

bool word_bounded(std::string_view text, size_t from, size_t to) {
  if (from > 0) {
    size_t start = from - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    if (word_char_at(text, start, from - start)) return false;
  }
  if (to < text.size() && word_char_at(text, to, utf8_len_at(text, to))) return false;
  return true;
}

// The span of a Hyperscan report of pattern `p` (a TextMatcher::Pattern). A keyword is
// reported without start of match: its start is its end minus its length, and a whole-word
// keyword is a match only between word boundaries (false otherwise).
template <typename PatternT>
bool reported_span(const PatternT& p, std::string_view text, unsigned long long from,
                   unsigned long long to, Span& span) {
  span = Span{static_cast<uint32_t>(from), static_cast<uint32_t>(to)};
  if (!p.literal) return true;
  const auto len = static_cast<uint32_t>(p.expression.size());
  span.from = span.to >= len ? span.to - len : 0;
  return !p.word || word_bounded(text, span.from, span.to);
}

// One Hyperscan scratch per thread, grown to fit every database this thread scans.
struct HsScratchHolder {
  hs_scratch_t* scratch = nullptr;
  ~HsScratchHolder() {
    if (scratch != nullptr) hs_free_scratch(scratch);
  }
};
thread_local HsScratchHolder tls_hs;

}  // namespace

struct TextMatcher::Scratch {
  uint64_t serial = 0;
  uint32_t gen = 1;
  std::array<uint32_t, kFields> field_stamp{};
  // Fields scanned with the `fast` database whose spans the span database has since given.
  std::array<uint32_t, kFields> span_stamp{};
  std::vector<uint32_t> group_hit, group_checked, candidate;
  std::vector<uint32_t> span_seen;       // per group: span set by the span scan (stamp)
  std::vector<uint32_t> group_reported;  // per group: in `reported` (stamp)
  std::vector<uint32_t> reported;        // groups the scans reported, each once

  void report(uint32_t group) {
    if (group_reported[group] == gen) return;
    group_reported[group] = gen;
    reported.push_back(group);
  }
  std::vector<Span> group_span;
};

struct ScanContext {
  const TextMatcher* matcher;
  const std::vector<uint32_t>* ids;
  TextMatcher::Scratch* s;
  std::string_view text;
};

TextMatcher::TextMatcher() = default;
TextMatcher::TextMatcher(TextMatcher&&) noexcept = default;
TextMatcher& TextMatcher::operator=(TextMatcher&&) noexcept = default;
TextMatcher::~TextMatcher() {
  for (auto& d : dbs_) {
    if (d.db != nullptr) hs_free_database(d.db);
    if (d.fast != nullptr) hs_free_database(d.fast);
  }
}

uint32_t TextMatcher::new_group(Field field) {
  groups_.push_back(Group{field, {}, true});
  return static_cast<uint32_t>(groups_.size() - 1);
}

Field TextMatcher::field_of(uint32_t group) const { return groups_[group].field; }

size_t TextMatcher::count(Kind k) const {
  size_t n = 0;
  for (const auto& p : patterns_) n += p.kind == k ? 1 : 0;
  return n;
}

std::optional<std::string> TextMatcher::add_regex(uint32_t group, const std::string& regex,
                                                  bool caseless) {
  Pattern p;
  p.group = group;
  p.caseless = caseless;
  p.expression = regex;
  auto re = std::make_shared<const RE2>(regex, re2_options(caseless));
  if (re->ok()) {
    p.kind = caseless && has_non_ascii(regex) ? Kind::kRe2Only
             : needs_confirmation(regex)      ? Kind::kPrefilter
                                              : Kind::kExact;
    p.re2 = std::move(re);
  } else {
    hs_database_t* db = nullptr;
    hs_compile_error_t* err = nullptr;
    const unsigned flags = kBaseFlags | HS_FLAG_SOM_LEFTMOST | (caseless ? HS_FLAG_CASELESS : 0u);
    if (hs_compile(regex.c_str(), flags, HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
      hs_free_compile_error(err);
      return "invalid regex (RE2: " + re->error() + ")";
    }
    hs_free_database(db);
    p.kind = Kind::kHsOnly;
  }
  patterns_.push_back(std::move(p));
  return std::nullopt;
}

void TextMatcher::add_keyword(uint32_t group, std::string_view keyword, bool whole_word,
                              bool caseless) {
  Pattern p;
  p.group = group;
  p.literal = true;
  p.word = whole_word;
  p.caseless = caseless;
  p.expression = std::string(keyword);
  if (caseless && has_non_ascii(keyword)) {
    p.kind = Kind::kRe2Only;
    p.re2 = std::make_shared<const RE2>(
        RE2::QuoteMeta(re2::StringPiece(keyword.data(), keyword.size())), re2_options(true));
  }
  patterns_.push_back(std::move(p));
}

void TextMatcher::build(uint64_t serial) {
  serial_ = serial;
  dbs_.assign(kFields, FieldDb{});
  for (int fi = 0; fi < kFields; ++fi) {
    FieldDb& fdb = dbs_[static_cast<size_t>(fi)];
    // The field's patterns as Hyperscan expressions; `som`: exact regexes report where they
    // start. Returns whether any pattern wants start of match.
    std::vector<std::string> exprs;
    std::vector<unsigned> flags, ids;
    auto expressions = [&](bool som) {
      bool wants_som = false;
      exprs.clear();
      flags.clear();
      ids.clear();
      fdb.ids.clear();
      for (uint32_t i = 0; i < patterns_.size(); ++i) {
        const Pattern& p = patterns_[i];
        if (static_cast<int>(groups_[p.group].field) != fi || p.kind == Kind::kRe2Only) continue;
        unsigned f = kBaseFlags | (p.caseless ? HS_FLAG_CASELESS : 0u);
        if (p.literal) {
          exprs.push_back(escape_literal(p.expression));
          if (!p.word) f |= HS_FLAG_SINGLEMATCH;
        } else {
          exprs.push_back(p.expression);
          if (p.kind == Kind::kPrefilter) {
            f |= HS_FLAG_PREFILTER | HS_FLAG_SINGLEMATCH;
          } else {
            wants_som = true;
            f |= som ? HS_FLAG_SOM_LEFTMOST : HS_FLAG_SINGLEMATCH;
          }
        }
        flags.push_back(f);
        ids.push_back(static_cast<unsigned>(fdb.ids.size()));
        fdb.ids.push_back(i);
      }
      return wants_som;
    };
    auto compile = [&](hs_database_t** db, hs_compile_error_t** err) {
      std::vector<const char*> cexprs;
      for (const auto& e : exprs) cexprs.push_back(e.c_str());
      return hs_compile_multi(cexprs.data(), flags.data(), ids.data(),
                              static_cast<unsigned>(cexprs.size()), HS_MODE_BLOCK, nullptr, db,
                              err) == HS_SUCCESS;
    };
    while (true) {
      expressions(/*som=*/true);
      if (exprs.empty()) break;
      hs_compile_error_t* err = nullptr;
      if (compile(&fdb.db, &err)) break;
      const int bad = err->expression;
      const std::string message = err->message;
      hs_free_compile_error(err);
      fdb.db = nullptr;
      if (bad < 0) throw std::runtime_error("Hyperscan: " + message);
      Pattern& p = patterns_[fdb.ids[static_cast<size_t>(bad)]];
      // Demote and retry: exact -> prefilter (RE2 confirms) -> RE2 alone.
      if (p.kind == Kind::kExact && !p.literal) {
        p.kind = Kind::kPrefilter;
      } else if (p.kind == Kind::kPrefilter) {
        p.kind = Kind::kRe2Only;
      } else {
        throw std::runtime_error("Hyperscan rejected '" + p.expression + "': " + message);
      }
    }
    // The same patterns (same ids) without start of match, for deciding which groups match.
    // Should Hyperscan refuse it, `db` alone serves as before.
    if (fdb.db != nullptr && expressions(/*som=*/false)) {
      hs_compile_error_t* err = nullptr;
      if (!compile(&fdb.fast, &err)) {
        hs_free_compile_error(err);
        fdb.fast = nullptr;
      }
    }
  }
  for (uint32_t i = 0; i < patterns_.size(); ++i) {
    const Pattern& p = patterns_[i];
    if (p.kind == Kind::kPrefilter || p.kind == Kind::kRe2Only) {
      groups_[p.group].confirm.push_back(i);
    }
    if (p.kind == Kind::kRe2Only) groups_[p.group].scan_decides = false;
  }
  for (const auto& d : dbs_) {
    for (hs_database_t* db : {d.db, d.fast}) {
      if (db != nullptr && hs_alloc_scratch(db, &tls_hs.scratch) != HS_SUCCESS) {
        throw std::runtime_error("Hyperscan: cannot allocate scratch");
      }
    }
  }
}

TextMatcher::Scratch& TextMatcher::scratch() const {
  thread_local Scratch s;
  if (s.serial != serial_) {
    s.serial = serial_;
    s.gen = 1;
    s.field_stamp.fill(0);
    s.group_hit.assign(groups_.size(), 0);
    s.group_checked.assign(groups_.size(), 0);
    s.group_span.assign(groups_.size(), Span{});
    s.candidate.assign(patterns_.size(), 0);
    s.span_stamp.fill(0);
    s.span_seen.assign(groups_.size(), 0);
    s.group_reported.assign(groups_.size(), 0);
    s.reported.clear();
    for (const auto& d : dbs_) {
      // Grows this thread's scratch to fit (a no-op when it already does).
      for (hs_database_t* db : {d.db, d.fast}) {
        if (db != nullptr && hs_alloc_scratch(db, &tls_hs.scratch) != HS_SUCCESS) {
          throw std::runtime_error("Hyperscan: cannot allocate scratch");
        }
      }
    }
  }
  return s;
}

void TextMatcher::begin_event() const {
  Scratch& s = scratch();
  if (++s.gen == 0) {  // wrapped: old stamps could look current
    s.serial = 0;
    scratch();
  }
  s.reported.clear();
}

void TextMatcher::scan_fields(uint32_t mask, const Features& f) const {
  Scratch& s = scratch();
  for (int fi = 0; fi < kFields; ++fi) {
    if ((mask >> fi & 1u) != 0 && s.field_stamp[fi] != s.gen) scan(static_cast<Field>(fi), f, s);
  }
}

const std::vector<uint32_t>& TextMatcher::reported_groups() const { return scratch().reported; }

void TextMatcher::scan(Field field, const Features& f, Scratch& s) const {
  s.field_stamp[static_cast<int>(field)] = s.gen;
  const FieldDb& fdb = dbs_[static_cast<size_t>(field)];
  const std::string_view text = f.field(field);
  if (fdb.db == nullptr || text.empty()) return;
  ScanContext ctx{this, &fdb.ids, &s, text};
  // Without start of match (`fast`), a regex's span is unknown: span() asks the span database.
  auto on_match = [](unsigned id, unsigned long long from, unsigned long long to, unsigned,
                     void* raw) -> int {
    auto& c = *static_cast<ScanContext*>(raw);
    const uint32_t index = (*c.ids)[id];
    const Pattern& p = c.matcher->patterns_[index];
    if (p.kind == Kind::kPrefilter) {
      c.s->candidate[index] = c.s->gen;
      c.s->report(p.group);
      return 0;
    }
    if (c.s->group_hit[p.group] == c.s->gen) return 0;  // the first span is kept
    Span span;
    if (!reported_span(p, c.text, from, to, span)) return 0;
    c.s->group_hit[p.group] = c.s->gen;
    c.s->group_span[p.group] = span;
    c.s->report(p.group);
    return 0;
  };
  hs_database_t* db = fdb.fast != nullptr ? fdb.fast : fdb.db;
  if (hs_scan(db, text.data(), static_cast<unsigned>(text.size()), 0, tls_hs.scratch, on_match,
              &ctx) != HS_SUCCESS) {
    throw std::runtime_error("Hyperscan scan failed");
  }
}

// The scan the span database would have made alone: each group's first reported match. Only
// groups the fast scan found match here (the same patterns match), so spans RE2 gave to
// confirmed groups stay.
void TextMatcher::scan_spans(Field field, const Features& f, Scratch& s) const {
  s.span_stamp[static_cast<int>(field)] = s.gen;
  const FieldDb& fdb = dbs_[static_cast<size_t>(field)];
  const std::string_view text = f.field(field);
  if (text.empty()) return;
  ScanContext ctx{this, &fdb.ids, &s, text};
  auto on_match = [](unsigned id, unsigned long long from, unsigned long long to, unsigned,
                     void* raw) -> int {
    auto& c = *static_cast<ScanContext*>(raw);
    const Pattern& p = c.matcher->patterns_[(*c.ids)[id]];
    if (p.kind == Kind::kPrefilter || c.s->span_seen[p.group] == c.s->gen) return 0;
    Span span;
    if (!reported_span(p, c.text, from, to, span)) return 0;
    c.s->span_seen[p.group] = c.s->gen;
    c.s->group_span[p.group] = span;
    return 0;
  };
  if (hs_scan(fdb.db, text.data(), static_cast<unsigned>(text.size()), 0, tls_hs.scratch, on_match,
              &ctx) != HS_SUCCESS) {
    throw std::runtime_error("Hyperscan scan failed");
  }
}

bool TextMatcher::confirm(const Pattern& p, std::string_view text, Span& span) const {
  re2::StringPiece whole(text.data(), text.size()), m;
  size_t start = 0;
  while (start <= whole.size() &&
         p.re2->Match(whole, start, whole.size(), RE2::UNANCHORED, &m, 1)) {
    span.from = static_cast<uint32_t>(m.data() - text.data());
    span.to = static_cast<uint32_t>(span.from + m.size());
    if (!p.word || word_bounded(text, span.from, span.to)) return true;
    start = span.from + utf8_len_at(text, span.from);  // keywords are never empty
  }
  return false;
}

bool TextMatcher::match(uint32_t group, const Features& f, Span& span) const {
  if (!matches(group, f)) return false;
  span = this->span(group, f);
  return true;
}

bool TextMatcher::matches(uint32_t group, const Features& f) const {
  Scratch& s = scratch();
  const Group& g = groups_[group];
  if (s.field_stamp[static_cast<int>(g.field)] != s.gen) scan(g.field, f, s);
  if (s.group_hit[group] == s.gen) return true;
  if (g.confirm.empty() || s.group_checked[group] == s.gen) return false;
  s.group_checked[group] = s.gen;
  const std::string_view text = f.field(g.field);
  Span span;
  for (uint32_t index : g.confirm) {
    const Pattern& p = patterns_[index];
    if (p.kind == Kind::kPrefilter && s.candidate[index] != s.gen) continue;
    if (confirm(p, text, span)) {
      s.group_hit[group] = s.gen;
      s.group_span[group] = span;
      return true;
    }
  }
  return false;
}

Span TextMatcher::span(uint32_t group, const Features& f) const {
  Scratch& s = scratch();
  const Field field = groups_[group].field;
  if (dbs_[static_cast<size_t>(field)].fast != nullptr &&
      s.span_stamp[static_cast<int>(field)] != s.gen) {
    scan_spans(field, f, s);
  }
  return s.group_span[group];
}

}  // namespace tyr::rules
