// The inline veto's decisions (engine/veto asks, the bot answers): joins and invites judged
// against the policy lists like members of protected rooms, events scored by the same scorer
// as the appservice path, on the pipeline thread that owns it.

#include <future>

#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/pipeline/bot.hpp"

namespace tyr::engine {

namespace {

constexpr char kRefusedMember[] = "You are banned from this room by its moderation policy.";
constexpr char kRefusedEvent[] = "This message was refused by the server's spam filter.";

}  // namespace

bool Bot::in_veto_scope(const std::string& room) const {
  return config_.veto.whole_server || rooms_.contains(room);
}

veto::Decision Bot::decide_membership(const veto::Request& request) {
  if (!in_veto_scope(request.room)) return {};
  const bool invite = request.callback == veto::Callback::kUserMayInvite;
  // An invite is refused when either side is listed: a listed inviter spams invites, and a
  // listed invitee would be banned on arrival.
  std::vector<std::string> who = {request.user};
  if (invite && !request.inviter.empty()) who.insert(who.begin(), request.inviter);
  for (const auto& user : who) {
    if (user == bot_user_) continue;
    Judgement j = judge_user(user);
    if (!j.act || !j.exempt.empty()) continue;
    const std::string rule = policy::describe_rule(j.matches.front());
    Batch batch;
    const std::string what = invite ? "invites" : "joins";
    const std::string head =
        std::string(invite ? "invite of " + request.user + " by " + request.inviter
                           : "join of " + request.user) +
        " to " + request.room + " (" + user + " matches " + rule + ")";
    const nlohmann::json subject = {{"room", request.room},
                                    {"user", user},
                                    {"entity", request.user},
                                    {"list", j.matches.front().list},
                                    {"state_key", j.matches.front().state_key},
                                    {"reason", rule}};
    const std::string at = request.gate == "veto" ? "" : " at the policy server";
    if (j.shadow) {
      post_notice(batch, "refused", "[shadow] Would refuse the " + head + at + ".");
      audit_action(batch, subject, invite ? "refuse_invite" : "refuse_join", nullptr, "shadow");
    } else {
      post_notice(batch, "refused", "Refused the " + head + at + ".");
      audit_action(batch, subject, invite ? "refuse_invite" : "refuse_join", nullptr, request.gate);
    }
    if (!batch.empty()) {
      if (auto r = store_.commit(batch); !r) log::error("veto", "commit: " + r.error().to_string());
      if (on_queued_) on_queued_();
    }
    if (j.shadow) return {};
    return {veto::Outcome::kReject, "M_FORBIDDEN", kRefusedMember};
  }
  return {};
}

veto::Decision Bot::decide_event(const veto::Request& request, std::chrono::milliseconds deadline) {
  if (!in_veto_scope(request.room) || request.user == bot_user_) return {};
  if (!pipeline_post_) return veto_event(request.event, request.gate);
  auto promise = std::make_shared<std::promise<veto::Decision>>();
  auto result = promise->get_future();
  pipeline_post_([this, promise, event = request.event, gate = request.gate] {
    try {
      promise->set_value(veto_event(event, gate));
    } catch (const std::exception& e) {
      log::error("veto", std::string("event decision failed: ") + e.what());
      promise->set_value({veto::Outcome::kError, {}, {}});
    }
  });
  if (result.wait_for(deadline) != std::future_status::ready) {
    // The decision still happens (and is remembered for the appservice path); the homeserver
    // does not wait for it.
    return {veto::Outcome::kTimeout, {}, {}};
  }
  return result.get();
}

veto::Decision Bot::veto_event(const nlohmann::json& event, const std::string& gate) {
  const std::string sender = event.value("sender", "");
  const std::string room = event.value("room_id", "");
  const std::string event_id = event.value("event_id", "");
  if (event.contains("state_key") || is_exempt(sender)) return {};
  Batch batch;
  veto::Decision d;
  Judgement j = judge_user(sender);
  if (j.act && j.exempt.empty()) {
    const std::string head = "message from " + sender + " in " + room + " (matches " +
                             policy::describe_rule(j.matches.front()) + ")";
    const nlohmann::json subject = {{"room", room},
                                    {"user", sender},
                                    {"event_id", event_id},
                                    {"list", j.matches.front().list},
                                    {"state_key", j.matches.front().state_key},
                                    {"reason", policy::describe_rule(j.matches.front())}};
    const std::string at = gate == "veto" ? "" : " at the policy server";
    if (j.shadow) {
      post_notice(batch, "refused", "[shadow] Would refuse a " + head + at + ".");
      audit_action(batch, subject, "refuse_event", nullptr, "shadow");
    } else {
      post_notice(batch, "refused", "Refused a " + head + at + ".");
      audit_action(batch, subject, "refuse_event", nullptr, gate);
      d = {veto::Outcome::kReject, "M_FORBIDDEN", kRefusedMember};
    }
  } else if (scoring_.veto(event, batch, gate)) {
    d = {veto::Outcome::kReject, "M_FORBIDDEN", kRefusedEvent};
  }
  if (!batch.empty()) {
    if (auto r = store_.commit(batch); !r) log::error("veto", "commit: " + r.error().to_string());
    if (on_queued_) on_queued_();
  }
  return d;
}

}  // namespace tyr::engine
