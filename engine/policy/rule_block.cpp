#include "engine/policy/rule_block.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "engine/policy/entity_shape.hpp"

namespace tyr::engine::policy {

PolicyRule PolicyRuleView::to_rule() const {
  PolicyRule r;
  r.list = list;
  r.kind = kind;
  r.family = family;
  r.state_key = state_key;
  r.entity = entity;
  r.sha256 = sha256;
  r.recommendation = recommendation;
  r.recommendation_raw = recommendation_raw;
  r.reason = reason;
  r.event_id = event_id;
  return r;
}

bool same_rule(const PolicyRuleView& a, const PolicyRuleView& b) {
  return a.kind == b.kind && a.family == b.family && a.recommendation == b.recommendation &&
         a.entity == b.entity && a.sha256 == b.sha256 && a.state_key == b.state_key &&
         a.recommendation_raw == b.recommendation_raw && a.reason == b.reason && a.list == b.list;
}

bool same_rule(const PolicyRuleView& a, const PolicyRule& b) {
  return a.kind == b.kind && a.family == b.family && a.recommendation == b.recommendation &&
         a.entity == b.entity && a.sha256 == b.sha256 && a.state_key == b.state_key &&
         a.recommendation_raw == b.recommendation_raw && a.reason == b.reason && a.list == b.list;
}

PolicyRuleView PackedRule::view() const {
  return PolicyRuleView{block->list(),
                        kind,
                        family,
                        block->str(state_key_at),
                        block->bytes(entity_at, entity_length),
                        block->str(sha256_at),
                        recommendation,
                        block->str(recommendation_raw_at),
                        block->str(reason_at),
                        block->str(event_id_at)};
}

RuleBlockBuilder::RuleBlockBuilder(std::string list) : block_(std::make_shared<RuleBlock>()) {
  block_->list_ = std::move(list);
}

uint32_t RuleBlockBuilder::put(std::string_view s) {
  std::string& arena = block_->arena_;
  if (arena.size() + sizeof(uint32_t) + s.size() > UINT32_MAX) {
    throw std::length_error("policy rule block over 4 GiB");
  }
  const auto at = static_cast<uint32_t>(arena.size());
  const auto n = static_cast<uint32_t>(s.size());
  arena.append(reinterpret_cast<const char*>(&n), sizeof n);
  arena.append(s);
  return at;
}

uint32_t RuleBlockBuilder::put_raw(std::string_view s) {
  std::string& arena = block_->arena_;
  if (arena.size() + s.size() > UINT32_MAX) throw std::length_error("policy rule block over 4 GiB");
  const auto at = static_cast<uint32_t>(arena.size());
  arena.append(s);
  return at;
}

uint32_t RuleBlockBuilder::intern(std::string_view s) {
  if (interned_count_ * 2 >= interned_.size()) {
    std::vector<uint32_t> old = std::move(interned_);
    interned_.assign(std::max<size_t>(64, old.size() * 2), 0);
    const size_t mask = interned_.size() - 1;
    for (uint32_t slot : old) {
      if (slot == 0) continue;
      size_t at = std::hash<std::string_view>{}(block_->str(slot - 1)) & mask;
      while (interned_[at] != 0) at = (at + 1) & mask;
      interned_[at] = slot;
    }
  }
  const size_t mask = interned_.size() - 1;
  size_t at = std::hash<std::string_view>{}(s)&mask;
  for (; interned_[at] != 0; at = (at + 1) & mask) {
    if (block_->str(interned_[at] - 1) == s) return interned_[at] - 1;
  }
  const uint32_t offset = put(s);
  interned_[at] = offset + 1;
  ++interned_count_;
  return offset;
}

uint32_t RuleBlockBuilder::add(const PolicyRule& rule) { return add_rule(rule); }
uint32_t RuleBlockBuilder::add(const PolicyRuleView& rule) { return add_rule(rule); }

template <class Rule>
uint32_t RuleBlockBuilder::add_rule(const Rule& rule) {
  PackedRule p;
  p.block = block_.get();
  p.state_key_at = put(rule.state_key);
  const std::string_view state_key = rule.state_key;
  p.entity_at = state_key.ends_with(rule.entity)
                    ? p.state_key_at + static_cast<uint32_t>(sizeof(uint32_t) + state_key.size() -
                                                             rule.entity.size())
                    : put_raw(rule.entity);
  p.entity_length = static_cast<uint32_t>(rule.entity.size());
  p.sha256_at = rule.sha256.empty() ? intern({}) : put(rule.sha256);
  p.recommendation_raw_at = intern(rule.recommendation_raw);
  p.reason_at = intern(rule.reason);
  p.event_id_at = rule.event_id.empty() ? intern({}) : put(rule.event_id);
  p.kind = rule.kind;
  p.family = rule.family;
  p.recommendation = rule.recommendation;
  p.shape = static_cast<uint8_t>(index_detail::shape_of(rule));
  block_->rules_.push_back(p);
  return static_cast<uint32_t>(block_->rules_.size() - 1);
}

std::shared_ptr<const RuleBlock> RuleBlockBuilder::build() {
  block_->arena_.shrink_to_fit();
  block_->rules_.shrink_to_fit();
  std::shared_ptr<const RuleBlock> out = std::move(block_);
  block_ = std::make_shared<RuleBlock>();
  block_->list_ = out->list();
  interned_ = {};
  interned_count_ = 0;
  return out;
}

}  // namespace tyr::engine::policy
