// RuntimeState: rate windows, bounded by an LRU cap on keys. A key ("<per>/<count>/<window>/
// <entity>") holds a ring of its last `count` event times; the window holds N events when the
// ring's N newest times are within it. Eviction recycles the least recently used node (map node
// and ring both), so a full state allocates nothing in steady state.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rules/compiled.hpp"
#include "rules/rule_set.hpp"

namespace tyr::rules {

struct RuntimeState::Impl {
  struct Node {
    std::string key;
    std::vector<int64_t> ring;  // event times; INT64_MIN = empty slot
    size_t next = 0;            // slot the next time goes to
  };
  using Lru = std::list<Node>;  // front = most recently used
  size_t max_keys;
  mutable std::mutex mu;
  Lru lru;
  std::unordered_map<std::string_view, Lru::iterator> index;  // views into Node::key
};

RuntimeState::RuntimeState(size_t max_keys) : impl_(std::make_unique<Impl>()) {
  impl_->max_keys = std::max<size_t>(1, max_keys);
}
RuntimeState::~RuntimeState() = default;

size_t RuntimeState::keys() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->index.size();
}

uint32_t RuntimeState::record(std::string_view key, uint32_t count, int64_t window_ms,
                              int64_t now_ms) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.index.find(key);
  Impl::Lru::iterator node;
  if (it != s.index.end()) {
    node = it->second;
    s.lru.splice(s.lru.begin(), s.lru, node);
  } else if (s.index.size() >= s.max_keys) {
    // Recycle the least recently used key: its index node and its ring are reused.
    node = std::prev(s.lru.end());
    auto handle = s.index.extract(std::string_view(node->key));
    node->key.assign(key);
    handle.key() = node->key;
    s.index.insert(std::move(handle));
    node->ring.assign(count, std::numeric_limits<int64_t>::min());
    node->next = 0;
    s.lru.splice(s.lru.begin(), s.lru, node);
  } else {
    s.lru.push_front(Impl::Node{std::string(key), {}, 0});
    node = s.lru.begin();
    node->ring.assign(count, std::numeric_limits<int64_t>::min());
    s.index.emplace(std::string_view(node->key), node);
  }
  auto& ring = node->ring;
  if (ring.size() != count) ring.assign(count, std::numeric_limits<int64_t>::min());
  ring[node->next] = now_ms;
  node->next = (node->next + 1) % ring.size();
  uint32_t in_window = 0;
  for (int64_t t : ring) {
    if (t != std::numeric_limits<int64_t>::min() && t > now_ms - window_ms && t <= now_ms) {
      ++in_window;
    }
  }
  return in_window;
}

}  // namespace tyr::rules
