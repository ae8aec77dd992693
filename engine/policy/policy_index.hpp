#pragma once
// PolicyIndex: matches users, rooms and servers against the effective rules of ALL subscribed
// policy lists, with the reference glob semantics of glob.hpp (Synapse server ACLs).
//
// Shape of the index (per entity kind, one immutable table of each sort):
//   - literal entities: a hash map whose hash and equality fold ASCII case, keyed by views of
//     the rules' own entities, so an ASCII lookup builds no string;
//   - MSC4205 hashed entities: a map keyed by the raw 32-byte digest; a lookup hashes the exact
//     entity (servers: port stripped) once, and only if the kind has hashed rules;
//   - globs: ONE Hyperscan block-mode database of literal factors, one factor per glob (chosen
//     where the globs of the list differ most, so a factor hit names a handful of candidates),
//     each candidate confirmed by an exact matcher. Measured before choosing this: anchored
//     whole-glob regexes (`^…\z`, with or without DOTALL) compiled at ~1 ms per pattern and
//     superlinearly (2,500 globs: 1-3 s; 25,000: 20-50 s) and scanned at 2-50 µs when the globs
//     share a suffix ("*.bad-N.example"); literal factors compile 25,000 in 0.7 s and scan in
//     0.1-0.5 µs. Globs without any literal character ("*", "???") are checked on every lookup
//     (deduplicated, so there are at most a few).
//
// Exact Unicode semantics without a case-folding table: an entity is reduced to one byte per
// code point -- ASCII as is, U+212A KELVIN SIGN -> 'k', U+017F LONG S -> 's' (the only non-ASCII
// code points whose simple case folding reaches ASCII), any other code point -> 0x80, which
// only a wildcard can match. Patterns get the same reduction; a pattern that stays ASCII is
// matched by ASCII-caseless comparison of the reduced input (literal map, Hyperscan factors,
// exact matcher), which equals RE2's Unicode-caseless match of the original. Patterns with
// other non-ASCII characters go to an RE2::Set that runs only for inputs with such characters.
// Input that RE2 cannot read as UTF-8 matches no glob or literal (as in glob_matches), only
// hashed rules. `.` never matches '\n': the exact matcher treats a newline as a barrier.
//
// Updates and concurrency: readers copy a shared_ptr<const PolicyIndexSnapshot> (under a mutex
// held only for that copy or the writer's pointer swap, never during a build) and match on it;
// writers (serialised by another mutex) build the next snapshot and publish it.
// A snapshot shares the big built tables with its predecessor and adds, per kind and sort,
//   - a small DELTA table of rules added since that table was built (globs in it are matched
//     one by one after prefix/suffix/length rejection, no Hyperscan), and
//   - TOMBSTONES: rules removed from a built table, filtered out of its results.
// A table is rebuilt (and its delta and tombstones dropped) when its delta exceeds the limit
// below or its tombstones exceed max(limit, built size / 4). An added glob or a removal thus
// costs microseconds; the rare rebuild costs one Hyperscan compile of that kind's factors,
// done by the writer while readers keep matching the previous snapshot.
//
// Rules with an unknown recommendation are held and counted but never matched.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/policy/policy_list.hpp"
#include "engine/policy/policy_rule.hpp"
#include "engine/policy/rule_block.hpp"

namespace tyr::engine::policy {

struct PolicyIndexOptions {
  // Recently added globs of one kind matched one by one before that kind's glob table (and
  // its Hyperscan database) is rebuilt.
  size_t max_delta_globs = 256;
  // Recently added literal or hashed entities of one kind before their table is rebuilt.
  size_t max_delta_entries = 1024;
};

struct PolicyIndexStats {
  std::array<size_t, kEntityKinds> rules{};  // rules held per kind, unknown ones included
  size_t literals = 0;                       // matchable rules with a literal ASCII entity
  size_t globs = 0;              // ... with a glob, or any entity with non-ASCII characters
  size_t hashes = 0;             // ... with an MSC4205 sha256 instead of an entity
  size_t unknown = 0;            // unknown recommendation: held, never matched
  size_t unmatchable = 0;        // can never match (e.g. an entity that is not UTF-8)
  size_t delta = 0;              // rules added since their table was built
  size_t tombstones = 0;         // removed rules still inside a built table
  size_t hyperscan_factors = 0;  // literal factors in the Hyperscan databases
  size_t anchored_globs = 0;     // built globs found by a hash of their literal prefix or suffix
  uint64_t rebuilds = 0;         // tables built since construction
  uint64_t version = 0;          // incremented by every published change
};

// An immutable state of the index. Rules it returns stay valid while it lives.
class PolicyIndexSnapshot {
 public:
  struct State;  // defined in policy_index.cpp
  PolicyIndexSnapshot(std::unique_ptr<const State> state, PolicyIndexStats stats);
  ~PolicyIndexSnapshot();
  PolicyIndexSnapshot(const PolicyIndexSnapshot&) = delete;
  PolicyIndexSnapshot& operator=(const PolicyIndexSnapshot&) = delete;

  // Appends every rule of `kind` (across lists) that matches `entity`; each rule at most once.
  // Server names are compared with their port stripped.
  void match(EntityKind kind, std::string_view entity, std::vector<PolicyRuleRef>& out) const;
  // User rules on the full user ID, then server rules on its server name (port stripped).
  void match_user(std::string_view user_id, std::vector<PolicyRuleRef>& out) const;

  const PolicyIndexStats& stats() const { return stats_; }

 private:
  std::unique_ptr<const State> state_;
  PolicyIndexStats stats_;
};

class PolicyIndex {
 public:
  explicit PolicyIndex(PolicyIndexOptions options = {});
  ~PolicyIndex();
  PolicyIndex(const PolicyIndex&) = delete;
  PolicyIndex& operator=(const PolicyIndex&) = delete;

  // --- Readers: any thread; a writer delays them at most by a pointer swap. ---

  // Hold the snapshot while using the rules it returns.
  std::shared_ptr<const PolicyIndexSnapshot> snapshot() const;

  // Shorthands for snapshot()->match…(). The rules are only guaranteed until the next write
  // to this index: with a concurrent writer, take snapshot() instead.
  void match(EntityKind kind, std::string_view entity, std::vector<PolicyRuleRef>& out) const;
  void match_user(std::string_view user_id, std::vector<PolicyRuleRef>& out) const;
  PolicyIndexStats stats() const;

  // --- Writers: serialised internally; each call publishes one new snapshot. ---

  // Applies the change of one effective rule (from PolicyList::apply). The rule to remove is
  // found by (removed.list, kind, state_key); an `added` rule replaces any rule under its key.
  void apply(const ListDiff& diff);
  void apply(const std::vector<ListDiff>& diffs);  // one snapshot for the whole batch
  // Makes `list` hold exactly `rules` (its effective rules; each rule's `list` is taken to be
  // `list`). Unchanged rules are kept as they are, so reloading a list costs little; new ones
  // are packed into one block.
  void replace_list(const std::string& list, const std::vector<PolicyRule>& rules);
  // The same with the rules already packed (PolicyList::take_effective_block). Should a key
  // have several rules, the highest-precedence family wins, then the first.
  void replace_list(const std::string& list, std::shared_ptr<const RuleBlock> block);
  void remove_list(const std::string& list);
  // Rebuilds every table that has a delta or tombstones.
  void compact();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tyr::engine::policy
