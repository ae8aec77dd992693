#pragma once
// Internal to the policy index (policy_index.cpp is the only includer): how a rule is filed
// (entity_shape.hpp holds its text folding and Shape) and the immutable hash tables of literal
// and hashed (MSC4205) entities.

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <openssl/evp.h>

#include "engine/core/digest.hpp"
#include "engine/core/entity.hpp"
#include "engine/core/glob.hpp"
#include "engine/policy/entity_shape.hpp"
#include "engine/policy/policy_rule.hpp"
#include "engine/policy/rule_block.hpp"

namespace tyr::engine::policy::index_detail {

using Rules = std::vector<const PackedRule*>;
using DeadSet = std::unordered_set<const PackedRule*>;
using Blocks = std::vector<std::shared_ptr<const RuleBlock>>;

// The blocks that hold `rules`, each once: a table keeps them alive while a snapshot holds it.
inline Blocks blocks_of(const Rules& rules) {
  std::vector<const RuleBlock*> seen;
  for (const PackedRule* rule : rules) {
    if (seen.empty() || seen.back() != rule->block) seen.push_back(rule->block);
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  Blocks out;
  out.reserve(seen.size());
  for (const RuleBlock* block : seen) out.push_back(block->shared_from_this());
  return out;
}

inline size_t kind_index(EntityKind kind) { return static_cast<size_t>(kind); }

enum Sort : size_t { kLiterals = 0, kHashes = 1, kGlobs = 2, kSorts = 3 };

inline Shape shape_of(const PackedRule& rule) { return static_cast<Shape>(rule.shape); }

inline std::optional<Sort> sort_of(Shape shape) {
  switch (shape) {
    case Shape::kLiteral: return kLiterals;
    case Shape::kHashed: return kHashes;
    case Shape::kGlob:
    case Shape::kUnicode: return kGlobs;
    case Shape::kUnknown:
    case Shape::kUnmatchable: return std::nullopt;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Hot-path SHA-256: one digest context per thread instead of one allocation per call.

inline Sha256 hot_sha256(std::string_view s) {
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local Context context;
  Sha256 out{};
  unsigned int len = 0;
  if (md == nullptr || context.ctx == nullptr || EVP_DigestInit_ex(context.ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, s.data(), s.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, out.data(), &len) != 1 || len != out.size()) {
    return sha256(s);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Results: every emitted rule goes through the tombstones of its snapshot.

struct Emit {
  const DeadSet* dead;  // nullptr when there are none
  std::vector<PolicyRuleRef>* out;

  void operator()(const PackedRule* rule) const {
    if (dead != nullptr && dead->count(rule) != 0) return;
    out->emplace_back(rule);
  }
};

// One bit per key hash, about 16 bits per key (a false positive in ~6 % of misses): a lookup
// that finds nothing, as most do, reads one word of a bit array small enough to stay in cache
// instead of a slot of a table of 10^5 keys that does not.
class HashFilter {
 public:
  void build(size_t keys) {
    size_t bits = 64;
    while (bits < keys * 16) bits *= 2;
    words_.assign(bits / 64, 0);
    mask_ = bits - 1;
  }
  // Bits other than a table's low slot bits.
  void add(uint64_t hash) {
    const uint64_t b = std::rotl(hash, 32) & mask_;
    words_[b >> 6] |= uint64_t{1} << (b & 63);
  }
  bool may_contain(uint64_t hash) const {
    const uint64_t b = std::rotl(hash, 32) & mask_;
    return (words_[b >> 6] >> (b & 63)) & 1;
  }

 private:
  std::vector<uint64_t> words_;
  uint64_t mask_ = 0;
};

struct RuleRange {
  uint32_t begin = 0;
  uint32_t count = 0;
};

// ---------------------------------------------------------------------------------------------
// Literal entities (reduced to ASCII), ASCII-caseless. Immutable open addressing: 4-byte slots
// (an entry's number) over dense entries, so the probed array stays small; an entry's key is the
// rule's own entity where that is ASCII (compared folded), else its reduction in keys_.

class LiteralTable {
 public:
  explicit LiteralTable(Rules rules) : blocks_(blocks_of(rules)) {
    // Reduced keys back to back, sorted by (key, rule) so that equal keys are adjacent and a
    // key's rules come out in a stable order.
    struct Item {
      uint32_t at, length;
      const PackedRule* rule;
    };
    std::string reduced;
    std::vector<Item> items;
    items.reserve(rules.size());
    for (const PackedRule* rule : rules) {
      const std::string_view entity = rule->entity();
      const size_t at = reduced.size();
      if (is_ascii(entity)) {
        for (char c : entity) reduced.push_back(lower(c));
      } else {
        reduced += reduce_pattern(entity);
      }
      items.push_back(
          {static_cast<uint32_t>(at), static_cast<uint32_t>(reduced.size() - at), rule});
    }
    const auto key_of = [&](const Item& item) {
      return std::string_view(reduced).substr(item.at, item.length);
    };
    std::sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
      const int c = key_of(a).compare(key_of(b));
      return c != 0 ? c < 0 : std::less<>{}(a.rule, b.rule);
    });
    std::vector<std::pair<size_t, size_t>> in_keys;  // (entry, offset in keys_)
    slots_.assign(table_capacity(items.size()), 0);
    mask_ = slots_.size() - 1;
    filter_.build(items.size());
    for (size_t i = 0; i < items.size();) {
      const std::string_view key = key_of(items[i]);
      const std::string_view entity = items[i].rule->entity();
      const char* bytes = entity.size() == key.size() && is_ascii(entity) ? entity.data() : nullptr;
      if (bytes == nullptr) {  // pointed into keys_ once it stops growing
        in_keys.emplace_back(entries_.size(), keys_.size());
        keys_ += key;
      }
      Entry entry{fold_hash(key),
                  bytes,
                  items[i].rule,
                  static_cast<uint32_t>(key.size()),
                  {static_cast<uint32_t>(flat_.size()), 0}};
      for (++i; i < items.size() && key_of(items[i]) == key; ++i) {
        flat_.push_back(items[i].rule);
        ++entry.more.count;
      }
      filter_.add(entry.hash);
      size_t at = entry.hash & mask_;
      while (slots_[at] != 0) at = (at + 1) & mask_;
      entries_.push_back(entry);
      slots_[at] = static_cast<uint32_t>(entries_.size());
    }
    keys_.shrink_to_fit();
    for (const auto& [entry, at] : in_keys) entries_[entry].key = keys_.data() + at;
  }

  void find(std::string_view reduced, const Emit& emit) const {
    const uint64_t hash = fold_hash(reduced);
    if (!filter_.may_contain(hash)) return;
    for (size_t at = hash & mask_; slots_[at] != 0; at = (at + 1) & mask_) {
      const Entry& entry = entries_[slots_[at] - 1];
      if (entry.hash != hash || entry.length != reduced.size() ||
          !equal_folded_both(entry.key, reduced)) {
        continue;
      }
      emit(entry.first);
      for (uint32_t i = 0; i < entry.more.count; ++i) emit(flat_[entry.more.begin + i]);
      return;
    }
  }

 private:
  struct Entry {
    uint64_t hash = 0;
    const char* key = nullptr;          // the rule's entity, or in keys_
    const PackedRule* first = nullptr;  // most keys have one rule: flat_ is not read for it
    uint32_t length = 0;
    RuleRange more;  // the key's other rules, in flat_
  };
  Blocks blocks_;
  std::string keys_;             // reductions of non-ASCII literal entities, back to back
  std::vector<uint32_t> slots_;  // entry number + 1; 0: empty
  std::vector<Entry> entries_;
  size_t mask_ = 0;
  HashFilter filter_;
  std::vector<const PackedRule*> flat_;  // each key's rules after its first
};

// ---------------------------------------------------------------------------------------------
// MSC4205 hashed entities: the same layout, keyed by the digest (already uniformly random).

class HashTable {
 public:
  explicit HashTable(Rules rules) : blocks_(blocks_of(rules)) {
    std::vector<std::pair<Sha256, const PackedRule*>> items;
    items.reserve(rules.size());
    for (const PackedRule* rule : rules) {
      if (auto digest = decode_sha256_base64(rule->sha256())) items.emplace_back(*digest, rule);
    }
    std::sort(items.begin(), items.end());
    flat_.reserve(items.size());
    slots_.resize(table_capacity(items.size()));
    mask_ = slots_.size() - 1;
    filter_.build(items.size());
    for (size_t i = 0; i < items.size();) {
      Slot slot{items[i].first, {static_cast<uint32_t>(flat_.size()), 0}};
      filter_.add(filter_hash(slot.digest));
      for (; i < items.size() && items[i].first == slot.digest; ++i) {
        flat_.push_back(items[i].second);
        ++slot.rules.count;
      }
      size_t at = bucket(slot.digest);
      while (slots_[at].rules.count != 0) at = (at + 1) & mask_;
      slots_[at] = slot;
    }
  }

  void find(const Sha256& digest, const Emit& emit) const {
    if (!filter_.may_contain(filter_hash(digest))) return;
    for (size_t at = bucket(digest); slots_[at].rules.count != 0; at = (at + 1) & mask_) {
      const Slot& slot = slots_[at];
      if (slot.digest != digest) continue;
      for (uint32_t i = 0; i < slot.rules.count; ++i) emit(flat_[slot.rules.begin + i]);
      return;
    }
  }

 private:
  struct Slot {
    Sha256 digest{};
    RuleRange rules;  // count 0: empty slot
  };
  size_t bucket(const Sha256& digest) const {
    return load(reinterpret_cast<const char*>(digest.data()), 8) & mask_;
  }
  static uint64_t filter_hash(const Sha256& digest) {  // other bytes than bucket()'s
    return load(reinterpret_cast<const char*>(digest.data()) + 8, 8);
  }
  Blocks blocks_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  HashFilter filter_;
  std::vector<const PackedRule*> flat_;
};

}  // namespace tyr::engine::policy::index_detail
