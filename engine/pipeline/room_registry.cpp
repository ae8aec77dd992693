#include "engine/pipeline/room_registry.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

std::optional<nlohmann::json> RoomRegistry::info(const std::string& room_id) const {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room_id);
  if (it == rooms_.end()) return std::nullopt;
  return it->second;
}

void RoomRegistry::load(const Store& store) {
  std::lock_guard lock(mu_);
  rooms_.clear();
  store.scan(Cf::kState, state_keys::kRoom, [&](std::string_view key, std::string_view value) {
    auto info = nlohmann::json::parse(value, nullptr, false);
    rooms_[std::string(key.substr(state_keys::kRoom.size()))] =
        info.is_discarded() ? nlohmann::json::object() : info;
  });
}

bool RoomRegistry::contains(const std::string& room_id) const {
  std::lock_guard lock(mu_);
  return rooms_.count(room_id) > 0;
}

void RoomRegistry::add(const std::string& room_id, nlohmann::json info) {
  std::lock_guard lock(mu_);
  rooms_[room_id] = std::move(info);
}

bool RoomRegistry::remove(const std::string& room_id) {
  std::lock_guard lock(mu_);
  return rooms_.erase(room_id) > 0;
}

std::string RoomRegistry::find(const std::string& id_or_alias) const {
  std::lock_guard lock(mu_);
  if (rooms_.count(id_or_alias)) return id_or_alias;
  for (const auto& [id, info] : rooms_) {
    if (info.value("alias", "") == id_or_alias) return id;
  }
  return {};
}

std::map<std::string, nlohmann::json> RoomRegistry::snapshot() const {
  std::lock_guard lock(mu_);
  return rooms_;
}

size_t RoomRegistry::size() const {
  std::lock_guard lock(mu_);
  return rooms_.size();
}

}  // namespace tyr::engine
