#include "plugins/protection_host.hpp"

#include <algorithm>

namespace tyr::plugins {

ProtectionSuiteHost::ProtectionSuiteHost(Registry registry) : suite_(registry) {}

void ProtectionSuiteHost::collect(ProtectionResult& r) {
  for (auto& req : r.requests) pending_.push_back(std::move(req));
  r.requests.clear();
}

EventVerdict ProtectionSuiteHost::fold(const EventVerdict& rules_verdict,
                                       const nlohmann::json& event, const Features& features,
                                       int64_t now_ms, const RoomFacts& room) {
  engine::protection::EventContext ctx(event, now_ms);
  ctx.power_known = room.known;
  ctx.sender_power =
      static_cast<int>(std::clamp<int64_t>(room.sender_power, -1000000000, 1000000000));
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
    on += m == engine::protection::Mode::kEnforce;
    shadow += m == engine::protection::Mode::kShadow;
  }
  return "protections: " + std::to_string(on) + " on, " + std::to_string(shadow) +
         " in shadow mode, of " + std::to_string(suite_.registry().size());
}

void ProtectionSuiteHost::on_membership(const nlohmann::json& event, int64_t now_ms,
                                        const RoomFacts& room) {
  engine::protection::MembershipContext ctx(event, now_ms);
  ctx.moderators = room.moderators;
  ctx.operators = room.operators;
  auto r = suite_.on_membership(ctx);
  collect(r);
  // Hits on a membership (impersonating names, joins in a wave) are judged like an event's.
  if (r.hits.empty()) return;
  const EventVerdict v = suite_.merge({}, r);
  const std::string room_id = event.value("room_id", ""), user = event.value("state_key", "");
  const std::string who = "membership";
  if (v.action != Action::kAllow) {
    pending_.push_back(
        {engine::protection::Notify{
             room_id, std::string(action_name(v.action)) + " for " + user + ": " + v.explanation},
         who});
  }
  if (v.action >= Action::kKick) {
    const std::string reason = "Tyr: " + decided_text(v);
    const engine::actions::Why why{v.rules, v.score, who};
    if (v.action == Action::kBan)
      pending_.push_back({engine::actions::Ban{room_id, user, reason, why}, who});
    else
      pending_.push_back({engine::actions::Kick{room_id, user, reason, why}, who});
  }
}

void ProtectionSuiteHost::on_timer(int64_t now_ms) {
  auto r = suite_.on_timer(now_ms);
  collect(r);
}

std::vector<engine::protection::Request> ProtectionSuiteHost::take_requests() {
  std::vector<engine::protection::Request> out;
  out.swap(pending_);
  return out;
}

Result<void> ProtectionSuiteHost::restore(const nlohmann::json& settings,
                                          const nlohmann::json& state) {
  if (!settings.is_null()) {
    if (auto r = suite_.load_settings(settings); !r) return r;
  }
  if (!state.is_null()) {
    if (auto r = suite_.load_state(state); !r) return r;
  }
  return {};
}

}  // namespace tyr::plugins
