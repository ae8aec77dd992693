#include "engine/protection/schema.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/core/text.hpp"

namespace tyr::engine::protection {

namespace {

Error config_error(std::string message) { return Error{"TYR_PROTECTION", std::move(message)}; }

std::string prefix(std::string_view protection, std::string_view key) {
  return "protection " + std::string(protection) + ": key '" + std::string(key) + "': ";
}

std::string bounds_text(const ConfigKey& key, std::string_view what) {
  const bool lo = key.min > -kUnbounded, hi = key.max < kUnbounded;
  std::string s(what);
  if (lo && hi) return s + " between " + number_text(key.min) + " and " + number_text(key.max);
  if (lo) return s + " ≥ " + number_text(key.min);
  if (hi) return s + " ≤ " + number_text(key.max);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view config_type_name(ConfigType t) {
  switch (t) {
    case ConfigType::kInteger: return "integer";
    case ConfigType::kNumber: return "number";
    case ConfigType::kBoolean: return "boolean";
    case ConfigType::kString: return "string";
    case ConfigType::kStringList: return "list of strings";
  }
  return "?";
}

std::string expected_text(const ConfigKey& key) {
  switch (key.type) {
    case ConfigType::kInteger: return bounds_text(key, "an integer");
    case ConfigType::kNumber: return bounds_text(key, "a number");
    case ConfigType::kBoolean: return "true or false";
    case ConfigType::kString: return "a string";
    case ConfigType::kStringList: {
      std::string s = "a list of strings";
      if (key.max < kUnbounded) s += " (at most " + number_text(key.max) + " items)";
      return s;
    }
  }
  return "?";
}

Result<ConfigValue> validate_value(std::string_view protection, const ConfigKey& key,
                                   const nlohmann::json& value) {
  auto fail = [&] {
    return config_error(prefix(protection, key.name) + "expected " + expected_text(key));
  };
  ConfigValue out;
  switch (key.type) {
    case ConfigType::kInteger:
    case ConfigType::kNumber: {
      if (!value.is_number()) return fail();
      const double d = value.get<double>();
      if (!std::isfinite(d) || d < key.min || d > key.max) return fail();
      if (key.type == ConfigType::kInteger && std::floor(d) != d) return fail();
      out.number = d;
      return out;
    }
    case ConfigType::kBoolean:
      if (!value.is_boolean()) return fail();
      out.boolean = value.get<bool>();
      return out;
    case ConfigType::kString:
      if (!value.is_string()) return fail();
      out.text = value.get<std::string>();
      return out;
    case ConfigType::kStringList:
      if (!value.is_array()) return fail();
      if (static_cast<double>(value.size()) > key.max ||
          static_cast<double>(value.size()) < key.min) {
        return fail();
      }
      for (const auto& item : value) {
        if (!item.is_string() || item.get_ref<const std::string&>().empty()) return fail();
        out.list.push_back(lower(item.get_ref<const std::string&>()));
      }
      return out;
  }
  return fail();
}

Result<nlohmann::json> parse_value_text(std::string_view protection, const ConfigKey& key,
                                        std::string_view text) {
  text = trim(text);
  nlohmann::json j;
  switch (key.type) {
    case ConfigType::kString: j = std::string(text); break;
    case ConfigType::kStringList: {
      j = nlohmann::json::array();
      if (!text.empty() && text.front() == '[') {
        j = nlohmann::json::parse(text, nullptr, false);
        break;
      }
      while (!text.empty()) {
        const size_t comma = text.find(',');
        const auto item = trim(text.substr(0, comma));
        if (!item.empty()) j.push_back(std::string(item));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
      }
      break;
    }
    default: j = nlohmann::json::parse(text, nullptr, false); break;
  }
  if (j.is_discarded()) {
    return config_error(prefix(protection, key.name) + "expected " + expected_text(key));
  }
  auto checked = validate_value(protection, key, j);
  if (!checked) return checked.error();
  return j;
}

ProtectionConfig::ProtectionConfig(std::string_view protection, std::span<const ConfigKey> schema)
    : protection_(protection), schema_(schema) {
  values_.reserve(schema.size());
  for (const auto& key : schema) {
    // Defaults are checked by validate_registry() at start; a bad one here is a bug.
    auto v =
        validate_value(protection, key, nlohmann::json::parse(key.default_json, nullptr, false));
    if (!v) {
      std::fprintf(stderr, "bad default: %s\n", v.error().message.c_str());
      std::abort();
    }
    values_.push_back(std::move(v.value()));
  }
}

const ConfigValue& ProtectionConfig::at(std::string_view key) const {
  for (size_t i = 0; i < schema_.size(); ++i) {
    if (schema_[i].name == key) return values_[i];
  }
  std::fprintf(stderr, "protection %.*s reads undeclared config key '%.*s'\n",
               static_cast<int>(protection_.size()), protection_.data(),
               static_cast<int>(key.size()), key.data());
  std::abort();
}

int64_t ProtectionConfig::integer(std::string_view key) const {
  return static_cast<int64_t>(at(key).number);
}
double ProtectionConfig::number(std::string_view key) const { return at(key).number; }
bool ProtectionConfig::boolean(std::string_view key) const { return at(key).boolean; }
const std::string& ProtectionConfig::string(std::string_view key) const { return at(key).text; }
const std::vector<std::string>& ProtectionConfig::list(std::string_view key) const {
  return at(key).list;
}

Result<void> ProtectionConfig::apply(const nlohmann::json& overrides) {
  if (overrides.is_null()) return {};
  if (!overrides.is_object()) {
    return config_error("protection " + std::string(protection_) + ": config must be an object");
  }
  auto next = values_;
  for (const auto& [name, value] : overrides.items()) {
    size_t i = 0;
    while (i < schema_.size() && schema_[i].name != name) ++i;
    if (i == schema_.size()) {
      std::string keys;
      for (const auto& k : schema_) keys += (keys.empty() ? "" : ", ") + std::string(k.name);
      return config_error("protection " + std::string(protection_) + ": unknown key '" + name +
                          "' (keys: " + keys + ")");
    }
    auto v = validate_value(protection_, schema_[i], value);
    if (!v) return v.error();
    next[i] = std::move(v.value());
  }
  values_ = std::move(next);
  return {};
}

nlohmann::json ProtectionConfig::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (size_t i = 0; i < schema_.size(); ++i) {
    const auto& v = values_[i];
    switch (schema_[i].type) {
      case ConfigType::kInteger:
        out[std::string(schema_[i].name)] = static_cast<int64_t>(v.number);
        break;
      case ConfigType::kNumber: out[std::string(schema_[i].name)] = v.number; break;
      case ConfigType::kBoolean: out[std::string(schema_[i].name)] = v.boolean; break;
      case ConfigType::kString: out[std::string(schema_[i].name)] = v.text; break;
      case ConfigType::kStringList: out[std::string(schema_[i].name)] = v.list; break;
    }
  }
  return out;
}

}  // namespace tyr::engine::protection
