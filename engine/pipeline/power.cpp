#include "engine/pipeline/power.hpp"

#include <limits>

namespace tyr::engine {

namespace {

constexpr int64_t kInfinite = std::numeric_limits<int64_t>::max();

// Power values may be integers or (in old rooms) numeric strings.
std::optional<int64_t> as_level(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    try {
      size_t used = 0;
      long long n = std::stoll(v.get<std::string>(), &used);
      if (used == v.get_ref<const std::string&>().size()) return n;
    } catch (...) {
    }
  }
  return std::nullopt;
}

int64_t level_at(const nlohmann::json& obj, const char* key, int64_t fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  return as_level(*it).value_or(fallback);
}

std::string show(int64_t level) { return level == kInfinite ? "creator" : std::to_string(level); }

}  // namespace

PowerLevels::PowerLevels(const nlohmann::json& create_event, const nlohmann::json& power_levels)
    : pl_(power_levels), has_pl_(power_levels.is_object()) {
  const auto content = create_event.value("content", nlohmann::json::object());
  const std::string version = content.value("room_version", "1");
  // Room versions with MSC4289 creator power: 12 and the hydra test version.
  creator_power_ = version == "12" || version == "org.matrix.hydra.11";
  const std::string sender = create_event.value("sender", "");
  if (creator_power_) {
    creators_.insert(sender);
    if (auto extra = content.find("additional_creators");
        extra != content.end() && extra->is_array()) {
      for (const auto& c : *extra) {
        if (c.is_string()) creators_.insert(c.get<std::string>());
      }
    }
  } else {
    legacy_creator_ = content.value("creator", sender);
  }
  if (has_pl_) {
    ban_ = level_at(pl_, "ban", 50);
    kick_ = level_at(pl_, "kick", 50);
    redact_ = level_at(pl_, "redact", 50);
    users_default_ = level_at(pl_, "users_default", 0);
    state_default_ = level_at(pl_, "state_default", 50);
    events_default_ = level_at(pl_, "events_default", 0);
  } else {
    state_default_ = 0;  // no power levels: anyone may send state (the creator check aside)
  }
}

int64_t PowerLevels::level(const std::string& user_id) const {
  if (creator_power_ && creators_.count(user_id)) return kInfinite;
  if (!has_pl_) return user_id == legacy_creator_ ? 100 : 0;
  if (auto users = pl_.find("users"); users != pl_.end() && users->is_object()) {
    if (auto it = users->find(user_id); it != users->end()) {
      if (auto l = as_level(*it)) return *l;
    }
  }
  return users_default_;
}

int64_t PowerLevels::state_level(const std::string& type) const {
  if (!has_pl_) return 0;
  return level_at(pl_.value("events", nlohmann::json::object()), type.c_str(), state_default_);
}

int64_t PowerLevels::event_level(const std::string& type) const {
  if (!has_pl_) return 0;
  return level_at(pl_.value("events", nlohmann::json::object()), type.c_str(), events_default_);
}

std::string PowerLevels::why_cannot_ban(const std::string& actor, const std::string& target) const {
  const int64_t me = level(actor), them = level(target);
  if (creator_power_ && creators_.count(target))
    return target + " is a room creator and cannot be banned";
  if (me < ban_) return "banning needs power " + show(ban_) + ", Tyr has " + show(me);
  if (them >= me) return target + " has power " + show(them) + ", not below Tyr's " + show(me);
  return {};
}

std::string PowerLevels::why_cannot_unban(const std::string& actor,
                                          const std::string& target) const {
  const int64_t me = level(actor), them = level(target);
  if (me < ban_ || me < kick_) {
    return "unbanning needs power " + show(std::max(ban_, kick_)) + ", Tyr has " + show(me);
  }
  if (them >= me) return target + " has power " + show(them) + ", not below Tyr's " + show(me);
  return {};
}

std::string PowerLevels::why_cannot_redact(const std::string& actor,
                                           const std::string& sender) const {
  const int64_t me = level(actor);
  const int64_t need_send = event_level("m.room.redaction");
  if (me < need_send)
    return "sending redactions needs power " + show(need_send) + ", Tyr has " + show(me);
  if (sender != actor && me < redact_) {
    return "redacting others' events needs power " + show(redact_) + ", Tyr has " + show(me);
  }
  return {};
}

std::string PowerLevels::why_cannot_set_state(const std::string& actor,
                                              const std::string& type) const {
  const int64_t me = level(actor), need = state_level(type);
  if (me < need) return "setting " + type + " needs power " + show(need) + ", Tyr has " + show(me);
  return {};
}

}  // namespace tyr::engine
