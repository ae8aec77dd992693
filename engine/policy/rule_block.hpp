#pragma once
// Packed policy rules: how the index holds the rules of a list. A RuleBlock holds the rules of
// one list added together (a list load, or one batch of changes): their strings back to back in
// one arena, each prefixed with its 32-bit length, and one fixed-size PackedRule per rule that
// refers to them by 32-bit offsets. Within a block, equal reasons and recommendations are stored
// once, and an entity that ends its state key ("rule:@spam:example.org", as Mjolnir and
// Draupnir write them, or the entity itself) is read from the state key's bytes.
//
// A block is immutable once built and shared (shared_ptr) by every snapshot whose tables hold
// one of its rules; it is freed with the last of them. Readers see a rule through a
// PolicyRuleRef (one pointer) whose fields are views of the block's bytes.

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/policy/policy_rule.hpp"

namespace tyr::engine::policy {

class RuleBlock;

// A rule's fields as views of its block. Valid while the block lives (for a rule returned by
// PolicyIndexSnapshot::match, while the snapshot lives).
struct PolicyRuleView {
  const std::string& list;
  EntityKind kind;
  Family family;
  std::string_view state_key;
  std::string_view entity;
  std::string_view sha256;
  Recommendation recommendation;
  std::string_view recommendation_raw;
  std::string_view reason;
  std::string_view event_id;

  PolicyRule to_rule() const;
  // Lets PolicyRuleRef read like a pointer (`ref->reason`): operator-> chains to this.
  const PolicyRuleView* operator->() const { return this; }
};

// Same rule for matching and explaining (see same_rule in policy_list.hpp): every field but
// `event_id`.
bool same_rule(const PolicyRuleView& a, const PolicyRuleView& b);
bool same_rule(const PolicyRuleView& a, const PolicyRule& b);

// One rule of a block: 40 bytes, the strings in the block's arena.
struct PackedRule {
  const RuleBlock* block = nullptr;
  uint32_t state_key_at = 0;
  uint32_t entity_at = 0;  // raw bytes, no length prefix: often inside the state key's
  uint32_t entity_length = 0;
  uint32_t sha256_at = 0;
  uint32_t recommendation_raw_at = 0;
  uint32_t reason_at = 0;
  uint32_t event_id_at = 0;
  EntityKind kind = EntityKind::kUser;
  Family family = Family::kStable;
  Recommendation recommendation = Recommendation::kBan;
  uint8_t shape = 0;  // how the index files the rule (index_detail::Shape), set when packed

  inline std::string_view state_key() const;
  inline std::string_view entity() const;
  inline std::string_view sha256() const;
  inline const std::string& list() const;
  PolicyRuleView view() const;
};

class RuleBlock : public std::enable_shared_from_this<RuleBlock> {
 public:
  const std::string& list() const { return list_; }
  size_t size() const { return rules_.size(); }
  const PackedRule& operator[](size_t i) const { return rules_[i]; }
  const PackedRule* begin() const { return rules_.data(); }
  const PackedRule* end() const { return rules_.data() + rules_.size(); }

  // The string stored at `at` (an offset of a PackedRule of this block).
  std::string_view str(uint32_t at) const {
    uint32_t n = 0;
    std::memcpy(&n, arena_.data() + at, sizeof n);
    return {arena_.data() + at + sizeof n, n};
  }
  std::string_view bytes(uint32_t at, uint32_t n) const { return {arena_.data() + at, n}; }

 private:
  friend class RuleBlockBuilder;
  std::string list_;
  std::string arena_;
  std::vector<PackedRule> rules_;
};

std::string_view PackedRule::state_key() const { return block->str(state_key_at); }
std::string_view PackedRule::entity() const { return block->bytes(entity_at, entity_length); }
std::string_view PackedRule::sha256() const { return block->str(sha256_at); }
const std::string& PackedRule::list() const { return block->list(); }

// Packs rules of one list into a block. Rules are numbered in the order added.
class RuleBlockBuilder {
 public:
  explicit RuleBlockBuilder(std::string list);

  // The rule's `list` is ignored: every rule of the block belongs to the builder's list.
  uint32_t add(const PolicyRule& rule);
  uint32_t add(const PolicyRuleView& rule);
  size_t size() const { return block_->rules_.size(); }
  // Valid until the next add().
  const PackedRule& operator[](size_t i) const { return block_->rules_[i]; }
  const RuleBlock& block() const { return *block_; }

  // The built block; the builder is left empty. Its spare capacity is given back.
  std::shared_ptr<const RuleBlock> build();

 private:
  template <class Rule>
  uint32_t add_rule(const Rule& rule);
  uint32_t put(std::string_view s);
  uint32_t put_raw(std::string_view s);
  uint32_t intern(std::string_view s);  // equal strings stored once

  std::shared_ptr<RuleBlock> block_;
  // Open addressing over arena offsets (+1; 0 is empty) of interned strings.
  std::vector<uint32_t> interned_;
  size_t interned_count_ = 0;
};

// A handle on a packed rule that reads like `const PolicyRule*`: `ref->reason`, `*ref`.
class PolicyRuleRef {
 public:
  PolicyRuleRef() = default;
  explicit PolicyRuleRef(const PackedRule* rule) : rule_(rule) {}

  PolicyRuleView operator*() const { return rule_->view(); }
  PolicyRuleView operator->() const { return rule_->view(); }
  const PackedRule* get() const { return rule_; }
  explicit operator bool() const { return rule_ != nullptr; }
  friend bool operator==(PolicyRuleRef a, PolicyRuleRef b) { return a.rule_ == b.rule_; }

 private:
  const PackedRule* rule_ = nullptr;
};

}  // namespace tyr::engine::policy
