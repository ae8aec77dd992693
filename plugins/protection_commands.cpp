// `!tyr protections …`, as the protection suite answers it:
//   protections [room]                         modes and counters
//   protections show <name> [room]             the settings in effect, with defaults
//   protections enable|disable|shadow <name> [room]
//   protections config <name> <key> <value…> [room]
// Rooms arrive as room IDs (engine/commands/protections_commands.cpp resolves and checks them).
// A list value is written as words or comma-separated ("bit.ly t.co" or "bit.ly,t.co"); a text
// value with spaces is quoted. Every change is answered with the value before and after.

#include "engine/core/text.hpp"
#include "plugins/protection_host.hpp"

namespace tyr::plugins {

namespace {

using engine::protection::ConfigKey;
using engine::protection::ConfigType;
using engine::protection::Mode;

std::string mode_text(Mode m) {
  return m == Mode::kEnforce  ? "on (acting)"
         : m == Mode::kShadow ? "shadow (reporting only)"
                              : "off";
}

// A value as a moderator types it back: lists comma-separated, text quoted.
std::string value_text(const nlohmann::json& v) {
  if (v.is_array()) {
    if (v.empty()) return "(none)";
    std::string out;
    for (const auto& item : v) {
      out += (out.empty() ? "" : ", ") + (item.is_string() ? item.get<std::string>() : item.dump());
    }
    return out;
  }
  if (v.is_string()) return "\"" + v.get<std::string>() + "\"";
  if (v.is_number_float()) return number_text(v.get<double>());
  return v.dump();
}

std::string where(const std::string& room) { return room.empty() ? " everywhere" : " in " + room; }

bool is_room(const std::string& word) { return !word.empty() && word[0] == '!'; }

}  // namespace

std::pair<std::string, bool> ProtectionSuiteHost::command(const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? "" : args[0];
  const bool named = verb == "enable" || verb == "disable" || verb == "shadow" || verb == "show" ||
                     verb == "config";
  if (!named) {
    if (args.size() > 1 || (args.size() == 1 && !is_room(verb))) {
      return {"Unknown protections command '" + verb +
                  "'. Use: protections [room] | protections show <name> [room] | protections "
                  "enable|disable|shadow <name> [room] | protections config <name> <key> "
                  "<value> [room]",
              false};
    }
    const std::string room = args.empty() ? "" : args[0];
    std::string text = "Protections" + (room.empty() ? std::string() : " in " + room) + ":";
    for (const auto& s : suite_.status(room)) {
      text += "\n  " + s.name + ": " + mode_text(s.mode) + " — " + std::to_string(s.hits) +
              " hits, " + std::to_string(s.shadow_hits) + " shadow hits, " +
              std::to_string(s.requests) + " actions requested";
    }
    return {text, false};
  }
  if (verb == "enable" || verb == "disable" || verb == "shadow" || verb == "show") {
    if (args.size() < 2 || args.size() > 3 || (args.size() == 3 && !is_room(args[2]))) {
      return {"Usage: protections " + verb + " <name> [room]", false};
    }
    const std::string& name = args[1];
    const std::string room = args.size() == 3 ? args[2] : "";
    auto config = suite_.config(name, room);
    if (!config) return {config.error().message, false};
    const Mode before = suite_.mode(name, room);
    if (verb == "show") {
      const auto* d = descriptor(name);
      const nlohmann::json values = config.value().to_json();
      std::string text = "Protection " + name + where(room) + ": " + mode_text(before);
      for (const ConfigKey& k : d->config) {
        const nlohmann::json def = nlohmann::json::parse(k.default_json);
        const nlohmann::json& v = values[std::string(k.name)];
        text += "\n  " + std::string(k.name) + " = " + value_text(v) +
                (v == def ? " (default)" : " (default " + value_text(def) + ")") + " — " +
                std::string(k.doc);
      }
      return {text, false};
    }
    const Mode mode = verb == "enable"   ? Mode::kEnforce
                      : verb == "shadow" ? Mode::kShadow
                                         : Mode::kOff;
    if (auto r = suite_.set_mode(name, mode, room); !r) return {r.error().message, false};
    if (before == mode)
      return {"Protection " + name + " was already " + mode_text(mode) + where(room) + ".", false};
    return {"Protection " + name + " is now " + mode_text(mode) + where(room) + " (was " +
                mode_text(before) + ").",
            true};
  }
  // config <name> <key> <value…> [room]
  if (args.size() < 4) return {"Usage: protections config <name> <key> <value> [room]", false};
  const std::string &name = args[1], &key = args[2];
  const bool has_room = args.size() >= 5 && is_room(args.back());
  const std::string room = has_room ? args.back() : "";
  const std::vector<std::string> words(args.begin() + 3, args.end() - (has_room ? 1 : 0));
  const auto* d = descriptor(name);
  const ConfigKey* k = d == nullptr ? nullptr : d->key(key);
  std::string value = words[0];
  if (words.size() > 1) {
    if (k != nullptr && k->type == ConfigType::kStringList) {
      for (size_t i = 1; i < words.size(); ++i) value += "," + words[i];
    } else if (k != nullptr) {
      return {"protection " + name + ": key '" + key + "' takes one value (" +
                  engine::protection::expected_text(*k) + "), not " + std::to_string(words.size()) +
                  " words; quote a text with spaces: \"like this\".",
              false};
    }
  }
  auto before = suite_.config(name, room);
  if (!before) return {before.error().message, false};
  if (auto r = suite_.set_config(name, key, value, room); !r) return {r.error().message, false};
  const nlohmann::json old_value = before.value().to_json()[key];
  const nlohmann::json new_value = suite_.config(name, room).value().to_json()[key];
  return {"Protection " + name + where(room) + ": " + key + " = " + value_text(new_value) +
              " (was " + value_text(old_value) + ").",
          true};
}

const engine::protection::ProtectionDescriptor* ProtectionSuiteHost::descriptor(
    std::string_view name) const {
  for (const auto* d : suite_.registry()) {
    if (d->name == name) return d;
  }
  return nullptr;
}

}  // namespace tyr::plugins
