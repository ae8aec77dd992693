#include "plugins/protection_host.hpp"

#include <algorithm>

namespace tyr::plugins {

namespace {

std::string mode_word(protection::Mode m) {
  return m == protection::Mode::kEnforce ? "on" : m == protection::Mode::kShadow ? "shadow" : "off";
}

}  // namespace

ProtectionSuiteHost::ProtectionSuiteHost(Registry registry) : suite_(registry) {}

void ProtectionSuiteHost::request(const protection::ActionIntent& intent, bool shadow) {
  auto j = protection::to_json(intent);
  if (shadow) j["shadow"] = true;
  pending_.push_back(std::move(j));
}

void ProtectionSuiteHost::collect(const ProtectionResult& r) {
  for (const auto& intent : r.intents) request(intent, false);
  for (const auto& intent : r.shadow_intents) request(intent, true);
}

EventVerdict ProtectionSuiteHost::fold(const EventVerdict& rules_verdict, const nlohmann::json& event,
                                       const Features& features, int64_t now_ms, const RoomFacts& room) {
  protection::EventContext ctx(event, now_ms);
  ctx.power_known = room.known;
  ctx.sender_power = static_cast<int>(std::clamp<int64_t>(room.sender_power, -1000000000, 1000000000));
  ctx.display_name = room.sender_display_name;
  ctx.member_since_ms = room.member_since_ms;
  ctx.moderators = room.moderators;
  ctx.operators = room.operators;
  auto r = suite_.on_event(ctx, features);
  collect(r);
  if (r.hits.empty() && r.multiplier == 1.0 && r.shadow_multiplier == 1.0) return rules_verdict;
  return suite_.merge(rules_verdict, r);
}

std::string ProtectionSuiteHost::summary() const {
  size_t on = 0, shadow = 0;
  for (const auto* d : suite_.registry()) {
    auto m = suite_.mode(d->name, {});
    on += m == protection::Mode::kEnforce;
    shadow += m == protection::Mode::kShadow;
  }
  return "protections: " + std::to_string(on) + " on, " + std::to_string(shadow) +
         " in shadow mode, of " + std::to_string(suite_.registry().size());
}

void ProtectionSuiteHost::on_membership(const nlohmann::json& event, int64_t now_ms,
                                        const RoomFacts& room) {
  protection::MembershipContext ctx(event, now_ms);
  ctx.moderators = room.moderators;
  ctx.operators = room.operators;
  auto r = suite_.on_membership(ctx);
  collect(r);
  // Hits on a membership (impersonating names, joins in a wave) are judged like an event's.
  if (r.hits.empty()) return;
  const EventVerdict v = suite_.merge({}, r);
  protection::ActionIntent intent;
  intent.room = event.value("room_id", "");
  intent.user = event.value("state_key", "");
  intent.protection = "membership";
  if (v.action != Action::kAllow) {
    intent.kind = protection::IntentKind::kNotify;
    intent.text = std::string(action_name(v.action)) + " for " + intent.user + ": " + v.explanation;
    request(intent, false);
  }
  if (v.action >= Action::kKick) {
    intent.kind = v.action == Action::kBan ? protection::IntentKind::kBan : protection::IntentKind::kKick;
    intent.text = "Tyr protections: " + (v.rules.empty() ? std::string() : v.rules.front());
    request(intent, false);
  }
}

void ProtectionSuiteHost::on_timer(int64_t now_ms) { collect(suite_.on_timer(now_ms)); }

std::vector<nlohmann::json> ProtectionSuiteHost::take_actions() {
  std::vector<nlohmann::json> out;
  out.swap(pending_);
  return out;
}

Result<void> ProtectionSuiteHost::restore(const nlohmann::json& settings, const nlohmann::json& state) {
  if (!settings.is_null()) {
    if (auto r = suite_.load_settings(settings); !r) return r;
  }
  if (!state.is_null()) {
    if (auto r = suite_.load_state(state); !r) return r;
  }
  return {};
}

std::pair<std::string, bool> ProtectionSuiteHost::command(const std::vector<std::string>& args) {
  // protections [room] | enable|disable|shadow <name> [room] | config <name> <key> <value> [room]
  if (args.empty() || (args.size() == 1 && args[0] != "enable" && args[0] != "disable" &&
                       args[0] != "shadow" && args[0] != "config")) {
    const std::string room = args.empty() ? "" : args[0];
    std::string text = "Protections" + (room.empty() ? std::string() : " in " + room) + ":";
    for (const auto& s : suite_.status(room)) {
      text += "\n  " + s.name + ": " + mode_word(s.mode) + " — " + std::to_string(s.hits) +
              " hits, " + std::to_string(s.shadow_hits) + " shadow hits, " +
              std::to_string(s.intents) + " actions requested";
    }
    return {text, false};
  }
  const std::string& verb = args[0];
  if (verb == "enable" || verb == "disable" || verb == "shadow") {
    if (args.size() < 2 || args.size() > 3) {
      return {"Usage: protections " + verb + " <name> [room]", false};
    }
    const auto mode = verb == "enable" ? protection::Mode::kEnforce
                      : verb == "shadow" ? protection::Mode::kShadow
                                         : protection::Mode::kOff;
    const std::string room = args.size() == 3 ? args[2] : "";
    if (auto r = suite_.set_mode(args[1], mode, room); !r) return {r.error().message, false};
    return {"Protection " + args[1] + " is now " + mode_word(mode) +
                (room.empty() ? " everywhere" : " in " + room) + ".",
            true};
  }
  // config
  if (args.size() < 4 || args.size() > 5) {
    return {"Usage: protections config <name> <key> <value> [room]", false};
  }
  const std::string room = args.size() == 5 ? args[4] : "";
  if (auto r = suite_.set_config(args[1], args[2], args[3], room); !r) return {r.error().message, false};
  return {"Protection " + args[1] + ": " + args[2] + " = " + args[3] +
              (room.empty() ? "" : " in " + room) + ".",
          true};
}

}  // namespace tyr::plugins
