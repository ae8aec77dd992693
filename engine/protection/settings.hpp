#pragma once
// Which protections run where, and how: a global setting per protection plus per-room
// overrides. Mode separates "enabled" from "enforced": a shadow protection runs, counts and
// records what it would have done, but its hits do not reach the enforced score and its
// requests are not executed. Settings serialise to JSON (stored by the caller) and are
// validated against the descriptors' schemas when loaded or changed.
//
//   {"global": {"flooding": {"mode": "enforce", "config": {"max_messages": 8},
//                            "scores": {"FLOOD": 7}}},
//    "rooms":  {"!abc:example.org": {"flooding": {"mode": "off"}}}}

#include <map>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/mode.hpp"
#include "engine/core/result.hpp"
#include "engine/protection/protection.hpp"

namespace tyr::engine::protection {

using tyr::Mode;  // engine/core/mode.hpp
using tyr::mode_name;
using tyr::parse_mode;

struct ProtectionSetting {
  std::optional<Mode> mode;                          // unset: inherit (global → off)
  nlohmann::json config = nlohmann::json::object();  // key → value overrides
  std::map<std::string, double> scores;              // symbol → score overrides
};

struct Settings {
  std::map<std::string, ProtectionSetting, std::less<>> global;  // by protection name
  std::map<std::string, std::map<std::string, ProtectionSetting, std::less<>>, std::less<>> rooms;
};

nlohmann::json to_json(const Settings& s);
// Validates names, modes, config keys/values and symbols against `registry`.
Result<Settings> settings_from_json(const nlohmann::json& j,
                                    std::span<const ProtectionDescriptor* const> registry);
// Checks one setting of protection `d` ("protection flooding: key 'max_messages': …").
Result<void> validate_setting(const ProtectionDescriptor& d, const ProtectionSetting& s);

}  // namespace tyr::engine::protection
