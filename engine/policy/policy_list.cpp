#include "engine/policy/policy_list.hpp"

namespace tyr::engine::policy {

bool same_rule(const PolicyRule& a, const PolicyRule& b) {
  return a.kind == b.kind && a.family == b.family && a.recommendation == b.recommendation &&
         a.entity == b.entity && a.sha256 == b.sha256 && a.state_key == b.state_key &&
         a.recommendation_raw == b.recommendation_raw && a.reason == b.reason && a.list == b.list;
}

const PolicyRule* PolicyList::Slots::effective() const {
  for (const auto& slot : by_family) {
    if (slot) return &*slot;
  }
  return nullptr;
}

ListDiff PolicyList::apply(const PolicyEvent& event) {
  settle();
  auto& keys = keys_[static_cast<size_t>(event.kind)];
  auto it = keys.find(event.state_key);
  if (it == keys.end()) {
    if (!event.rule) return {};  // removing what was never there
    it = keys.emplace(event.state_key, Slots{}).first;
  }
  Slots& slots = it->second;
  const PolicyRule* before_ptr = slots.effective();
  std::optional<PolicyRule> before;
  if (before_ptr) before = *before_ptr;

  auto& slot = slots.by_family[static_cast<size_t>(event.family)];
  if (event.rule) {
    PolicyRule rule = *event.rule;
    // The slot is authoritative for where the rule lives, whatever the caller filled in.
    rule.kind = event.kind;
    rule.family = event.family;
    rule.state_key = event.state_key;
    rule.list = id_;
    if (!slot || !same_rule(*slot, rule)) slot = std::make_unique<PolicyRule>(std::move(rule));
  } else {
    slot.reset();
  }

  const PolicyRule* after_ptr = slots.effective();
  auto& count = counts_[static_cast<size_t>(event.kind)];
  if (before) {
    --count;
    if (before->recommendation == Recommendation::kUnknown) --unknown_;
  }
  if (after_ptr) {
    ++count;
    if (after_ptr->recommendation == Recommendation::kUnknown) ++unknown_;
  }

  ListDiff diff;
  if (before && after_ptr && same_rule(*before, *after_ptr)) {
    // Nothing changed for matching; the slot kept the first event's ID.
  } else {
    diff.removed = std::move(before);
    if (after_ptr) diff.added = *after_ptr;
  }
  if (!after_ptr) keys.erase(it);
  return diff;
}

void PolicyList::load(PolicyEvent&& event) {
  if (!pending_ && !keys_empty()) {
    load_keyed(std::move(event));
    return;
  }
  if (!pending_) pending_ = std::make_unique<RuleBlockBuilder>(id_);
  pending_removal_.push_back(!event.rule);
  if (event.rule) {
    event.rule->kind = event.kind;
    event.rule->family = event.family;
    event.rule->state_key = std::move(event.state_key);
    pending_->add(*event.rule);
  } else {
    PolicyRule key;
    key.kind = event.kind;
    key.family = event.family;
    key.state_key = std::move(event.state_key);
    pending_->add(key);
  }
}

void PolicyList::settle_pending() const {
  const std::shared_ptr<const RuleBlock> log = pending_->build();
  pending_.reset();
  std::vector<bool> removal = std::move(pending_removal_);
  pending_removal_ = {};
  for (size_t i = 0; i < log->size(); ++i) {
    const PolicyRuleView v = (*log)[i].view();
    PolicyEvent event{v.kind, v.family, std::string(v.state_key), std::nullopt, {}};
    if (!removal[i]) event.rule = v.to_rule();
    load_keyed(std::move(event));
  }
}

void PolicyList::load_keyed(PolicyEvent&& event) const {
  auto& keys = keys_[static_cast<size_t>(event.kind)];
  auto it = keys.find(event.state_key);
  if (it == keys.end()) {
    if (!event.rule) return;
    it = keys.emplace(event.state_key, Slots{}).first;
  }
  Slots& slots = it->second;
  const PolicyRule* before = slots.effective();
  auto& count = counts_[static_cast<size_t>(event.kind)];
  if (before) {
    --count;
    if (before->recommendation == Recommendation::kUnknown) --unknown_;
  }
  auto& slot = slots.by_family[static_cast<size_t>(event.family)];
  if (event.rule) {
    PolicyRule& rule = *event.rule;
    rule.kind = event.kind;
    rule.family = event.family;
    rule.list = id_;
    if (rule.state_key != event.state_key) rule.state_key = std::move(event.state_key);
    if (!slot || !same_rule(*slot, rule)) slot = std::make_unique<PolicyRule>(std::move(rule));
  } else {
    slot.reset();
  }
  const PolicyRule* after = slots.effective();
  if (after) {
    ++count;
    if (after->recommendation == Recommendation::kUnknown) ++unknown_;
  } else {
    keys.erase(it);
  }
}

const PolicyRule* PolicyList::find(EntityKind kind, std::string_view state_key) const {
  settle();
  const auto& keys = keys_[static_cast<size_t>(kind)];
  auto it = keys.find(state_key);
  return it == keys.end() ? nullptr : it->second.effective();
}

std::vector<PolicyRule> PolicyList::effective_rules() const {
  settle();
  std::vector<PolicyRule> out;
  out.reserve(size());
  for (const auto& keys : keys_) {
    for (const auto& [state_key, slots] : keys) {
      if (const PolicyRule* rule = slots.effective()) out.push_back(*rule);
    }
  }
  return out;
}

}  // namespace tyr::engine::policy

namespace tyr::engine::policy {

std::vector<PolicyRule> PolicyList::take_effective_rules() {
  settle();
  std::vector<PolicyRule> out;
  out.reserve(size());
  for (auto& keys : keys_) {
    for (auto& [state_key, slots] : keys) {
      for (auto& slot : slots.by_family) {
        if (slot) {
          out.push_back(std::move(*slot));
          break;
        }
      }
    }
    keys.clear();
  }
  counts_ = {};
  unknown_ = 0;
  return out;
}

}  // namespace tyr::engine::policy

namespace tyr::engine::policy {

std::shared_ptr<const RuleBlock> PolicyList::take_effective_block(const std::string& list_id) {
  RuleBlockBuilder out(list_id);
  if (!pending_ || !keys_empty()) {
    for (const PolicyRule& rule : take_effective_rules()) out.add(rule);  // in key order
    return out.build();
  }
  const std::shared_ptr<const RuleBlock> log = pending_->build();
  pending_.reset();
  const std::vector<bool> removal = std::move(pending_removal_);
  pending_removal_ = {};
  const RuleBlock& rules = *log;

  // Events by (kind, state_key, family), each key's in arrival order; then each family's slot
  // replayed as load() would have left it, and the first family with a rule taken.
  std::vector<uint32_t> order(rules.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const PackedRule& x = rules[a];
    const PackedRule& y = rules[b];
    if (x.kind != y.kind) return x.kind < y.kind;
    if (const int c = x.state_key().compare(y.state_key()); c != 0) return c < 0;
    return x.family < y.family;
  });
  for (size_t i = 0; i < order.size();) {
    const PackedRule& first = rules[order[i]];
    const PackedRule* effective = nullptr;
    while (i < order.size() && rules[order[i]].kind == first.kind &&
           rules[order[i]].state_key() == first.state_key()) {
      const Family family = rules[order[i]].family;
      const PackedRule* slot = nullptr;
      for (; i < order.size() && rules[order[i]].kind == first.kind &&
             rules[order[i]].family == family && rules[order[i]].state_key() == first.state_key();
           ++i) {
        const PackedRule& event = rules[order[i]];
        if (removal[order[i]]) {
          slot = nullptr;
        } else if (slot == nullptr || !same_rule(slot->view(), event.view())) {
          slot = &event;  // an identical re-send keeps the first event's ID
        }
      }
      if (effective == nullptr) effective = slot;
    }
    if (effective != nullptr) out.add(effective->view());
  }
  return out.build();
}

}  // namespace tyr::engine::policy
