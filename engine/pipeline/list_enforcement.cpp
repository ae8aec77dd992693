// Ban-list enforcement on the pipeline's side: judging, bans on join, and the reactions to
// rule changes (see list_enforcement.hpp).

#include "engine/pipeline/list_enforcement.hpp"

#include <algorithm>

#include "engine/actions/codec.hpp"
#include "engine/core/glob.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/policy/policy_rule.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

using policy::describe_rule;
using policy::EntityKind;
using policy::Judgement;
using policy::PolicyRule;
using policy::Recommendation;

namespace {

bool enforceable(const PolicyRule& r) {
  return r.recommendation == Recommendation::kBan || r.recommendation == Recommendation::kTakedown;
}

}  // namespace

ListEnforcement::ListEnforcement(const Config& config, Store& store, PolicyBook& book,
                                 const RoomRegistry& rooms, ManagementNotices& notices)
    : config_(config),
      store_(store),
      book_(book),
      rooms_(rooms),
      notices_(notices),
      bot_user_(config.bot_user_id()) {}

void ListEnforcement::sweep_started(const std::string& room) {
  std::lock_guard lock(pending_mu_);
  pending_sweeps_.erase(room);
}

void ListEnforcement::acl_started(const std::string& room) {
  std::lock_guard lock(pending_mu_);
  pending_acl_.erase(room);
}

bool ListEnforcement::is_allowlisted(const std::string& entity) const {
  for (const auto& a : config_.policy.allow) {
    if (glob_matches(a, entity)) return true;
  }
  bool found = false;
  store_.scan(Cf::kState, state_keys::kAllow, [&](std::string_view key, std::string_view) {
    if (!found && glob_matches(key.substr(state_keys::kAllow.size()), entity)) found = true;
  });
  return found;
}

std::vector<std::string> ListEnforcement::protected_servers() const {
  std::vector<std::string> out;
  for (const auto& op : config_.management.operators) out.emplace_back(server_of(op));
  for (const auto& a : config_.policy.allow) {
    if (!a.empty() && a[0] != '@' && a[0] != '!' && a[0] != '#' && !is_glob(a)) out.push_back(a);
  }
  return out;
}

policy::Judgement ListEnforcement::judge_user(const std::string& user_id) const {
  policy::JudgeContext ctx;
  ctx.bot_user = bot_user_;
  ctx.own_server = config_.homeserver.server_name;
  ctx.operators = config_.management.operators;
  ctx.protected_servers = protected_servers();
  ctx.dry_run = config_.policy.dry_run;
  ctx.is_shadow = [this](const std::string& list) { return book_.is_shadow(list); };
  ctx.is_allowlisted = [this](const std::string& e) { return is_allowlisted(e); };
  return policy::judge_user(book_.index(), ctx, user_id);
}

void ListEnforcement::on_member(const nlohmann::json& event, Batch& batch) {
  const auto content = event.value("content", nlohmann::json::object());
  const std::string membership = content.is_object() ? content.value("membership", "") : "";
  if (membership == "ban") {
    offer_list_ban(event, batch);
    return;
  }
  if (membership != "join" && membership != "invite" && membership != "knock") return;
  const std::string user = event.value("state_key", "");
  if (!is_user_id(user)) return;
  Judgement j = judge_user(user);
  if (!j.matches.empty() && !j.exempt.empty()) {
    notices_.post_notice(batch, "exempt",
                         "Not banning " + user + " (" + j.exempt + ") although it matches " +
                             describe_rule(j.matches.front()) + ".");
    return;
  }
  if (j.act) enqueue_ban(batch, event.value("room_id", ""), user, j);
}

// A moderator banned someone by hand: offer to put the ban in a list, so that every protected
// room (and every community following the list) gets it. Answered with the command given.
void ListEnforcement::offer_list_ban(const nlohmann::json& event, Batch& batch) {
  const std::string sender = event.value("sender", "");
  const std::string user = event.value("state_key", "");
  if (sender.empty() || sender == bot_user_ || !is_user_id(user)) return;
  if (judge_user(user).act) return;  // a list bans them already
  const auto content = event.value("content", nlohmann::json::object());
  const std::string reason = content.is_object() ? content.value("reason", "") : "";
  const std::string& prefix = config_.management.command_prefix;
  const auto list = book_.default_list();
  std::string text = escape_untrusted(sender, kMaxQuotedName) + " banned " +
                     escape_untrusted(user, kMaxQuotedName) + " in " + event.value("room_id", "") +
                     (reason.empty() ? "" : " (" + quote_untrusted(reason, 200) + ")") + ". ";
  const std::string why = reason.empty() ? "" : " " + escape_untrusted(reason, 200);
  if (list) {
    const std::string name = !list->shortcode.empty() ? list->shortcode : list->id;
    text += "To ban them in every protected room, add it to " + name + ": `" + prefix + " ban " +
            user + why + "`";
  } else {
    text += "To ban them in every protected room, add it to a list: `" + prefix + " ban <list> " +
            user + why + "`";
  }
  notices_.post_notice(batch, "ban_propagation", text);
}

void ListEnforcement::on_list_event(const nlohmann::json& event, Batch& batch) {
  const std::string room = event.value("room_id", "");
  std::string problem;
  auto diff = book_.apply_event(batch, room, event, &problem);
  if (!problem.empty()) {
    log::warn("policy", "list " + room + ": invalid rule event " + event.value("event_id", "") +
                            " (" + event.value("type", "") + " " + event.value("state_key", "") +
                            "): " + problem + "; treated as a removal");
  }
  if (diff && (diff->added || diff->removed)) on_rule_diffs({*diff}, batch);
}

void ListEnforcement::enqueue_ban(Batch& batch, const std::string& room, const std::string& user,
                                  const policy::Judgement& j) {
  const PolicyRule& r = j.matches.front();
  {
    const auto list = book_.find(r.list);
    metrics::tyr_metrics()
        .list_matches
        .with(metrics::list_label(list ? list->shortcode : "", list ? list->alias : "", r.list),
              metrics::mode(j.shadow))
        .inc();
  }
  actions::enqueue(store_, batch,
                   actions::ListBan{.room = room,
                                    .user = user,
                                    .reason = r.reason.empty() ? "listed in " + r.list : r.reason,
                                    .list = r.list,
                                    .state_key = r.state_key,
                                    .rule = describe_rule(r),
                                    .shadow = j.shadow});
  if (j.takedown) {
    actions::enqueue(store_, batch,
                     actions::RedactUser{.room = room,
                                         .user = user,
                                         .window_s = config_.policy.takedown_redact_window.count(),
                                         .shadow = j.shadow,
                                         .notice = {}});
  }
}

void ListEnforcement::schedule_sweeps(Batch& batch) {
  // Largest rooms first: the member counts seen by the last sweep order them.
  auto rooms = rooms_.snapshot();
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [id, info] : rooms) order.emplace_back(-info.value("members", int64_t{0}), id);
  std::sort(order.begin(), order.end());
  std::lock_guard lock(pending_mu_);
  for (const auto& [neg, id] : order) {
    if (!pending_sweeps_.insert(id).second) continue;
    actions::enqueue(store_, batch, actions::Sweep{id});
  }
}

void ListEnforcement::schedule_acl(Batch& batch) {
  std::lock_guard lock(pending_mu_);
  for (const auto& [id, info] : rooms_.snapshot()) {
    if (!pending_acl_.insert(id).second) continue;
    actions::enqueue(store_, batch, actions::Acl{id});
  }
}

void ListEnforcement::on_rule_diffs(const std::vector<policy::ListDiff>& diffs, Batch& batch) {
  bool sweep = false, acl = false;
  for (const auto& d : diffs) {
    if (d.removed && enforceable(*d.removed)) {
      if (d.removed->kind == EntityKind::kServer) acl = true;
      if (d.removed->kind != EntityKind::kRoom) {
        actions::enqueue(store_, batch, actions::UnbanCheck{d.removed->list, d.removed->state_key});
      }
    }
    if (d.added && enforceable(*d.added)) {
      if (d.added->kind == EntityKind::kServer) acl = true;
      if (d.added->kind != EntityKind::kRoom) sweep = true;
      if (d.added->kind == EntityKind::kRoom) {
        for (const auto& [id, info] : rooms_.snapshot()) {
          std::vector<policy::PolicyRuleRef> hits;
          auto snapshot = book_.index().snapshot();
          snapshot->match(EntityKind::kRoom, id, hits);
          const std::string alias = info.value("alias", "");
          if (!alias.empty()) snapshot->match(EntityKind::kRoom, alias, hits);
          if (!hits.empty()) {
            notices_.notify(batch, "Protected room " + id +
                                       " is now on a ban list: " + describe_rule(*hits.front()) +
                                       ". Consider `" + config_.management.command_prefix +
                                       " rooms remove " + id + "`.");
          }
        }
      }
    }
  }
  if (rooms_.size() == 0) return;
  if (sweep) schedule_sweeps(batch);
  if (acl) schedule_acl(batch);
}

size_t ListEnforcement::apply_feed(const std::string& name, const std::vector<PolicyRule>& rules,
                                   bool shadow) {
  auto diffs = book_.replace_feed(name, rules, shadow);
  if (diffs.empty()) return 0;
  Batch batch;
  on_rule_diffs(diffs, batch);
  if (auto r = store_.commit(batch); !r)
    log::error("policy", "feed commit: " + r.error().to_string());
  return diffs.size();
}

}  // namespace tyr::engine
