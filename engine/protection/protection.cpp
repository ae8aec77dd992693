#include "engine/protection/protection.hpp"

#include <algorithm>
#include <set>

namespace tyr::engine::protection {

namespace {

std::string_view str(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

const nlohmann::json& member(const nlohmann::json& obj, const char* key) {
  static const nlohmann::json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

}  // namespace

EventContext::EventContext(const nlohmann::json& ev, int64_t now)
    : event(ev),
      room_id(str(ev, "room_id")),
      sender(str(ev, "sender")),
      event_id(str(ev, "event_id")),
      now_ms(now) {}

MembershipContext::MembershipContext(const nlohmann::json& ev, int64_t now)
    : event(ev),
      room_id(str(ev, "room_id")),
      user_id(str(ev, "state_key")),
      sender(str(ev, "sender")),
      membership(str(member(ev, "content"), "membership")),
      prev_membership(str(member(member(ev, "unsigned"), "prev_content"), "membership")),
      display_name(str(member(ev, "content"), "displayname")),
      avatar_url(str(member(ev, "content"), "avatar_url")),
      now_ms(now) {}

std::string power_text(uint8_t powers) {
  std::string out;
  auto add = [&out](const char* s) { out += (out.empty() ? "" : ", ") + std::string(s); };
  if ((powers & kPowerRedact) != 0) add("redact");
  if ((powers & kPowerKick) != 0) add("kick");
  if ((powers & kPowerBan) != 0) add("ban");
  if ((powers & kPowerStateJoinRules) != 0) add("m.room.join_rules");
  return out.empty() ? "none" : out;
}

const std::string& Request::room() const {
  if (const auto* n = notify()) return n->room;
  return engine::actions::room_of(*action());
}
std::string_view Request::kind() const {
  if (notify() != nullptr) return "notify";
  return engine::actions::name_of(*action());
}

void RecordingSink::hit(std::string_view symbol, std::string_view match, double factor) {
  hits.push_back({std::string(symbol), std::string(match), factor});
}
void RecordingSink::scale(double m, std::string_view why) {
  multiplier *= m;
  scale_reasons.emplace_back(why);
}
void RecordingSink::notify(std::string room, std::string text) {
  requests.push_back({Notify{std::move(room), std::move(text)}, {}, false});
}
void RecordingSink::act(engine::actions::Action action) {
  requests.push_back({std::move(action), {}, false});
}
void RecordingSink::clear() {
  hits.clear();
  multiplier = 1.0;
  scale_reasons.clear();
  requests.clear();
}
bool RecordingSink::has(std::string_view symbol) const {
  return std::any_of(hits.begin(), hits.end(),
                     [&](const Emitted& e) { return e.symbol == symbol; });
}
bool RecordingSink::has_request(std::string_view kind) const {
  return std::any_of(requests.begin(), requests.end(),
                     [&](const Request& r) { return r.kind() == kind; });
}

const SymbolSpec* ProtectionDescriptor::symbol(std::string_view s) const {
  for (const auto& spec : symbols) {
    if (spec.name == s) return &spec;
  }
  return nullptr;
}
const ConfigKey* ProtectionDescriptor::key(std::string_view k) const {
  for (const auto& spec : config) {
    if (spec.name == k) return &spec;
  }
  return nullptr;
}

namespace {

bool snake(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}
bool upper(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}
Error err(std::string m) { return Error{"TYR_PROTECTION", std::move(m)}; }

}  // namespace

Result<void> validate_descriptors(std::span<const ProtectionDescriptor* const> list) {
  std::set<std::string_view> names;
  for (const auto* d : list) {
    if (d == nullptr) return err("null protection descriptor");
    const std::string p = "protection " + std::string(d->name) + ": ";
    if (!snake(d->name))
      return err("protection name '" + std::string(d->name) + "' is not lower_snake_case");
    if (!names.insert(d->name).second)
      return err("duplicate protection name '" + std::string(d->name) + "'");
    if (d->create == nullptr) return err(p + "no factory");
    if (d->description.empty()) return err(p + "no description");
    std::set<std::string_view> keys, symbols;
    for (const auto& k : d->config) {
      if (!snake(k.name) || !keys.insert(k.name).second) {
        return err(p + "bad or duplicate key '" + std::string(k.name) + "'");
      }
      auto def = nlohmann::json::parse(k.default_json, nullptr, false);
      if (def.is_discarded())
        return err(p + "key '" + std::string(k.name) + "': default is not JSON");
      auto v = validate_value(d->name, k, def);
      if (!v) return err(v.error().message + " (in its default)");
    }
    for (const auto& s : d->symbols) {
      if (!upper(s.name) || !symbols.insert(s.name).second) {
        return err(p + "bad or duplicate symbol '" + std::string(s.name) + "'");
      }
    }
  }
  return {};
}

}  // namespace tyr::engine::protection
