#pragma once
// TextMatcher: every regex and keyword of a rule set, compiled per field into ONE Hyperscan
// block-mode database, scanned at most once per event and field (lazily: a field no evaluated
// rule asks about is never scanned).
//
// A condition's regexes and keywords form a group; the group matches when any of its patterns
// does. Patterns come in four kinds:
//   exact      Hyperscan decides alone (HS_FLAG_SOM_LEFTMOST gives the span). Keywords are
//              always exact; their whole-word check is done on the reported span, and RE2 only
//              classifies a non-ASCII neighbouring code point (Unicode letters and digits are
//              word characters; Hyperscan's \b only knows ASCII).
//   prefilter  Hyperscan (HS_FLAG_PREFILTER) proposes, RE2 confirms and gives the span: regexes
//              whose Hyperscan meaning differs from RE2's ('$' also matches before a final
//              newline, \s includes \v, \p classes, POSIX classes, \C, \Q) or that Hyperscan
//              cannot compile with start-of-match tracking.
//   re2_only   Hyperscan rejects even the prefilter form (e.g. patterns that match the empty
//              string): RE2 runs whenever the group is evaluated.
//   hs_only    RE2 rejects the regex but Hyperscan accepts it exactly.
// A regex that neither engine accepts is an error, reported by the loader with its position.
//
// Start-of-match tracking makes Hyperscan several times slower, and the start only matters for
// the text an explanation quotes. So each field with exact regexes has two databases: `fast`
// (no start tracking, one report per pattern) decides which groups match; the `spans` database
// (the exact regexes with HS_FLAG_SOM_LEFTMOST) runs only when a matched group's span is asked
// for, and yields the span the single scan always gave: the first match reported for the group.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/features.hpp"

struct hs_database;

namespace re2 {
class RE2;
}

namespace tyr::rules {

// The features rules read are the engine's (extracted once per event, shared with protections).
using tyr::Feature;
using tyr::feature_name;
using tyr::Features;
using tyr::Field;
using tyr::field_name;
using tyr::kFeatures;
using tyr::kFields;

struct Span {
  uint32_t from = 0, to = 0;
};

class TextMatcher {
 public:
  enum class Kind : uint8_t { kExact, kPrefilter, kRe2Only, kHsOnly };

  TextMatcher();
  ~TextMatcher();
  TextMatcher(TextMatcher&&) noexcept;
  TextMatcher& operator=(TextMatcher&&) noexcept;

  uint32_t new_group(Field field);
  // Returns an error message when neither RE2 nor Hyperscan accepts `regex`.
  std::optional<std::string> add_regex(uint32_t group, const std::string& regex, bool caseless);
  void add_keyword(uint32_t group, std::string_view keyword, bool whole_word, bool caseless);
  // Compiles the per-field databases. Throws std::runtime_error on failures that no fallback
  // can absorb (out of memory).
  void build(uint64_t serial);

  // True when the group matches `f`; `span` is a byte range of f.field(group's field).
  bool match(uint32_t group, const Features& f, Span& span) const;
  // The same without the span (which may cost a second scan of the field).
  bool matches(uint32_t group, const Features& f) const;
  // The span of a group `matches` found in this event.
  Span span(uint32_t group, const Features& f) const;
  // Starts a new event for this thread's scratch (invalidates earlier scan results).
  void begin_event() const;
  // Scans now the fields in `mask` (bit i: Field i) not yet scanned in this event.
  void scan_fields(uint32_t mask, const Features& f) const;
  // The groups this event's scans have reported so far (matched, or proposed to RE2 to confirm),
  // each once. Valid on this thread until the next begin_event.
  const std::vector<uint32_t>& reported_groups() const;
  // True when the group can only match if its field's scan reports it (no RE2-only pattern).
  bool scan_decides(uint32_t group) const { return groups_[group].scan_decides; }
  size_t groups() const { return groups_.size(); }

  Field field_of(uint32_t group) const;
  size_t count(Kind k) const;
  size_t patterns() const { return patterns_.size(); }

 private:
  struct Pattern {
    uint32_t group = 0;
    Kind kind = Kind::kExact;
    bool literal = false, word = false, caseless = false;
    std::string expression;               // RE2/Hyperscan syntax, or the keyword itself
    std::shared_ptr<const re2::RE2> re2;  // kPrefilter, kRe2Only
  };
  struct Group {
    Field field;
    std::vector<uint32_t> confirm;  // kPrefilter and kRe2Only patterns
    bool scan_decides = true;       // no kRe2Only pattern
  };
  struct FieldDb {
    hs_database* db = nullptr;    // every pattern; exact regexes with start of match
    hs_database* fast = nullptr;  // the same without start of match; null when db needs none
    std::vector<uint32_t> ids;    // Hyperscan id -> pattern index (both databases)
  };
  struct Scratch;
  friend struct ScanContext;

  void scan(Field field, const Features& f, Scratch& s) const;
  void scan_spans(Field field, const Features& f, Scratch& s) const;
  Scratch& scratch() const;
  bool confirm(const Pattern& p, std::string_view text, Span& span) const;

  std::vector<Pattern> patterns_;
  std::vector<Group> groups_;
  std::vector<FieldDb> dbs_;
  uint64_t serial_ = 0;
};

}  // namespace tyr::rules
