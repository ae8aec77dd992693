#include "engine/protection/settings.hpp"

#include <cmath>

namespace tyr::engine::protection {

namespace {

Error err(std::string m) { return Error{"TYR_PROTECTION", std::move(m)}; }

nlohmann::json setting_json(const ProtectionSetting& s) {
  nlohmann::json j = nlohmann::json::object();
  if (s.mode) j["mode"] = mode_name(*s.mode);
  if (!s.config.empty()) j["config"] = s.config;
  if (!s.scores.empty()) j["scores"] = s.scores;
  return j;
}

const ProtectionDescriptor* find(std::span<const ProtectionDescriptor* const> reg,
                                 std::string_view n) {
  for (const auto* d : reg) {
    if (d->name == n) return d;
  }
  return nullptr;
}

Result<ProtectionSetting> parse_setting(const ProtectionDescriptor& d, const nlohmann::json& j) {
  const std::string p = "protection " + std::string(d.name) + ": ";
  if (!j.is_object()) return err(p + "setting must be an object");
  ProtectionSetting s;
  for (const auto& [k, v] : j.items()) {
    if (k == "mode") {
      auto m = v.is_string() ? parse_mode(v.get<std::string>()) : std::nullopt;
      if (!m) return err(p + "mode: expected off, shadow or enforce");
      s.mode = m;
    } else if (k == "config") {
      if (!v.is_object()) return err(p + "config must be an object");
      s.config = v;
    } else if (k == "scores") {
      if (!v.is_object()) return err(p + "scores must be an object");
      for (const auto& [sym, score] : v.items()) {
        if (!score.is_number()) return err(p + "score of '" + sym + "': expected a number");
        s.scores[sym] = score.get<double>();
      }
    } else {
      return err(p + "unknown setting '" + k + "' (expected mode, config, scores)");
    }
  }
  auto ok = validate_setting(d, s);
  if (!ok) return ok.error();
  return s;
}

Result<void> parse_map(const nlohmann::json& j, std::span<const ProtectionDescriptor* const> reg,
                       std::map<std::string, ProtectionSetting, std::less<>>& out) {
  if (!j.is_object()) return err("protection settings: expected an object of protections");
  for (const auto& [name, value] : j.items()) {
    const auto* d = find(reg, name);
    if (d == nullptr) return err("unknown protection '" + name + "'");
    auto s = parse_setting(*d, value);
    if (!s) return s.error();
    out[name] = std::move(s.value());
  }
  return {};
}

}  // namespace

Result<void> validate_setting(const ProtectionDescriptor& d, const ProtectionSetting& s) {
  ProtectionConfig cfg(d.name, d.config);
  auto ok = cfg.apply(s.config);
  if (!ok) return ok;
  for (const auto& [sym, score] : s.scores) {
    if (d.symbol(sym) == nullptr) {
      return err("protection " + std::string(d.name) + ": unknown symbol '" + sym + "'");
    }
    if (!std::isfinite(score)) {
      return err("protection " + std::string(d.name) + ": score of '" + sym + "' is not finite");
    }
  }
  return {};
}

nlohmann::json to_json(const Settings& s) {
  nlohmann::json j = {{"global", nlohmann::json::object()}, {"rooms", nlohmann::json::object()}};
  for (const auto& [name, setting] : s.global) j["global"][name] = setting_json(setting);
  for (const auto& [room, m] : s.rooms) {
    auto& r = j["rooms"][room] = nlohmann::json::object();
    for (const auto& [name, setting] : m) r[name] = setting_json(setting);
  }
  return j;
}

Result<Settings> settings_from_json(const nlohmann::json& j,
                                    std::span<const ProtectionDescriptor* const> registry) {
  Settings s;
  if (j.is_null()) return s;
  if (!j.is_object()) return err("protection settings: expected an object");
  for (const auto& [k, v] : j.items()) {
    if (k == "global") {
      auto ok = parse_map(v, registry, s.global);
      if (!ok) return ok.error();
    } else if (k == "rooms") {
      if (!v.is_object()) return err("protection settings: rooms must be an object");
      for (const auto& [room, m] : v.items()) {
        auto ok = parse_map(m, registry, s.rooms[room]);
        if (!ok) return Error{"TYR_PROTECTION", "room " + room + ": " + ok.error().message};
      }
    } else {
      return err("protection settings: unknown section '" + k + "'");
    }
  }
  return s;
}

}  // namespace tyr::engine::protection
