#pragma once
// Config schemas of protections: each key's type, default, bounds and meaning, declared
// constexpr beside the protection, and the validated values a protection reads per room.
// Validation errors name the protection and key: "protection flooding: key 'max_messages':
// expected an integer ≥ 1".

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/result.hpp"

namespace tyr::engine::protection {

enum class ConfigType : uint8_t { kInteger, kNumber, kBoolean, kString, kStringList };
std::string_view config_type_name(ConfigType t);  // "integer", "number", …

inline constexpr double kUnbounded = std::numeric_limits<double>::infinity();

struct ConfigKey {
  std::string_view name;
  ConfigType type;
  std::string_view default_json;  // JSON text: "10", "true", "[\"bit.ly\"]"
  std::string_view doc;
  double min = -kUnbounded;  // numbers: inclusive bounds; lists: bounds on the item count
  double max = kUnbounded;
};

// One value of a schema key after validation. String lists are lower-cased (domains, words).
struct ConfigValue {
  double number = 0;  // integers and numbers
  bool boolean = false;
  std::string text;
  std::vector<std::string> list;
};

// The validated configuration of one protection in one room: every schema key has a value
// (the default unless overridden). Reads by key name; an unknown name is a programming error
// and aborts with a message.
class ProtectionConfig {
 public:
  ProtectionConfig() = default;
  ProtectionConfig(std::string_view protection, std::span<const ConfigKey> schema);

  int64_t integer(std::string_view key) const;
  double number(std::string_view key) const;
  bool boolean(std::string_view key) const;
  const std::string& string(std::string_view key) const;
  const std::vector<std::string>& list(std::string_view key) const;

  // Applies overrides (a JSON object key -> value), validating each against the schema.
  // On error nothing is changed.
  Result<void> apply(const nlohmann::json& overrides);
  nlohmann::json to_json() const;  // every key with its effective value

 private:
  const ConfigValue& at(std::string_view key) const;
  std::string_view protection_;
  std::span<const ConfigKey> schema_;
  std::vector<ConfigValue> values_;  // parallel to schema_
};

// Checks `value` against `key`; the error message is the full sentence shown to operators.
Result<ConfigValue> validate_value(std::string_view protection, const ConfigKey& key,
                                   const nlohmann::json& value);
// Parses a value typed in a command (`10`, `0.5`, `true`, `bit.ly,t.co`, `"text"`) into JSON of
// the key's type, for `!tyr protections config <name> <key> <value>`.
Result<nlohmann::json> parse_value_text(std::string_view protection, const ConfigKey& key,
                                        std::string_view text);
// "an integer ≥ 1", "a number between 0 and 1", "a list of strings": what `key` accepts.
std::string expected_text(const ConfigKey& key);

}  // namespace tyr::engine::protection
