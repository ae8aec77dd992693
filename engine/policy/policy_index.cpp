#include "engine/policy/policy_index.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
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
#include "engine/core/glob.hpp"
#include "engine/core/ids.hpp"
#include "engine/policy/glob_table.hpp"
#include "engine/policy/index_tables.hpp"
#include "engine/policy/rule_keys.hpp"

namespace tyr::engine::policy {

using namespace index_detail;

// ---------------------------------------------------------------------------------------------
// Snapshot

struct PolicyIndexSnapshot::State {
  std::array<KindView, kEntityKinds> kinds;
};

PolicyIndexSnapshot::PolicyIndexSnapshot(std::unique_ptr<const State> state, PolicyIndexStats stats)
    : state_(std::move(state)), stats_(stats) {}

PolicyIndexSnapshot::~PolicyIndexSnapshot() = default;

void PolicyIndexSnapshot::match(EntityKind kind, std::string_view entity,
                                std::vector<PolicyRuleRef>& out) const {
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
                                     std::vector<PolicyRuleRef>& out) const {
  const std::string_view server = server_of(user_id);
  match(EntityKind::kUser, user_id, out);
  if (!server.empty()) match(EntityKind::kServer, server, out);
}

// ---------------------------------------------------------------------------------------------
// Index (writer side)

namespace {

// The rules of `block`, one per (kind, state_key): the highest-precedence family, the first
// of equals.
RuleKeys effective_keys(const RuleBlock& block) {
  RuleKeys keys;
  keys.reserve(block.size());
  for (const PackedRule& rule : block) {
    const PackedRule* held = keys.find(rule.kind, rule.state_key());
    if (held == nullptr || rule.family < held->family) keys.put(&rule);
  }
  return keys;
}

// Rules packed in (kind, state_key) order, so that a fresh block's order is its keys' order.
std::shared_ptr<const RuleBlock> pack(const std::string& list,
                                      const std::vector<PolicyRule>& rules) {
  std::vector<const PolicyRule*> order;
  order.reserve(rules.size());
  for (const PolicyRule& rule : rules) order.push_back(&rule);
  const auto by_key = [](const PolicyRule* a, const PolicyRule* b) {
    return a->kind != b->kind ? a->kind < b->kind : a->state_key < b->state_key;
  };
  if (!std::is_sorted(order.begin(), order.end(), by_key)) {
    std::stable_sort(order.begin(), order.end(), by_key);
  }
  RuleBlockBuilder builder(list);
  for (const PolicyRule* rule : order) builder.add(*rule);
  return builder.build();
}

}  // namespace

struct PolicyIndex::Impl {
  explicit Impl(PolicyIndexOptions o) : options(o) {}

  // One sort of table of one kind, writer's bookkeeping.
  struct Part {
    std::unordered_set<const PackedRule*> delta;  // added since the table was built
    DeadSet dead;                                 // removed since it was built
    size_t built_size = 0;
    bool delta_changed = false;
    bool dead_changed = false;
  };

  // One step of a batch, applied in order.
  struct Op {
    bool add;
    const PackedRule* rule;
  };

  // A block and how many of its rules the lists hold.
  struct BlockUse {
    std::shared_ptr<const RuleBlock> block;
    size_t held = 0;
  };

  PolicyIndexOptions options;
  std::mutex write_mutex;
  // Held only to copy or swap the pointer. (libstdc++ 12's atomic<shared_ptr> unlocks with
  // relaxed order after a load, which ThreadSanitizer rightly reports as a race.)
  mutable std::mutex current_mutex;
  std::shared_ptr<const PolicyIndexSnapshot> current;

  // Guarded by write_mutex.
  std::unordered_map<std::string, RuleKeys> lists;
  std::unordered_map<const RuleBlock*, BlockUse> blocks;
  Blocks released;  // blocks whose last held rule left in this batch, kept until it is done
  std::array<std::array<Part, kSorts>, kEntityKinds> parts;
  std::array<KindView, kEntityKinds> view;
  PolicyIndexStats stats;

  void hold(const PackedRule* rule) {
    BlockUse& use = blocks[rule->block];
    if (!use.block) use.block = rule->block->shared_from_this();
    ++use.held;
  }

  void release(const PackedRule* rule) {
    auto it = blocks.find(rule->block);
    if (--it->second.held == 0) {
      released.push_back(std::move(it->second.block));
      blocks.erase(it);
    }
  }

  // Updates `lists` for one diff (its added rule already packed) and appends the table
  // operations it implies.
  void collect(const PolicyRule* removed, const PackedRule* added, std::vector<Op>& ops) {
    if (removed != nullptr) {
      if (auto list = lists.find(removed->list); list != lists.end()) {
        if (const PackedRule* old = list->second.erase(removed->kind, removed->state_key)) {
          ops.push_back({false, old});
          release(old);
          if (list->second.empty()) lists.erase(list);
        }
      }
    }
    if (added != nullptr) {
      if (const PackedRule* old = lists[added->list()].put(added)) {
        ops.push_back({false, old});
        release(old);
      }
      hold(added);
      ops.push_back({true, added});
    }
  }

  size_t limit(size_t sort) const {
    return sort == kGlobs ? options.max_delta_globs : options.max_delta_entries;
  }

  void count(const PackedRule& rule, int sign) {
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
        part.delta.insert(op.rule);
        part.delta_changed = true;
      } else if (part.delta.erase(op.rule) != 0) {
        part.delta_changed = true;
      } else {
        part.dead.insert(op.rule);  // it is in the built table
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
    grouped.reset();
    publish();
    released.clear();
  }

  // Live rules by kind and sort, gathered in one pass for all the rebuilds of one batch (a
  // bulk load rebuilds every table) and dropped when the batch is done. Each table is rebuilt
  // at most once per batch, so each vector is taken at most once. Each vector is in memory
  // order: a fresh block's rules are in key order, so its tables list equal keys' rules so.
  using Grouped = std::array<std::array<Rules, kSorts>, kEntityKinds>;
  std::optional<Grouped> grouped;

  Rules live_rules(size_t kind, size_t sort) {
    if (!grouped) {
      grouped.emplace();
      for (const auto& [name, rules] : lists) {
        rules.for_each([&](const PackedRule* rule) {
          if (const auto s = sort_of(shape_of(*rule))) {
            (*grouped)[kind_index(rule->kind)][*s].push_back(rule);
          }
        });
      }
      for (auto& by_sort : *grouped) {
        for (Rules& rules : by_sort) std::sort(rules.begin(), rules.end(), std::less<>{});
      }
    }
    return std::move((*grouped)[kind][sort]);
  }

  template <class Table>
  static std::shared_ptr<const Table> make_table(Rules rules) {
    if (rules.empty()) return nullptr;
    return std::make_shared<const Table>(std::move(rules));
  }

  void rebuild(size_t k, size_t s) {
    Part& part = parts[k][s];
    Rules rules = live_rules(k, s);
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
        v.globs = rules.empty() ? nullptr : std::make_shared<const GlobTable>(rules, true);
        v.delta_globs = nullptr;
        break;
    }
    ++stats.rebuilds;
  }

  void publish_delta(size_t k, size_t s) {
    Rules rules(parts[k][s].delta.begin(), parts[k][s].delta.end());
    std::sort(rules.begin(), rules.end(), std::less<>{});
    KindView& v = view[k];
    switch (s) {
      case kLiterals: v.delta_literals = make_table<LiteralTable>(std::move(rules)); break;
      case kHashes: v.delta_hashes = make_table<HashTable>(std::move(rules)); break;
      default:
        v.delta_globs = rules.empty() ? nullptr : std::make_shared<const GlobTable>(rules, false);
        break;
    }
  }

  void publish_dead(size_t k) {
    DeadSet all;
    for (const Part& part : parts[k]) all.insert(part.dead.begin(), part.dead.end());
    view[k].dead = all.empty() ? nullptr : std::make_shared<const DeadSet>(std::move(all));
  }

  void publish() {
    stats.delta = stats.tombstones = stats.hyperscan_factors = stats.anchored_globs = 0;
    for (size_t k = 0; k < kEntityKinds; ++k) {
      for (const Part& part : parts[k]) {
        stats.delta += part.delta.size();
        stats.tombstones += part.dead.size();
      }
      if (view[k].globs) {
        stats.hyperscan_factors += view[k].globs->factor_count();
        stats.anchored_globs += view[k].globs->anchored_count();
      }
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

  void apply(const std::vector<const ListDiff*>& diffs) {
    // The added rules packed first, one block per list, so that their addresses are final.
    std::unordered_map<std::string, RuleBlockBuilder> builders;
    std::vector<std::pair<RuleBlockBuilder*, uint32_t>> packed(diffs.size(), {nullptr, 0});
    for (size_t i = 0; i < diffs.size(); ++i) {
      if (!diffs[i]->added) continue;
      const std::string& list = diffs[i]->added->list;
      RuleBlockBuilder& builder = builders.try_emplace(list, list).first->second;
      packed[i] = {&builder, builder.add(*diffs[i]->added)};
    }
    std::unordered_map<const RuleBlockBuilder*, std::shared_ptr<const RuleBlock>> built;
    for (auto& [list, builder] : builders) built.emplace(&builder, builder.build());
    std::vector<Op> ops;
    for (size_t i = 0; i < diffs.size(); ++i) {
      const PolicyRule* removed = diffs[i]->removed ? &*diffs[i]->removed : nullptr;
      const PackedRule* added =
          packed[i].first != nullptr ? &(*built.at(packed[i].first))[packed[i].second] : nullptr;
      collect(removed, added, ops);
    }
    if (!ops.empty()) run(ops);
  }
};

PolicyIndex::PolicyIndex(PolicyIndexOptions options) : impl_(std::make_unique<Impl>(options)) {
  std::lock_guard lock(impl_->write_mutex);
  impl_->publish();
}

PolicyIndex::~PolicyIndex() = default;

std::shared_ptr<const PolicyIndexSnapshot> PolicyIndex::snapshot() const { return impl_->load(); }

void PolicyIndex::match(EntityKind kind, std::string_view entity,
                        std::vector<PolicyRuleRef>& out) const {
  snapshot()->match(kind, entity, out);
}

void PolicyIndex::match_user(std::string_view user_id, std::vector<PolicyRuleRef>& out) const {
  snapshot()->match_user(user_id, out);
}

PolicyIndexStats PolicyIndex::stats() const { return snapshot()->stats(); }

void PolicyIndex::apply(const ListDiff& diff) {
  std::lock_guard lock(impl_->write_mutex);
  impl_->apply({&diff});
}

void PolicyIndex::apply(const std::vector<ListDiff>& diffs) {
  std::lock_guard lock(impl_->write_mutex);
  std::vector<const ListDiff*> ptrs;
  ptrs.reserve(diffs.size());
  for (const ListDiff& diff : diffs) ptrs.push_back(&diff);
  impl_->apply(ptrs);
}

void PolicyIndex::replace_list(const std::string& list, const std::vector<PolicyRule>& rules) {
  replace_list(list, pack(list, rules));
}

void PolicyIndex::replace_list(const std::string& list, std::shared_ptr<const RuleBlock> block) {
  if (block->list() != list) {  // views of a rule name the block's list
    std::vector<PolicyRule> rules;
    rules.reserve(block->size());
    for (const PackedRule& rule : *block) rules.push_back(rule.view().to_rule());
    block = pack(list, rules);
  }
  std::lock_guard lock(impl_->write_mutex);
  const RuleKeys incoming = effective_keys(*block);

  std::vector<Impl::Op> ops;
  RuleKeys& held = impl_->lists[list];
  std::vector<const PackedRule*> gone;
  held.for_each([&](const PackedRule* rule) {
    const PackedRule* next = incoming.find(rule->kind, rule->state_key());
    if (next == nullptr || !same_rule(rule->view(), next->view())) gone.push_back(rule);
  });
  for (const PackedRule* rule : gone) {
    held.erase(rule->kind, rule->state_key());
    ops.push_back({false, rule});
    impl_->release(rule);
  }
  // In block order (not the key table's), so that the adds come in the block's key order.
  for (const PackedRule& rule : *block) {
    if (incoming.find(rule.kind, rule.state_key()) != &rule) continue;  // shadowed
    if (held.find(rule.kind, rule.state_key()) != nullptr) continue;    // unchanged
    held.put(&rule);
    impl_->hold(&rule);
    ops.push_back({true, &rule});
  }
  if (held.empty()) impl_->lists.erase(list);
  if (!ops.empty()) impl_->run(ops);
}

void PolicyIndex::remove_list(const std::string& list) {
  std::lock_guard lock(impl_->write_mutex);
  auto it = impl_->lists.find(list);
  if (it == impl_->lists.end()) return;
  std::vector<Impl::Op> ops;
  it->second.for_each([&](const PackedRule* rule) { ops.push_back({false, rule}); });
  impl_->lists.erase(it);
  for (const Impl::Op& op : ops) impl_->release(op.rule);
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
  impl_->grouped.reset();
  if (changed) impl_->publish();
}

}  // namespace tyr::engine::policy
