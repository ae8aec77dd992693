#pragma once
// Bounded per-protection state: a map that evicts its least recently touched entry past a cap,
// and a sliding window of event times. Both serialise to JSON so state can survive restarts.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

namespace tyr::engine::protection {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Keyed by string; at most `cap` entries, evicting the least recently touched. Lookups by
// string_view build no strings; only an insertion copies the key.
template <class V>
class BoundedMap {
 public:
  explicit BoundedMap(size_t cap = 10000) : cap_(std::max<size_t>(cap, 1)) {}
  BoundedMap(const BoundedMap&) = delete;  // map_ holds views into order_'s nodes
  BoundedMap& operator=(const BoundedMap&) = delete;
  BoundedMap(BoundedMap&&) noexcept = default;
  BoundedMap& operator=(BoundedMap&&) noexcept = default;

  // The entry for `key`, created (default V) when absent; touching it makes it most recent.
  V& touch(std::string_view key) {
    if (auto it = map_.find(key); it != map_.end()) {
      order_.splice(order_.end(), order_, it->second.pos);
      return it->second.value;
    }
    if (map_.size() >= cap_) {
      map_.erase(map_.find(std::string_view(order_.front())));
      order_.pop_front();
    }
    order_.emplace_back(key);
    auto [it, ok] = map_.emplace(order_.back(), Slot{V{}, std::prev(order_.end())});
    (void)ok;
    return it->second.value;
  }
  V* find(std::string_view key) {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second.value;
  }
  const V* find(std::string_view key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second.value;
  }
  void erase(std::string_view key) {
    auto it = map_.find(key);
    if (it == map_.end()) return;
    order_.erase(it->second.pos);
    map_.erase(it);
  }
  // Removes entries for which `pred(key, value)` holds (expiry sweeps from on_timer).
  template <class Pred>
  void erase_if(Pred pred) {
    for (auto it = order_.begin(); it != order_.end();) {
      auto m = map_.find(std::string_view(*it));
      if (pred(*it, m->second.value)) {
        map_.erase(m);
        it = order_.erase(it);
      } else {
        ++it;
      }
    }
  }
  template <class F>
  void for_each(F f) const {
    for (const auto& k : order_) f(k, map_.find(std::string_view(k))->second.value);
  }
  size_t size() const { return map_.size(); }
  size_t cap() const { return cap_; }
  void clear() {
    map_.clear();
    order_.clear();
  }

  // [[key, value], …] oldest first, so loading keeps the recency order.
  nlohmann::json to_json(const std::function<nlohmann::json(const V&)>& save) const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : order_)
      out.push_back({k, save(map_.find(std::string_view(k))->second.value)});
    return out;
  }
  // Returns false (and leaves the map empty) when `j` is malformed.
  bool from_json(const nlohmann::json& j,
                 const std::function<bool(const nlohmann::json&, V&)>& load) {
    clear();
    if (!j.is_array()) return j.is_null();
    for (const auto& item : j) {
      if (!item.is_array() || item.size() != 2 || !item[0].is_string() ||
          !load(item[1], touch(item[0].get<std::string>()))) {
        clear();
        return false;
      }
    }
    return true;
  }

 private:
  struct Slot {
    V value;
    std::list<std::string>::iterator pos;
  };
  size_t cap_;
  std::list<std::string> order_;  // keys, least recently touched first
  std::unordered_map<std::string_view, Slot, StringHash, std::equal_to<>>
      map_;  // views into order_
};

// Times of recent events, at most `cap` kept. count() answers "how many in the last window".
struct Window {
  std::deque<int64_t> times;

  // Records `now_ms` and returns how many recorded times fall in (now - window, now].
  uint32_t record(int64_t now_ms, int64_t window_ms, size_t cap) {
    times.push_back(now_ms);
    return count(now_ms, window_ms, cap);
  }
  uint32_t count(int64_t now_ms, int64_t window_ms, size_t cap) {
    while (!times.empty() && (times.front() <= now_ms - window_ms || times.size() > cap))
      times.pop_front();
    return static_cast<uint32_t>(times.size());
  }
  bool stale(int64_t now_ms, int64_t window_ms) const {
    return times.empty() || times.back() <= now_ms - window_ms;
  }
  nlohmann::json to_json() const {
    return nlohmann::json(std::vector<int64_t>(times.begin(), times.end()));
  }
  bool from_json(const nlohmann::json& j) {
    times.clear();
    if (!j.is_array()) return false;
    for (const auto& t : j) {
      if (!t.is_number_integer()) return false;
      times.push_back(t.get<int64_t>());
    }
    return true;
  }
};

}  // namespace tyr::engine::protection
