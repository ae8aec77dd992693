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
#include "engine/core/glob.hpp"
#include "engine/core/ids.hpp"
#include "engine/policy/glob_table.hpp"
#include "engine/policy/index_tables.hpp"

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

  // The state key is a view of the held rule's own (a map's key and value never part).
  using Key = std::pair<EntityKind, std::string_view>;
  using ListRules = std::map<Key, RulePtr>;

  // One sort of table of one kind, writer's bookkeeping.
  struct Part {
    std::unordered_map<const PolicyRule*, RulePtr> delta;  // added since the table was built
    DeadSet dead;                                          // removed since it was built
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
      ListRules& held = lists[rule->list];
      if (auto it = held.find({rule->kind, rule->state_key}); it != held.end()) {
        ops.push_back({false, std::move(it->second)});
        held.erase(it);  // its key views the rule just replaced
      }
      held.emplace(Key{rule->kind, rule->state_key}, rule);
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
    grouped.reset();
    publish();
  }

  // Live rules by kind and sort, gathered in one pass for all the rebuilds of one batch (a
  // bulk load rebuilds every table) and dropped when the batch is done. Each table is rebuilt
  // at most once per batch, so each vector is taken at most once.
  using Grouped = std::array<std::array<std::vector<RulePtr>, kSorts>, kEntityKinds>;
  std::optional<Grouped> grouped;

  std::vector<RulePtr> live_rules(size_t kind, size_t sort) {
    if (!grouped) {
      grouped.emplace();
      for (const auto& [name, rules] : lists) {
        for (const auto& [key, rule] : rules) {
          if (const auto s = sort_of(shape_of(*rule))) {
            (*grouped)[kind_index(key.first)][*s].push_back(rule);
          }
        }
      }
    }
    return std::move((*grouped)[kind][sort]);
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
};

PolicyIndex::PolicyIndex(PolicyIndexOptions options) : impl_(std::make_unique<Impl>(options)) {
  std::lock_guard lock(impl_->write_mutex);
  impl_->publish();
}

PolicyIndex::~PolicyIndex() = default;

std::shared_ptr<const PolicyIndexSnapshot> PolicyIndex::snapshot() const { return impl_->load(); }

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

void PolicyIndex::replace_list(const std::string& list, std::vector<PolicyRule> rules) {
  std::lock_guard lock(impl_->write_mutex);
  for (PolicyRule& rule : rules) {
    if (rule.list != list) rule.list = list;
  }
  // One rule per key; should the caller pass several families, the highest precedence wins.
  std::map<Impl::Key, PolicyRule*> incoming;
  for (PolicyRule& rule : rules) {
    auto [it, inserted] = incoming.try_emplace({rule.kind, rule.state_key}, &rule);
    if (!inserted && rule.family < it->second->family) it->second = &rule;
  }

  std::vector<Impl::Op> ops;
  Impl::ListRules& held = impl_->lists[list];
  for (auto it = held.begin(); it != held.end();) {
    auto next = incoming.find(it->first);
    if (next == incoming.end() || !same_rule(*it->second, *next->second)) {
      ops.push_back({false, std::move(it->second)});
      it = held.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [key, rule] : incoming) {
    if (held.count(key) != 0) continue;  // unchanged
    RulePtr ptr = std::make_shared<const PolicyRule>(std::move(*rule));
    held.emplace(Impl::Key{ptr->kind, ptr->state_key}, ptr);
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
  impl_->grouped.reset();
  if (changed) impl_->publish();
}

}  // namespace tyr::engine::policy
