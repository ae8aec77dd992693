#pragma once
// Rooms Tyr protects. Mirrored in the store's state family as "room/<room_id>" -> JSON info
// (added_by, added_ts, alias when added by alias, members as counted by the last sweep).
// Thread-safe: the pipeline reads it, the executor adds rooms and counts members.

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/store/store.hpp"

namespace tyr::engine {

class RoomRegistry {
 public:
  void load(const Store& store);
  bool contains(const std::string& room_id) const;
  void add(const std::string& room_id, nlohmann::json info);
  bool remove(const std::string& room_id);
  // Finds a protected room by ID or by the alias it was added with.
  std::string find(const std::string& id_or_alias) const;
  std::map<std::string, nlohmann::json> snapshot() const;
  // The stored info of one protected room (added_ts, alias, …); nullopt when not protected.
  std::optional<nlohmann::json> info(const std::string& room_id) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> rooms_;
};

}  // namespace tyr::engine
