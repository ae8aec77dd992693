#include "engine/pipeline/room_state.hpp"

#include <algorithm>

#include "engine/pipeline/power.hpp"

namespace tyr::engine {

namespace {

const std::string* string_field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

}  // namespace

void RoomStateCache::load(const std::string& room_id, const nlohmann::json& state_events) {
  Room room;
  if (state_events.is_array()) {
    for (const auto& ev : state_events) apply_to(room, ev);
  }
  rooms_[room_id] = std::move(room);
}

void RoomStateCache::apply(const nlohmann::json& event) {
  const std::string* room_id = string_field(event, "room_id");
  if (room_id == nullptr) return;
  auto it = rooms_.find(*room_id);
  if (it == rooms_.end()) return;
  apply_to(it->second, event);
}

void RoomStateCache::apply_to(Room& room, const nlohmann::json& event) {
  const std::string* type = string_field(event, "type");
  const std::string* key = string_field(event, "state_key");
  if (type == nullptr || key == nullptr) return;
  const auto content_it = event.find("content");
  const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json& content =
      content_it != event.end() && content_it->is_object() ? *content_it : empty;
  if (*type == "m.room.create" && key->empty()) {
    room.create = event;
    room.dirty = true;
  } else if (*type == "m.room.power_levels" && key->empty()) {
    room.power_levels = content;
    room.dirty = true;
  } else if (*type == "m.room.member") {
    const std::string* membership = string_field(content, "membership");
    auto it = room.members.find(*key);
    if (it == room.members.end()) {
      if (room.members.size() >= kMaxMembers) return;
      it = room.members.emplace(*key, Member{}).first;
    }
    Member& m = it->second;
    const bool joined = membership != nullptr && *membership == "join";
    if (joined && !m.joined) {
      // A profile change (join -> join) keeps the join time; a new join starts it. Seen for the
      // first time (a /state answer), a profile change says nothing about when they joined.
      auto ts = event.find("origin_server_ts");
      m.joined_ms = ts != event.end() && ts->is_number_integer() ? ts->get<int64_t>() : 0;
      if (auto u = event.find("unsigned"); u != event.end() && u->is_object()) {
        if (auto prev = u->find("prev_content"); prev != u->end()) {
          const std::string* pm = string_field(*prev, "membership");
          if (pm != nullptr && *pm == "join") m.joined_ms = 0;
        }
      }
    }
    m.joined = joined;
    const std::string* name = string_field(content, "displayname");
    const std::string* avatar = string_field(content, "avatar_url");
    m.display_name = name ? *name : std::string();
    m.avatar_url = avatar ? *avatar : std::string();
    room.dirty = true;
  }
}

void RoomStateCache::recompute(Room& room) {
  room.moderators.clear();
  room.operators.clear();
  room.power.emplace(room.create.is_object() ? room.create : nlohmann::json::object(),
                     room.power_levels);
  const PowerLevels& power = *room.power;
  auto facts_of = [&](const std::string& user) {
    MemberFacts f{user, {}, {}};
    if (auto it = room.members.find(user); it != room.members.end()) {
      f.display_name = it->second.display_name;
      f.avatar_url = it->second.avatar_url;
    }
    return f;
  };
  // Moderators: creators (room v12) and users listed with power >= kick who are members.
  std::vector<std::string> candidates;
  if (room.power_levels.is_object()) {
    if (auto users = room.power_levels.find("users");
        users != room.power_levels.end() && users->is_object()) {
      for (const auto& [user, level] : users->items()) candidates.push_back(user);
    }
  }
  if (const std::string* creator = string_field(room.create, "sender"))
    candidates.push_back(*creator);
  if (auto c = room.create.find("content"); room.create.is_object() && c != room.create.end()) {
    if (auto extra = c->find("additional_creators");
        c->is_object() && extra != c->end() && extra->is_array()) {
      for (const auto& u : *extra) {
        if (u.is_string()) candidates.push_back(u.get<std::string>());
      }
    }
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  for (const auto& user : candidates) {
    if (power.level(user) < power.kick_level()) continue;
    auto it = room.members.find(user);
    if (it == room.members.end() || !it->second.joined) continue;
    room.moderators.push_back(facts_of(user));
  }
  for (const auto& op : operators_) {
    MemberFacts f = facts_of(op);
    if (f.display_name.empty()) {
      // An operator who is not in this room: their name from any room Tyr knows them in.
      for (const auto& [id, other] : rooms_) {
        if (auto it = other.members.find(op);
            it != other.members.end() && !it->second.display_name.empty()) {
          f.display_name = it->second.display_name;
          f.avatar_url = it->second.avatar_url;
          break;
        }
      }
    }
    room.operators.push_back(std::move(f));
  }
  room.dirty = false;
}

RoomFacts RoomStateCache::facts(const std::string& room_id, const std::string& sender) {
  RoomFacts out;
  auto it = rooms_.find(room_id);
  if (it == rooms_.end()) return out;
  Room& room = it->second;
  if (room.dirty) recompute(room);
  out.known = true;
  out.sender_power = room.power->level(sender);
  if (auto m = room.members.find(sender); m != room.members.end()) {
    out.sender_display_name = m->second.display_name;
    if (m->second.joined && m->second.joined_ms > 0) out.member_since_ms = m->second.joined_ms;
  }
  out.moderators = room.moderators;
  out.operators = room.operators;
  return out;
}

size_t RoomStateCache::member_count(const std::string& room_id) const {
  auto it = rooms_.find(room_id);
  return it == rooms_.end() ? 0 : it->second.members.size();
}

}  // namespace tyr::engine
