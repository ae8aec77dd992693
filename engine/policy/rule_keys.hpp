#pragma once
// The rules of one list by (kind, state_key): an open-addressing table of rule pointers (8 bytes
// a slot, at most 80 % full) whose keys are the rules' own bytes, instead of a node per rule.
// Linear probing with backward-shift deletion, so no tombstones accumulate. Only writers look
// keys up (list updates), so a fuller table's longer probes cost little and save memory.

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "engine/policy/rule_block.hpp"

namespace tyr::engine::policy {

class RuleKeys {
 public:
  size_t size() const { return size_; }
  void reserve(size_t n) {
    size_t capacity = 16;
    while (capacity * 4 < n * 5) capacity *= 2;
    if (capacity > slots_.size()) rehash(capacity);
  }
  bool empty() const { return size_ == 0; }

  const PackedRule* find(EntityKind kind, std::string_view state_key) const {
    if (slots_.empty()) return nullptr;
    for (size_t at = hash(kind, state_key) & mask(); slots_[at] != nullptr;
         at = (at + 1) & mask()) {
      if (slots_[at]->kind == kind && slots_[at]->state_key() == state_key) return slots_[at];
    }
    return nullptr;
  }

  // Inserts `rule`, or replaces the rule under its key; returns the replaced rule or nullptr.
  const PackedRule* put(const PackedRule* rule) {
    if ((size_ + 1) * 5 > slots_.size() * 4) grow();
    const std::string_view key = rule->state_key();
    size_t at = hash(rule->kind, key) & mask();
    for (; slots_[at] != nullptr; at = (at + 1) & mask()) {
      if (slots_[at]->kind == rule->kind && slots_[at]->state_key() == key) {
        const PackedRule* old = slots_[at];
        slots_[at] = rule;
        return old;
      }
    }
    slots_[at] = rule;
    ++size_;
    return nullptr;
  }

  // Removes the rule under (kind, state_key); returns it, or nullptr when there is none.
  const PackedRule* erase(EntityKind kind, std::string_view state_key) {
    if (slots_.empty()) return nullptr;
    size_t at = hash(kind, state_key) & mask();
    for (; slots_[at] != nullptr; at = (at + 1) & mask()) {
      if (slots_[at]->kind == kind && slots_[at]->state_key() == state_key) break;
    }
    const PackedRule* found = slots_[at];
    if (found == nullptr) return nullptr;
    // Backward shift: move up each following entry whose home slot is not in (hole, j].
    size_t hole = at;
    for (size_t j = (at + 1) & mask(); slots_[j] != nullptr; j = (j + 1) & mask()) {
      const size_t home = hash(slots_[j]->kind, slots_[j]->state_key()) & mask();
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole] = nullptr;
    --size_;
    return found;
  }

  template <class F>
  void for_each(F&& f) const {
    for (const PackedRule* rule : slots_) {
      if (rule != nullptr) f(rule);
    }
  }

 private:
  static size_t hash(EntityKind kind, std::string_view key) {
    return std::hash<std::string_view>{}(key) ^ (static_cast<size_t>(kind) * 0x9E3779B97F4A7C15ULL);
  }
  size_t mask() const { return slots_.size() - 1; }

  void grow() { rehash(slots_.empty() ? 16 : slots_.size() * 2); }

  void rehash(size_t capacity) {
    std::vector<const PackedRule*> old = std::move(slots_);
    slots_.assign(capacity, nullptr);
    for (const PackedRule* rule : old) {
      if (rule == nullptr) continue;
      size_t at = hash(rule->kind, rule->state_key()) & mask();
      while (slots_[at] != nullptr) at = (at + 1) & mask();
      slots_[at] = rule;
    }
  }

  std::vector<const PackedRule*> slots_;
  size_t size_ = 0;
};

}  // namespace tyr::engine::policy
