// List actions: watching and creating policy lists, writing rules, sweeping protected rooms,
// banning and unbanning what lists name, and server ACLs.

#include <algorithm>

#include <utility>

#include "engine/actions/codec.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/power.hpp"
#include "engine/policy/policy_rule.hpp"
#include "engine/policy/server_acl.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

using policy::EntityKind;

ActionOutcome Bot::run(uint64_t, const actions::WatchList& a, Batch& batch) {
  const std::string room = a.room;
  const std::string reply_to = a.reply_to;
  if (a.quiet) {
    // This reload reads the list's state as it is now: a later catch-up may ask for another.
    std::lock_guard lock(pending_mu_);
    pending_list_reloads_.erase(room);
  }
  auto joined = client_.join(room);
  if (!joined) {
    if (is_retryable(joined.error())) return from_error("join " + room, joined.error());
    enqueue_notice(batch, management_room_,
                   "Could not join list " + room + ": " + joined.error().to_string(), reply_to);
    return {};
  }
  const std::string id = *joined;
  // Read from the answer's text: a large list's DOM would take ten times its text.
  auto text = client_.room_state_text(id);
  if (!text) return from_error("state of " + id, text.error());
  auto state = PolicyBook::read_state(id, text->body);
  if (!state.ok) {
    return from_error("state of " + id,
                      HomeserverClient::room_state_error(id, *text, state.not_array));
  }
  std::string().swap(text->body);
  WatchedList meta;
  if (auto known = book_.find(id)) meta = *known;  // a refresh keeps what Tyr knows of the list
  meta.id = id;
  if (is_room_alias(room)) meta.alias = room;
  for (const auto& s : config_.lists) {
    if (s.room == room || s.room == id) meta.shadow = s.shadow;
  }
  if (state.shortcode) meta.shortcode = *state.shortcode;
  book_.watch(batch, meta);
  auto diffs = book_.load_state(batch, id, std::move(state));
  on_rule_diffs(diffs, batch);
  if (a.quiet) return {};
  auto c = book_.counts(id);
  enqueue_notice(batch, management_room_,
                 "Watching " + id + (meta.alias.empty() ? "" : " (" + meta.alias + ")") + ": " +
                     std::to_string(c[0]) + " user, " + std::to_string(c[2]) + " server, " +
                     std::to_string(c[1]) + " room rules" + (meta.shadow ? " (shadow mode)" : "") +
                     (book_.ignored_rules(id) ? ", " + std::to_string(book_.ignored_rules(id)) +
                                                    " with a recommendation Tyr ignores"
                                              : std::string()) +
                     ".",
                 reply_to);
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::CreateList& a, Batch& batch) {
  const std::string shortcode = a.shortcode;
  const std::string reply_to = a.reply_to;
  nlohmann::json invite = nlohmann::json::array();
  for (const auto& op : config_.management.operators) invite.push_back(op);
  nlohmann::json body = {{"preset", "public_chat"},
                         {"name", "Tyr policy list: " + shortcode},
                         {"topic", "Moderation policy list published by Tyr (" + bot_user_ + ")"},
                         {"invite", invite},
                         {"creation_content", {{"type", "support.feline.policy.lists.msc.v1"}}},
                         {"power_level_content_override", {{"events_default", 50}}},
                         {"initial_state",
                          {{{"type", "org.matrix.mjolnir.shortcode"},
                            {"state_key", ""},
                            {"content", {{"shortcode", shortcode}}}}}}};
  auto room = client_.create_room(body);
  if (!room) {
    if (is_retryable(room.error())) return from_error("create list " + shortcode, room.error());
    enqueue_notice(batch, management_room_,
                   "Could not create list " + shortcode + ": " + room.error().to_string(),
                   reply_to);
    return {};
  }
  WatchedList meta;
  meta.id = *room;
  meta.shortcode = shortcode;
  meta.writable = true;
  book_.watch(batch, meta);
  (void)book_.load_state(batch, meta.id, nlohmann::json::array());
  enqueue_notice(batch, management_room_,
                 "Created policy list " + shortcode + ": " + meta.id + ". Add rules with `" +
                     config_.management.command_prefix + " ban " + shortcode +
                     " <entity> [reason]`; others can watch the room.",
                 reply_to);
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::SetRule& a, Batch& batch) {
  const std::string list = a.list;
  const std::string type = a.type;
  const std::string state_key = a.state_key;
  const nlohmann::json& content = a.content;
  auto sent = client_.send_state(list, type, state_key, content);
  if (!sent) {
    if (is_retryable(sent.error())) return from_error("write rule", sent.error());
    enqueue_notice(batch, management_room_,
                   "Could not write " + type + " " + state_key + " in " + list + ": " +
                       sent.error().to_string(),
                   a.reply_to);
    return {};
  }
  nlohmann::json event = {{"type", type},      {"state_key", state_key}, {"content", content},
                          {"event_id", *sent}, {"sender", bot_user_},    {"room_id", list}};
  std::string problem;
  if (auto diff = book_.apply_event(batch, list, event, &problem);
      diff && (diff->added || diff->removed)) {
    on_rule_diffs({*diff}, batch);
  }
  if (auto summary = a.summary; !summary.empty()) {
    enqueue_notice(batch, management_room_, summary, a.reply_to);
  }
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::Sweep& a, Batch& batch) {
  const std::string room = a.room;
  lists_.sweep_started(room);
  if (!rooms_.contains(room)) return {};
  auto members = client_.joined_members(room);
  if (!members) return from_error("members of " + room, members.error());
  const auto& joined = (*members)["joined"];
  size_t queued = 0;
  for (auto it = joined.begin(); it != joined.end(); ++it) {
    Judgement j = judge_user(it.key());
    if (j.act) {
      lists_.enqueue_ban(batch, room, it.key(), j);
      ++queued;
    }
  }
  auto info = rooms_.snapshot()[room];
  info["members"] = joined.size();
  batch.put(Cf::kState, std::string(state_keys::kRoom) + room, dump_json(info));
  rooms_.add(room, info);
  log::info("policy", "swept " + room + ": " + std::to_string(joined.size()) + " members, " +
                          std::to_string(queued) + " to ban");
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::ListBan& a, Batch& batch) {
  const std::string room = a.room;
  const std::string user = a.user;
  const std::string rule = a.rule;
  if (!rooms_.contains(room)) return {};
  // Judge again at execution time: the rule may be gone, or the user allowlisted since.
  Judgement j = judge_user(user);
  if (!j.act) return {};
  const bool shadow = j.shadow;
  auto member = client_.state_event(room, "m.room.member", user);
  if (member && member->value("membership", "") == "ban") return {};  // never re-issue a ban
  if (shadow) {
    post_notice(batch, "shadow",
                "[shadow] Would ban " + user + " from " + room + ": " + rule + ".");
    audit_action(batch, actions::encode(a), "ban", nullptr, "shadow");
    return {};
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
      post_notice(batch, "bans",
                  "Cannot ban " + user + " from " + room + " (" + rule + "): " + why + ".");
      const Error no_power{"TYR_NO_POWER", why};
      audit_action(batch, actions::encode(a), "ban", &no_power);
      return {};
    }
    auto banned = client_.ban(room, user, a.reason);
    if (!banned && refused_on_stale_power(room, banned.error(), cached)) {
      power = power_in(room);
      continue;
    }
    audit_action(batch, actions::encode(a), "ban", banned ? nullptr : &banned.error());
    if (!banned) {
      if (is_retryable(banned.error())) return from_error("ban " + user, banned.error());
      post_notice(batch, "bans",
                  "Banning " + user + " from " + room + " failed: " + banned.error().to_string());
      return {};
    }
    break;
  }
  const std::string list = a.list, key = a.state_key;
  nlohmann::json record = {{"list", list}, {"state_key", key}, {"ts", now_ms()}};
  batch.put(Cf::kState, std::string(state_keys::kBan) + room + state_keys::kSep + user,
            dump_json(record));
  batch.put(Cf::kState,
            std::string(state_keys::kBanRule) + list + state_keys::kSep + key + state_keys::kSep +
                room + state_keys::kSep + user,
            "");
  post_notice(batch, "bans", "Banned " + user + " from " + room + ": " + rule + ".");
  ActionOutcome done;
  done.retry_after = config_.policy.ban_pacing;  // pacing before the next action
  return done;
}

ActionOutcome Bot::run(uint64_t, const actions::UnbanCheck& a, Batch& batch) {
  const std::string list = a.list, key = a.state_key;
  const std::string prefix =
      std::string(state_keys::kBanRule) + list + state_keys::kSep + key + state_keys::kSep;
  store_.scan(Cf::kState, prefix, [&](std::string_view k, std::string_view) {
    std::string_view rest = k.substr(prefix.size());
    const auto sep = rest.find(state_keys::kSep);
    const std::string room(rest.substr(0, sep)), user(rest.substr(sep + 1));
    batch.del(Cf::kState, k);
    Judgement j = judge_user(user);
    if (j.act && !j.shadow) {
      // Still banned by another rule: the ban now belongs to that rule.
      const auto& r = j.matches.front();
      nlohmann::json record = {{"list", r.list}, {"state_key", r.state_key}, {"ts", now_ms()}};
      batch.put(Cf::kState, std::string(state_keys::kBan) + room + state_keys::kSep + user,
                dump_json(record));
      batch.put(Cf::kState,
                std::string(state_keys::kBanRule) + r.list + state_keys::kSep + r.state_key +
                    state_keys::kSep + room + state_keys::kSep + user,
                "");
      return;
    }
    actions::enqueue(store_, batch,
                     actions::Unban{room, user, "rule " + key + " of " + list + " was removed"});
  });
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::Unban& a, Batch& batch) {
  const std::string room = a.room;
  const std::string user = a.user;
  if (config_.policy.dry_run) {
    post_notice(batch, "dry run", "[dry run] Would unban " + user + " in " + room + ".");
    return {};
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_unban(bot_user_, user); !why.empty()) {
    post_notice(batch, "unbans", "Cannot unban " + user + " in " + room + ": " + why + ".");
    return {};
  }
  // The public reason names no list or rule key; the notice and the audit keep them.
  auto r = client_.unban(room, user, "Tyr: the policy list rule that banned this user was removed");
  audit_action(batch, actions::encode(a), "unban",
               r || r.error().code == "M_BAD_STATE" ? nullptr : &r.error());
  if (!r && is_retryable(r.error())) return from_error("unban " + user, r.error());
  batch.del(Cf::kState, std::string(state_keys::kBan) + room + state_keys::kSep + user);
  if (r || r.error().code == "M_BAD_STATE") {
    post_notice(batch, "unbans", "Unbanned " + user + " in " + room + ": " + a.rule + ".");
  } else {
    post_notice(batch, "unbans",
                "Unbanning " + user + " in " + room + " failed: " + r.error().to_string());
  }
  return {};
}

ActionOutcome Bot::run(uint64_t, const actions::Acl& a, Batch& batch) {
  const std::string room = a.room;
  lists_.acl_started(room);
  if (!rooms_.contains(room)) return {};
  std::vector<std::string> deny;
  for (auto& g : policy::server_deny_globs(book_.enforced_rules(EntityKind::kServer))) {
    if (!is_allowlisted(g)) deny.push_back(std::move(g));
  }
  auto current = client_.state_event(room, "m.room.server_acl");
  if (!current && current.error().code != "M_NOT_FOUND")
    return from_error("ACL of " + room, current.error());
  nlohmann::json cur = current ? *current : nlohmann::json();
  if (cur.is_object() && cur.empty())
    cur = nlohmann::json();                      // never set / redacted: treat as none
  if (deny.empty() && cur.is_null()) return {};  // nothing to deny and no ACL to maintain
  auto plan = policy::plan_server_acl(deny, cur, config_.homeserver.server_name,
                                      lists_.protected_servers());
  if (plan.error) {
    enqueue_notice(batch, management_room_, "Server ACL for " + room + " not sent: " + *plan.error);
    return {};
  }
  bool withheld_changed = false;
  {
    std::lock_guard lock(withheld_mu_);
    auto& last = withheld_[room];
    withheld_changed = plan.withheld != last;
    if (withheld_changed) last = plan.withheld;
  }
  if (withheld_changed) {
    if (!plan.withheld.empty()) {
      std::string text =
          "Server ACL of " + room + ": withheld (would deny Tyr's or an operator's server):";
      for (const auto& w : plan.withheld) text += " " + w;
      enqueue_notice(batch, management_room_, text);
    }
  }
  if (!plan.changed) return {};
  if (config_.policy.dry_run) {
    enqueue_notice(batch, management_room_,
                   "[dry run] Would set the server ACL of " + room + " to deny " +
                       std::to_string(plan.content["deny"].size()) + " servers.");
    return {};
  }
  auto power = power_in(room);
  if (!power) return from_error("power levels of " + room, power.error());
  if (auto why = power->why_cannot_set_state(bot_user_, "m.room.server_acl"); !why.empty()) {
    enqueue_notice(batch, management_room_,
                   "Cannot update the server ACL of " + room + ": " + why + ".");
    return {};
  }
  auto sent = client_.send_state(room, "m.room.server_acl", "", plan.content);
  audit_action(batch, actions::encode(a), "acl", sent ? nullptr : &sent.error(), "live",
               "deny " + std::to_string(plan.content["deny"].size()) + " servers");
  if (!sent) {
    if (is_retryable(sent.error())) return from_error("ACL of " + room, sent.error());
    enqueue_notice(batch, management_room_,
                   "Updating the server ACL of " + room + " failed: " + sent.error().to_string());
    return {};
  }
  enqueue_notice(batch, management_room_,
                 "Server ACL of " + room + " updated: " +
                     std::to_string(plan.content["deny"].size()) + " servers denied.");
  return {};
}

}  // namespace tyr::engine
