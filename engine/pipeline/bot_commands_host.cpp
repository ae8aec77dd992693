// The bot as the host of management-room commands (engine/commands/command_host.hpp): each
// method hands a command what it needs of the bot's state, or does what the bot owns.

#include "engine/actions/codec.hpp"
#include "engine/core/text.hpp"
#include "engine/federation/base64.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

const Config& Bot::config() const { return config_; }
Store& Bot::store() { return store_; }
PolicyBook& Bot::policy_book() { return book_; }
const AuditLog& Bot::audit_log() const { return audit_; }
EventScorer* Bot::scorer() { return scoring_.scorer(); }
protection::Host* Bot::protections() { return scoring_.protections(); }
const std::string& Bot::command_room() const { return management_room_; }
bool Bot::is_exempt_user(const std::string& user_id) const { return is_exempt(user_id); }

std::chrono::seconds Bot::uptime() const {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                          started_);
}

commands::VerdictCounts Bot::verdict_counts() const {
  const auto counts = scoring_.counts();
  return {.notify = counts[1],
          .redact = counts[2],
          .kick = counts[3],
          .ban = counts[4],
          .shadow = scoring_.shadow_counts()};
}

std::vector<std::string> Bot::status_lines() const {
  return status_provider_ ? status_provider_() : std::vector<std::string>{};
}

std::string Bot::find_protected_room(const std::string& id_or_alias) const {
  return rooms_.find(id_or_alias);
}

std::map<std::string, nlohmann::json> Bot::protected_rooms() const { return rooms_.snapshot(); }

void Bot::unprotect_room(Batch& batch, const std::string& room_id) {
  batch.del(Cf::kState, std::string(state_keys::kRoom) + room_id);  // RoomRegistry's key
  rooms_.remove(room_id);
  room_state_.forget(room_id);
}

void Bot::enqueue_action(Batch& batch, const actions::Action& action) {
  actions::enqueue(store_, batch, action);
}

void Bot::apply_rule_diffs(const std::vector<policy::ListDiff>& diffs, Batch& batch) {
  on_rule_diffs(diffs, batch);
}

void Bot::schedule_enforcement(Batch& batch) { lists_.reapply(batch); }

void Bot::request_rules_reload(Batch& batch, const std::string& reply_to) {
  reload_rules(batch, reply_to);
}

std::optional<commands::PolicyServerView> Bot::policy_server_view() const {
  if (policy_server_ == nullptr) return std::nullopt;
  commands::PolicyServerView v;
  v.server_name = policy_server_->server_name();
  v.public_key = federation::base64_encode(policy_server_->key().public_key());
  for (size_t o = 0; o < static_cast<size_t>(policyserver::Outcome::kCount); ++o) {
    const auto outcome = static_cast<policyserver::Outcome>(o);
    v.outcomes.emplace_back(std::string(policyserver::outcome_name(outcome)),
                            policy_server_->stats().count(outcome));
  }
  for (const auto& [room, c] : policy_server_->room_counts())
    v.rooms[room] = {c.signed_events, c.refused_events};
  return v;
}

}  // namespace tyr::engine
