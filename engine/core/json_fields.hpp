#pragma once
// Strict reads of one field of an outside JSON object: a missing field, or one of another type,
// is absent (null), never an empty value.

#include <string>

#include <nlohmann/json.hpp>

namespace tyr {

// The string at `key`, or null when `obj` has no string there.
inline const std::string* string_field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

}  // namespace tyr
