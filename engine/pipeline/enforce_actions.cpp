// Enforcement actions: redactions (one event, or a user's recent messages), kicks, bans decided
// by rules, protections or moderators, and protections' join-rule changes.

#include <utility>

#include "engine/actions/codec.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/text.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/power.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

namespace {

constexpr size_t kMaxRedactions = 1000;

}  // namespace

ActionOutcome Bot::run(uint64_t seq, const actions::RedactUser& a, Batch& batch) {
  const std::string room = a.room;
  const std::string user = a.user;
  const int64_t since = now_ms() - a.window_s * 1000;
  if (a.shadow) {
    post_notice(batch, "shadow",
                "[shadow] Would redact recent messages of " + user + " in " + room + ".");
    audit_action(batch, actions::encode(a), "redact_user", nullptr, "shadow");
    return {};
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_redact(bot_user_, user); !why.empty()) {
    post_notice(batch, "redactions", "Cannot redact " + user + " in " + room + ": " + why + ".");
    return {};
  }
  std::vector<std::string> targets;
  std::string from;
  const nlohmann::json filter = {{"senders", {user}}};
  for (int page = 0; page < 50 && targets.size() < kMaxRedactions; ++page) {
    auto res = client_.messages(room, "b", from, 100, filter);
    if (!res) return from_error("history of " + room, res.error());
    bool older = false;
    for (const auto& ev : (*res)["chunk"]) {
      if (ev.value("origin_server_ts", int64_t{0}) < since) {
        older = true;
        break;
      }
      if (ev.contains("state_key") || ev.value("type", "") == "m.room.redaction") continue;
      if (ev.contains("unsigned") && ev["unsigned"].contains("redacted_because")) continue;
      if (ev.value("content", nlohmann::json::object()).empty()) continue;
      targets.push_back(ev.value("event_id", ""));
    }
    if (older || !res->contains("end")) break;
    from = (*res)["end"].get<std::string>();
  }
  size_t done = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    // Each redaction's txnId derives from this action's: a retry after a crash is deduplicated.
    auto r = client_.redact(
        room, targets[i],
        "tyr." + store_.instance_id() + "." + std::to_string(seq) + "." + std::to_string(i),
        "Removed by Tyr");
    if (!r) {
      if (is_retryable(r.error())) return from_error("redact in " + room, r.error());
      if (r.error().code == "M_FORBIDDEN") power_cache_.forget_power_levels(room);
      continue;
    }
    ++done;
  }
  audit_action(batch, actions::encode(a), "redact_user", nullptr, "live",
               std::to_string(done) + " events redacted");
  if (!a.notice.empty()) {
    post_notice(batch, "acting",
                a.notice + "\nRemoved " + std::to_string(done) +
                    " message(s) they sent in the last " + std::to_string(a.window_s) + " s.");
  } else if (done > 0 || a.report) {
    post_notice(batch, "redactions",
                "Redacted " + std::to_string(done) + " events of " + user + " in " + room + ".");
  }
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::SetJoinRule& a, Batch& batch) {
  return run_join_rule(a, a.join_rule, a.why, batch);
}

ActionOutcome Bot::run(uint64_t, const actions::RestoreJoinRule& a, Batch& batch) {
  return run_join_rule(a, std::nullopt, a.why, batch);
}

ActionOutcome Bot::run_join_rule(const actions::Action& action,
                                 const std::optional<std::string>& raise_to,
                                 const actions::Why& why_asked, Batch& batch) {
  const std::string& room = actions::room_of(action);
  const std::string saved_key = std::string(state_keys::kJoinRule) + room;
  nlohmann::json content;
  if (raise_to) {
    auto current = client_.state_event(room, "m.room.join_rules");
    if (!current && current.error().code != "M_NOT_FOUND")
      return from_error("join rules of " + room, current.error());
    // Keep the rule in force before the first raise; a second raise must not overwrite it.
    if (!store_.get(Cf::kState, saved_key)) {
      batch.put(Cf::kState, saved_key,
                (current ? *current : nlohmann::json{{"join_rule", "public"}}).dump());
    }
    content = current ? *current : nlohmann::json::object();
    content["join_rule"] = *raise_to;
  } else {
    auto saved = store_.get(Cf::kState, saved_key);
    if (!saved) return {};
    content = nlohmann::json::parse(*saved, nullptr, false);
    if (!content.is_object()) return {};
    batch.del(Cf::kState, saved_key);
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_set_state(bot_user_, "m.room.join_rules"); !why.empty()) {
    enqueue_notice(batch, management_room_,
                   "Cannot change the join rule of " + room + ": " + why + ".");
    const Error no_power{"TYR_NO_POWER", why};
    audit_action(batch, actions::encode(action), actions::name_of(action), &no_power);
    return {};
  }
  auto sent = client_.send_state(room, "m.room.join_rules", "", content);
  audit_action(batch, actions::encode(action), actions::name_of(action),
               sent ? nullptr : &sent.error(), "live",
               "join rule " + content.value("join_rule", ""));
  if (!sent) {
    if (is_retryable(sent.error())) return from_error("join rules of " + room, sent.error());
    enqueue_notice(batch, management_room_,
                   "Changing the join rule of " + room + " failed: " + sent.error().to_string());
    return {};
  }
  enqueue_notice(batch, management_room_,
                 "Join rule of " + room + " is now " + content.value("join_rule", "") + " (" +
                     (why_asked.protection.empty() ? "protection" : why_asked.protection) + ").");
  return {};
}

ActionOutcome Bot::run(uint64_t seq, const actions::RedactEvent& a, Batch& batch) {
  const std::string room = a.room;
  const std::string sender = a.sender;
  bool cached = false;
  auto power = cached_power_in(room, cached);
  for (;;) {  // twice at most: see refused_on_stale_power
    if (!power) return from_error("power levels of " + room, power.error());
    if (auto why = power->why_cannot_redact(bot_user_, sender); !why.empty()) {
      if (std::exchange(cached, false)) {  // a refusal always comes from fresh levels
        power = power_in(room);
        continue;
      }
      post_notice(batch, "errors", "Cannot redact in " + room + ": " + why + ".");
      const Error no_power{"TYR_NO_POWER", why};
      audit_action(batch, actions::encode(a), "redact", &no_power);
      return {};
    }
    auto r = client_.redact(room, a.event_id, txn_id(seq), a.reason);
    if (!r && refused_on_stale_power(room, r.error(), cached)) {
      power = power_in(room);
      continue;
    }
    audit_action(batch, actions::encode(a), "redact", r ? nullptr : &r.error());
    if (!r) {
      if (is_retryable(r.error())) return from_error("redact in " + room, r.error());
      post_notice(batch, "errors", "Redaction in " + room + " failed: " + r.error().to_string());
    }
    return {};
  }
}

ActionOutcome Bot::run(uint64_t, const actions::Kick& a, Batch& batch) {
  const std::string room = a.room;
  const std::string user = a.user;
  bool cached = false;
  auto power = cached_power_in(room, cached);
  bool member_read = false;
  for (;;) {  // twice at most: see refused_on_stale_power
    if (!power) return from_error("power levels of " + room, power.error());
    if (power->level(bot_user_) < power->kick_level() ||
        power->level(user) >= power->level(bot_user_)) {
      if (std::exchange(cached, false)) {  // a refusal always comes from fresh levels
        power = power_in(room);
        continue;
      }
      post_notice(batch, "errors", "Cannot kick " + user + " from " + room + ": not enough power.");
      const Error no_power{"TYR_NO_POWER", "not enough power"};
      audit_action(batch, actions::encode(a), "kick", &no_power);
      ActionOutcome refused;
      refused.result = "no_power";
      return refused;
    }
    if (!member_read) {
      member_read = true;
      auto member = client_.state_event(room, "m.room.member", user);
      const std::string membership = member ? member->value("membership", "") : "";
      if (membership != "join" && membership != "invite" && membership != "knock") {
        ActionOutcome skipped;  // already gone (an earlier kick, or they left)
        skipped.result = "skipped";
        return skipped;
      }
    }
    auto r = client_.kick(room, user, a.reason);
    if (!r && refused_on_stale_power(room, r.error(), cached)) {
      power = power_in(room);
      continue;
    }
    audit_action(batch, actions::encode(a), "kick", r ? nullptr : &r.error());
    if (!r) {
      if (is_retryable(r.error())) return from_error("kick " + user, r.error());
      post_notice(batch, "errors", "Kicking " + user + " failed: " + r.error().to_string());
      ActionOutcome refused;
      refused.result = r.error().code.empty() ? "error" : r.error().code;
      return refused;
    }
    return {};
  }
}

ActionOutcome Bot::run(uint64_t, const actions::Ban& a, Batch& batch) {
  const std::string room = a.room;
  const std::string user = a.user;
  auto member = client_.state_event(room, "m.room.member", user);
  if (member && member->value("membership", "") == "ban") {  // never re-issue a ban
    ActionOutcome skipped;
    skipped.result = "skipped";
    return skipped;
  }
  bool cached = false;
  auto power = cached_power_in(room, cached);
  for (;;) {  // twice at most: see refused_on_stale_power
    if (!power) return from_error("power levels of " + room, power.error());
    if (auto why = power->why_cannot_ban(bot_user_, user); !why.empty()) {
      if (std::exchange(cached, false)) {  // a refusal always comes from fresh levels
        power = power_in(room);
        continue;
      }
      post_notice(batch, "errors", "Cannot ban " + user + " from " + room + ": " + why + ".");
      const Error no_power{"TYR_NO_POWER", why};
      audit_action(batch, actions::encode(a), "ban", &no_power);
      return {};
    }
    auto r = client_.ban(room, user, a.reason);
    if (!r && refused_on_stale_power(room, r.error(), cached)) {
      power = power_in(room);
      continue;
    }
    audit_action(batch, actions::encode(a), "ban", r ? nullptr : &r.error());
    if (!r) {
      if (is_retryable(r.error())) return from_error("ban " + user, r.error());
      post_notice(batch, "errors", "Banning " + user + " failed: " + r.error().to_string());
    }
    return {};
  }
}

// Mutes by power level: the user gets events_default - 1 (they can send no message), and
// unmuting removes exactly that override. Changing power levels needs the power to send
// m.room.power_levels and more power than the user has.
ActionOutcome Bot::run(uint64_t, const actions::Mute& a, Batch& batch) {
  const std::string verb = a.unmute ? "unmute" : "mute";
  auto power = power_in(a.room);
  if (!power) return from_error("power levels of " + a.room, power.error());
  std::string why = power->why_cannot_set_state(bot_user_, "m.room.power_levels");
  if (why.empty() && power->level(a.user) >= power->level(bot_user_)) {
    why = a.user + " has as much power as Tyr or more";
  }
  if (!why.empty()) {
    post_notice(batch, "errors",
                "Cannot " + verb + " " + a.user + " in " + a.room + ": " + why + ".");
    const Error no_power{"TYR_NO_POWER", why};
    audit_action(batch, actions::encode(a), verb, &no_power);
    ActionOutcome refused;
    refused.result = "no_power";
    return refused;
  }
  auto pl = client_.state_event(a.room, "m.room.power_levels");
  if (!pl) return from_error("power levels of " + a.room, pl.error());
  nlohmann::json content = pl->is_object() ? *pl : nlohmann::json::object();
  auto number = [&content](const char* key, int64_t fallback) {
    auto it = content.find(key);
    return it != content.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
  };
  const int64_t events_default = number("events_default", 0);
  if (!content["users"].is_object()) content["users"] = nlohmann::json::object();
  nlohmann::json& users = content["users"];
  const int64_t muted_level = events_default - 1;
  const bool is_muted = power->level(a.user) < events_default;
  if (a.unmute ? !(is_muted && users.contains(a.user)) : is_muted) {
    ActionOutcome skipped;  // already as asked
    skipped.result = "skipped";
    return skipped;
  }
  if (a.unmute) {
    users.erase(a.user);
  } else {
    users[a.user] = muted_level;
  }
  auto sent = client_.send_state(a.room, "m.room.power_levels", "", content);
  power_cache_.forget_power_levels(a.room);  // changed, or refused because it was stale
  audit_action(batch, actions::encode(a), verb, sent ? nullptr : &sent.error());
  if (!sent) {
    if (is_retryable(sent.error())) return from_error(verb + " " + a.user, sent.error());
    post_notice(
        batch, "errors",
        "Could not " + verb + " " + a.user + " in " + a.room + ": " + sent.error().to_string());
    ActionOutcome refused;
    refused.result = sent.error().code.empty() ? "error" : sent.error().code;
    return refused;
  }
  return {};
}

}  // namespace tyr::engine
