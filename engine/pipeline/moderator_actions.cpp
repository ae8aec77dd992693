// Runners of the moderator's wider tools: `verify` (Tyr's power in each protected room),
// `since` (everyone who joined or spoke in a window), `import` (a room's bans into a list), and
// the Synapse admin API (`suspend`, `unsuspend`, `deactivate`, `shutdown room`).

#include <set>

#include "engine/actions/codec.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/power.hpp"
#include "engine/policy/policy_rule.hpp"

namespace tyr::engine {

namespace {

constexpr size_t kMaxSinceUsers = 1000;    // users one `since` acts on
constexpr int kMaxSincePages = 50;         // pages of 100 events read back
constexpr size_t kMaxImportedBans = 5000;  // rules one `import` writes

ActionOutcome refused(std::string result) {
  ActionOutcome out;
  out.result = std::move(result);
  return out;
}

// "ban 50 (has 0)" when `mine` is below `needed`; empty otherwise.
std::string shortfall(std::string_view what, int64_t needed, int64_t mine) {
  if (mine >= needed) return {};
  return std::string(what) + " (needs " + std::to_string(needed) + ")";
}

}  // namespace

ActionOutcome Bot::run(uint64_t, const actions::Verify& a, Batch& batch) {
  const auto rooms = rooms_.snapshot();
  if (rooms.empty()) {
    enqueue_notice(batch, management_room_, "Tyr protects no rooms yet.", a.reply_to);
    return {};
  }
  std::string text;
  size_t ready = 0;
  for (const auto& [room, info] : rooms) {
    std::string name = room;
    if (info.is_object() && info.contains("alias") && info["alias"].is_string())
      name += " (" + escape_untrusted(info["alias"].get<std::string>(), kMaxQuotedName) + ")";
    auto power = power_in(room);
    if (!power) {
      if (is_outage(power.error())) return from_error("power levels of " + room, power.error());
      text += "\n- " + name + ": cannot read its power levels (" + power.error().to_string() +
              "); is Tyr still in the room?";
      continue;
    }
    const int64_t mine = power->level(bot_user_);
    std::vector<std::string> missing;
    for (auto s :
         {shortfall("ban", power->ban_level(), mine), shortfall("kick", power->kick_level(), mine),
          shortfall("redact", power->redact_level(), mine),
          shortfall("mute (m.room.power_levels)", power->state_level("m.room.power_levels"), mine),
          shortfall("server ACLs (m.room.server_acl)", power->state_level("m.room.server_acl"),
                    mine),
          shortfall("join rules (m.room.join_rules)", power->state_level("m.room.join_rules"),
                    mine)}) {
      if (!s.empty()) missing.push_back(std::move(s));
    }
    const std::string level =
        power->is_creator(bot_user_) ? "creator" : "power " + std::to_string(mine);
    if (missing.empty()) {
      ++ready;
      text += "\n- " + name + ": ready (" + level + ")";
    } else {
      text += "\n- " + name + ": " + level + ", cannot " + join(missing, ", ");
    }
  }
  const std::string head = ready == rooms.size()
                               ? "Tyr has the power it needs in all " +
                                     std::to_string(rooms.size()) + " protected room(s):"
                               : "Tyr lacks power in " + std::to_string(rooms.size() - ready) +
                                     " of " + std::to_string(rooms.size()) +
                                     " protected room(s); give it a higher power level there:";
  enqueue_notice(batch, management_room_, head + text, a.reply_to);
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::Since& a, Batch& batch) {
  if (!rooms_.contains(a.room)) return {};
  const int64_t since = a.since_ms;
  // Who joined or sent anything since `since`, newest first, read back from the room's history.
  std::vector<std::string> users;
  std::set<std::string> seen;
  std::string from;
  for (int page = 0; page < kMaxSincePages && users.size() < kMaxSinceUsers; ++page) {
    auto res = client_.messages(a.room, "b", from, 100);
    if (!res) return from_error("history of " + a.room, res.error());
    bool older = false;
    for (const auto& ev : (*res)["chunk"]) {
      if (!ev.is_object()) continue;
      if (ev.value("origin_server_ts", int64_t{0}) < since) {
        older = true;
        break;
      }
      std::string user = ev.value("sender", "");
      if (ev.value("type", "") == "m.room.member") {
        const auto content = ev.value("content", nlohmann::json::object());
        if (!content.is_object() || content.value("membership", "") != "join") continue;
        user = ev.value("state_key", "");
      }
      if (!is_user_id(user) || is_exempt(user) || !seen.insert(user).second) continue;
      users.push_back(user);
      if (users.size() >= kMaxSinceUsers) break;
    }
    if (older || !res->contains("end") || !(*res)["end"].is_string()) break;
    from = (*res)["end"].get<std::string>();
  }
  const std::string reason = a.reason.empty() ? "Tyr: removed after a raid" : a.reason;
  for (const auto& user : users) {
    if (a.verb == "kick") {
      enqueue_action(batch, actions::Kick{a.room, user, reason, {}});
    } else if (a.verb == "ban") {
      enqueue_action(batch, actions::Ban{a.room, user, reason, {}});
    } else if (a.verb == "mute") {
      enqueue_action(batch, actions::Mute{a.room, user, reason, false, {}});
    } else {
      actions::RedactUser r;
      r.room = a.room;
      r.user = user;
      r.window_s = std::max<int64_t>(1, (now_ms() - since + 999) / 1000);
      enqueue_action(batch, r);
    }
  }
  std::string text = users.empty() ? "Nobody joined or spoke in " + a.room + " in that time."
                                   : "Queued: " + a.verb + " " + std::to_string(users.size()) +
                                         " user(s) who joined or spoke in " + a.room + ": " +
                                         join(users, ", ", 20) + ".";
  if (users.size() >= kMaxSinceUsers)
    text += " (Stopped at " + std::to_string(kMaxSinceUsers) + "; run it again for more.)";
  enqueue_notice(batch, management_room_, text, a.reply_to);
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::ImportBans& a, Batch& batch) {
  auto list = book_.find(a.list);
  if (!list || !list->writable) {
    enqueue_notice(batch, management_room_, a.list + " is no longer a list Tyr can write.",
                   a.reply_to);
    return {};
  }
  auto banned = client_.members(a.room, "ban");
  if (!banned) {
    if (is_retryable(banned.error())) return from_error("bans of " + a.room, banned.error());
    enqueue_notice(batch, management_room_,
                   "Could not read the bans of " + a.room + ": " + banned.error().to_string(),
                   a.reply_to);
    return {};
  }
  size_t added = 0, present = 0, exempt = 0;
  for (const auto& ev : *banned) {
    if (!ev.is_object()) continue;
    const std::string user = ev.value("state_key", "");
    if (!is_user_id(user)) continue;
    if (is_exempt(user)) {
      ++exempt;
      continue;
    }
    if (!book_.rules_for_entity(list->id, user).empty()) {
      ++present;
      continue;
    }
    if (added >= kMaxImportedBans) break;
    const auto content = ev.value("content", nlohmann::json::object());
    std::string reason = content.is_object() ? content.value("reason", "") : "";
    reason = reason.empty() ? "banned in " + a.room : truncate_utf8(reason, 500);
    enqueue_action(batch, actions::SetRule{list->id,
                                           policy::stable_type(policy::EntityKind::kUser),
                                           "rule:" + user,
                                           {{"entity", user},
                                            {"recommendation", "m.ban"},
                                            {"reason", sanitize_utf8(reason)}},
                                           {},
                                           {}});
    ++added;
  }
  std::string text =
      "Importing " + std::to_string(added) + " ban(s) from " + a.room + " into " + a.list + ".";
  if (present > 0) text += " " + std::to_string(present) + " already had a rule there.";
  if (exempt > 0)
    text += " " + std::to_string(exempt) + " left out (operators, Tyr or allowlisted).";
  if (added >= kMaxImportedBans) text += " Stopped at " + std::to_string(added) + "; run it again.";
  enqueue_notice(batch, management_room_, text, a.reply_to);
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::AdminUser& a, Batch& batch) {
  const std::string& token = config_.homeserver.admin_token;
  if (token.empty()) {
    enqueue_notice(batch, management_room_,
                   "Cannot " + a.op + " " + a.user +
                       ": homeserver.admin_token is not configured (a server admin's token).",
                   a.reply_to);
    return refused("no_token");
  }
  HttpRequest req;
  req.bearer_token = token;
  const std::string user = HomeserverClient::encode_segment(a.user);
  if (a.op == "deactivate") {
    req.method = "POST";
    req.path = "/_synapse/admin/v1/deactivate/" + user;
    req.body = nlohmann::json{{"erase", false}};
  } else {
    req.method = "PUT";
    req.path = "/_synapse/admin/v1/suspend/" + user;
    req.body = nlohmann::json{{"suspend", a.op == "suspend"}};
  }
  auto r = client_.call(req);
  audit_action(batch, actions::encode(a), a.op, r ? nullptr : &r.error());
  if (!r) {
    if (is_outage(r.error())) return from_error(a.op + " " + a.user, r.error());
    enqueue_notice(batch, management_room_,
                   "Could not " + a.op + " " + a.user + ": " + r.error().to_string(), a.reply_to);
    return refused(r.error().code.empty() ? "error" : r.error().code);
  }
  const std::string done =
      a.op == "suspend" ? "Suspended " + a.user + ": they can read but send nothing until `" +
                              config_.management.command_prefix + " unsuspend " + a.user + "`."
      : a.op == "unsuspend" ? "Unsuspended " + a.user + "."
                            : "Deactivated " + a.user + " (their messages and media are kept).";
  enqueue_notice(batch, management_room_, done, a.reply_to);
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::ShutdownRoom& a, Batch& batch) {
  const std::string& token = config_.homeserver.admin_token;
  if (token.empty()) {
    enqueue_notice(batch, management_room_,
                   "Cannot shut down " + a.room +
                       ": homeserver.admin_token is not configured (a server admin's token).",
                   a.reply_to);
    return refused("no_token");
  }
  std::string room = a.room;
  if (!room.empty() && room[0] == '#') {
    auto resolved = client_.resolve_alias(room);
    if (!resolved) {
      if (is_outage(resolved.error())) return from_error("alias " + room, resolved.error());
      enqueue_notice(batch, management_room_,
                     "Cannot shut down " + room + ": " + resolved.error().to_string(), a.reply_to);
      return refused("unknown_room");
    }
    room = resolved->room_id;
  }
  HttpRequest req;
  req.method = "DELETE";
  req.bearer_token = token;
  req.path = "/_synapse/admin/v2/rooms/" + HomeserverClient::encode_segment(room);
  nlohmann::json body = {{"block", true}, {"purge", true}};
  if (!a.reason.empty()) body["message"] = a.reason;
  req.body = body;
  auto r = client_.call(req);
  audit_action(batch, actions::encode(a), "shutdown_room", r ? nullptr : &r.error());
  if (!r) {
    if (is_outage(r.error())) return from_error("shut down " + room, r.error());
    enqueue_notice(batch, management_room_,
                   "Could not shut down " + room + ": " + r.error().to_string(), a.reply_to);
    return refused(r.error().code.empty() ? "error" : r.error().code);
  }
  if (rooms_.contains(room)) unprotect_room(batch, room);
  enqueue_notice(batch, management_room_,
                 "Shutting down " + room +
                     ": the homeserver removes its local members, blocks it and purges it.",
                 a.reply_to);
  return {};
}

}  // namespace tyr::engine
