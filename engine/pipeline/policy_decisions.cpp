// The policy server's decisions (engine/policyserver asks, the bot answers): the events other
// homeservers ask Tyr to sign are judged like the inline veto's, by the same judge and scorer,
// and recorded with mode "policy_server" in the audit trail.

#include "engine/actions/codec.hpp"
#include "engine/core/log.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/power.hpp"

namespace tyr::engine {

Result<std::string> Bot::room_version(const std::string& room_id) {
  {
    std::lock_guard lock(versions_mu_);
    if (auto it = room_versions_.find(room_id); it != room_versions_.end()) return it->second;
  }
  auto create = client_.state_event(room_id, "m.room.create", "");
  if (!create) return create.error();
  // A create event without room_version is a version 1 room.
  std::string version = "1";
  if (create->is_object()) {
    auto it = create->find("room_version");
    if (it != create->end() && it->is_string()) version = it->get<std::string>();
  }
  std::lock_guard lock(versions_mu_);
  // A room's version never changes (an upgrade is a new room); the map grows with the rooms Tyr
  // protects, and is bounded anyway.
  if (room_versions_.size() >= 100'000) room_versions_.clear();
  room_versions_.emplace(room_id, version);
  return version;
}

policyserver::Judgement Bot::judge_event(const nlohmann::json& event, const std::string& origin,
                                         std::chrono::milliseconds deadline) {
  const std::string type = event.value("type", "");
  const std::string room = event.value("room_id", "");
  veto::Request request;
  request.gate = "policy_server";
  request.room = room;
  if (event.contains("state_key")) {
    // Of state, only arrivals are judged: a join, knock or invite of someone a list bans.
    if (type != "m.room.member") return {};
    const auto& content = event["content"];
    const std::string membership =
        content.is_object() ? content.value("membership", std::string()) : std::string();
    if (membership == "join" || membership == "knock") {
      request.callback = veto::Callback::kUserMayJoinRoom;
      request.user = event.value("state_key", "");
    } else if (membership == "invite") {
      request.callback = veto::Callback::kUserMayInvite;
      request.user = event.value("state_key", "");
      request.inviter = event.value("sender", "");
    } else {
      return {};
    }
    veto::Decision d = decide_membership(request);
    if (d.outcome == veto::Outcome::kReject) return {true, false, d.error};
    return {};
  }
  request.callback = veto::Callback::kCheckEventForSpam;
  request.user = event.value("sender", "");
  request.event = event;
  veto::Decision d = decide_event(request, deadline);
  switch (d.outcome) {
    case veto::Outcome::kReject:
    case veto::Outcome::kDrop: return {true, false, d.error};
    case veto::Outcome::kTimeout: return {false, true, {}};
    case veto::Outcome::kError:
      log::warn("policy-server", "no decision for an event " + origin + " asked about in " + room);
      return {false, true, {}};
    default: return {};
  }
}

ActionOutcome Bot::run(uint64_t, const actions::SetPolicyServer& a, Batch& batch) {
  const std::string& room = a.room;
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_set_state(bot_user_, "m.room.policy"); !why.empty()) {
    enqueue_notice(batch, management_room_,
                   "Cannot " + std::string(a.disable ? "clear" : "set") + " the policy server of " +
                       room + ": " + why +
                       ". Give Tyr the power level for the m.room.policy state event.",
                   a.reply_to);
    const Error no_power{"TYR_NO_POWER", why};
    audit_action(batch, actions::encode(a), actions::name_of(a), &no_power);
    return {};
  }
  nlohmann::json content = nlohmann::json::object();
  if (!a.disable) content = {{"via", a.via}, {"public_keys", {{"ed25519", a.public_key}}}};
  auto sent = client_.send_state(room, "m.room.policy", "", content);
  audit_action(batch, actions::encode(a), actions::name_of(a), sent ? nullptr : &sent.error());
  if (!sent) {
    if (is_retryable(sent.error())) return from_error("m.room.policy of " + room, sent.error());
    enqueue_notice(batch, management_room_,
                   "Setting the policy server of " + room + " failed: " + sent.error().to_string(),
                   a.reply_to);
    return {};
  }
  enqueue_notice(batch, management_room_,
                 a.disable
                     ? "Policy server of " + room + " cleared: other servers no longer ask Tyr."
                     : "Policy server of " + room + " is now " + a.via +
                           ": every other server in the room asks Tyr to sign each event before "
                           "accepting it.",
                 a.reply_to);
  return {};
}

}  // namespace tyr::engine
