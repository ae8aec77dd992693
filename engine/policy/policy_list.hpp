#pragma once
// The rules of ONE policy list (a policy room or a feed), as its state events leave them.
//
// A rule lives under (kind, state_key) and may be written in three families of event types
// (m.policy.rule.*, m.room.rule.*, org.matrix.mjolnir.rule.*). Each key keeps one slot per
// family; the EFFECTIVE rule of a key is the one in the highest-precedence family present, so
// an old Mjolnir rule under the same key is shadowed while a stable one exists and comes back
// when the stable one is removed. Only changes of effective rules leave this class, as diffs
// that the PolicyIndex applies.

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/digest.hpp"
#include "engine/policy/policy_rule.hpp"
#include "engine/policy/rule_block.hpp"

namespace tyr::engine::policy {

// The change of the effective rule under one key. A modification is `removed` old + `added`
// new; a rule that appears has only `added`, one that goes away only `removed`.
struct ListDiff {
  std::optional<PolicyRule> removed;
  std::optional<PolicyRule> added;

  bool empty() const { return !removed && !added; }
};

// Same rule for matching and explaining: every field but `event_id`. A re-sent identical rule
// is no change, and keeps the event ID of the event that first set that content.
bool same_rule(const PolicyRule& a, const PolicyRule& b);

class PolicyList {
 public:
  explicit PolicyList(std::string id) : id_(std::move(id)) {}

  const std::string& id() const { return id_; }

  // Applies one parsed state event of this list. Returns the change of the effective rule
  // under (event.kind, event.state_key): empty when the event changes nothing that matters
  // (an identical re-send, or a write to a family shadowed by a higher-precedence one).
  ListDiff apply(const PolicyEvent& event);
  // As apply(), for a bulk load that needs no diff. Into a list that holds no rule, events are
  // packed in arrival order (no node per key) and sorted out only when the list is read: by
  // take_effective_block() directly, by anything else into the keys, as apply() would have.
  void load(PolicyEvent&& event);

  // The effective rule under a key, or nullptr.
  const PolicyRule* find(EntityKind kind, std::string_view state_key) const;

  // Every effective rule, ordered by kind then state_key (unknown recommendations included).
  std::vector<PolicyRule> effective_rules() const;
  // The same, moved out; the list is left empty.
  std::vector<PolicyRule> take_effective_rules();
  // The same, packed for PolicyIndex::replace_list as rules of `list_id` (room IDs are often
  // known only once the list has been read); the list is left empty.
  std::shared_ptr<const RuleBlock> take_effective_block(const std::string& list_id);

  size_t size() const {
    settle();
    return counts_[0] + counts_[1] + counts_[2];
  }
  size_t count(EntityKind kind) const {
    settle();
    return counts_[static_cast<size_t>(kind)];
  }
  // Effective rules whose recommendation Tyr does not act on (kept so they shadow, counted).
  size_t unknown_count() const {
    settle();
    return unknown_;
  }

 private:
  struct Slots {
    // Indexed by Family. Most keys have one family: a pointer per slot, not a rule per slot.
    std::array<std::unique_ptr<PolicyRule>, 3> by_family;
    const PolicyRule* effective() const;
  };

  // Loads the packed events, if any, into the keys.
  void settle() const {
    if (pending_) settle_pending();
  }
  void settle_pending() const;
  void load_keyed(PolicyEvent&& event) const;
  bool keys_empty() const { return keys_[0].empty() && keys_[1].empty() && keys_[2].empty(); }

  std::string id_;
  // One map per EntityKind; std::less<> so lookups by string_view build no string. Mutable,
  // with the counts, for settle().
  mutable std::array<std::map<std::string, Slots, std::less<>>, kEntityKinds> keys_;
  mutable std::array<size_t, kEntityKinds> counts_{};
  mutable size_t unknown_ = 0;
  // Events of a bulk load not yet in keys_: one packed rule each (a removal as a rule with its
  // key), and whether it removes.
  mutable std::unique_ptr<RuleBlockBuilder> pending_;
  mutable std::vector<bool> pending_removal_;
};

}  // namespace tyr::engine::policy
