// The executor's side of the bot: the table of actions with their runners, and the runners for
// notices and for protecting a new room. List actions are in list_actions.cpp, enforcement
// (redactions, kicks, bans, join rules) in enforce_actions.cpp.

#include <algorithm>
#include <array>

#include "engine/actions/codec.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/power.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

namespace {

// One runner per action type: the table below binds each to the Bot overload that runs it.
struct ActionSpec {
  std::string_view name;
  Priority priority;
  ActionOutcome (*run)(Bot&, uint64_t seq, const actions::Action&, Batch&);
};

template <class T>
ActionOutcome run_as(Bot& bot, uint64_t seq, const actions::Action& a, Batch& batch) {
  return bot.run(seq, std::get<T>(a), batch);
}

template <size_t... I>
constexpr auto make_table(std::index_sequence<I...>) {
  return std::array<ActionSpec, sizeof...(I)>{
      ActionSpec{std::variant_alternative_t<I, actions::Action>::kName,
                 std::variant_alternative_t<I, actions::Action>::kPriority,
                 &run_as<std::variant_alternative_t<I, actions::Action>>}...};
}

// Every action Tyr can run, in the variant's order (a missing runner does not compile).
constexpr auto kActions =
    make_table(std::make_index_sequence<std::variant_size_v<actions::Action>>{});

}  // namespace

std::string Bot::txn_id(uint64_t seq) const {
  return "tyr." + store_.instance_id() + "." + std::to_string(seq);
}

ActionOutcome Bot::run_action(uint64_t seq, const nlohmann::json& json, Batch& batch) {
  auto action = actions::decode(json);
  if (!action) return {ActionOutcome::Kind::kFailed, {}, action.error().message};
  return kActions[action->index()].run(*this, seq, *action, batch);
}

std::string Bot::lane_of(const nlohmann::json& json) const {
  // A per-room action (kPerRoom, engine/actions/action.hpp) runs in its room's lane. A notice
  // is ordered with the other notices of its room (the management room), after the action that
  // queued it.
  if (!json.is_object()) return {};
  auto kind = json.find("kind");
  auto room = json.find("room");
  if (kind == json.end() || !kind->is_string() || room == json.end() || !room->is_string())
    return {};
  if (!actions::is_per_room(kind->get_ref<const std::string&>())) return {};
  return room->get<std::string>();
}

ActionOutcome Bot::run(uint64_t seq, const actions::Notice& a, Batch&) {
  // Notices quote what others wrote (names, reasons, excerpts), so nothing in the body may
  // ping: an m.mentions naming nobody turns off the body-based mention rules ("@room",
  // display names, user IDs; spec v1.7 intentional mentions). Tyr never means to ping.
  nlohmann::json content = {
      {"msgtype", "m.notice"}, {"body", a.body}, {"m.mentions", nlohmann::json::object()}};
  if (!a.reply_to.empty())
    content["m.relates_to"] = {{"m.in_reply_to", {{"event_id", a.reply_to}}}};
  auto res = client_.send_event(a.room, "m.room.message", content, txn_id(seq));
  if (res) return {};
  return from_error("notice", res.error());
}

ActionOutcome Bot::from_error(const std::string& what, const Error& e) {
  ActionOutcome out{is_retryable(e) ? ActionOutcome::Kind::kRetry : ActionOutcome::Kind::kFailed,
                    std::chrono::milliseconds(std::max<int64_t>(e.retry_after_ms, 1000)),
                    what + ": " + e.to_string()};
  out.outage = is_outage(e);
  return out;
}

Result<PowerLevels> Bot::power_in(const std::string& room_id) {
  bool cached = false;
  return read_power(room_id, false, cached);
}

Result<PowerLevels> Bot::cached_power_in(const std::string& room_id, bool& cached) {
  return read_power(room_id, true, cached);
}

Result<PowerLevels> Bot::read_power(const std::string& room_id, bool cache_ok, bool& cached) {
  cached = false;
  auto create_event = power_cache_.create_event(room_id);
  if (!create_event) {
    HttpRequest req;
    req.method = "GET";
    req.path = "/_matrix/client/v3/rooms/" + HomeserverClient::encode_segment(room_id) +
               "/state/m.room.create/";
    req.query = {{"format", "event"}};
    auto create = client_.call(req);
    if (!create) return create.error();
    create_event = *create;
    if (!create_event->contains("content")) {
      // Older servers ignore format=event and return the content only.
      create_event = {{"content", *create}, {"sender", create->value("creator", "")}};
    }
    power_cache_.put_create_event(room_id, *create_event);
  }
  const auto now = PowerCache::Clock::now();
  if (cache_ok) {
    if (auto levels = power_cache_.power_levels(room_id, now)) {
      cached = true;
      return PowerLevels(*create_event, *levels);
    }
  }
  const uint64_t generation = power_cache_.generation();
  auto pl = client_.state_event(room_id, "m.room.power_levels");
  if (!pl && pl.error().code != "M_NOT_FOUND") return pl.error();
  nlohmann::json levels = pl ? *pl : nlohmann::json();
  power_cache_.put_power_levels(room_id, levels, generation, now);
  return PowerLevels(*create_event, levels);
}

bool Bot::refused_on_stale_power(const std::string& room_id, const Error& e, bool& cached) {
  if (e.code != "M_FORBIDDEN") return false;
  power_cache_.forget_power_levels(room_id);
  const bool retry = cached;
  cached = false;
  return retry;
}

ActionOutcome Bot::run(uint64_t, const actions::JoinProtect& a, Batch& batch) {
  const std::string room = a.room;
  const std::string reply_to = a.reply_to;
  auto banned_room = [&](const std::string& id) {
    std::vector<policy::PolicyRuleRef> hits;
    auto snapshot = book_.index().snapshot();
    snapshot->match(policy::EntityKind::kRoom, id, hits);
    for (const auto r : hits) {
      if (r->recommendation != policy::Recommendation::kUnknown && !book_.is_shadow(r->list)) {
        enqueue_notice(
            batch, management_room_,
            "Refusing to protect " + id + ": it is banned by " + r->list + " (rule " +
                escape_untrusted(r->state_key, kMaxQuotedReason) +
                (r->reason.empty() ? "" : ": " + quote_untrusted(r->reason, kMaxQuotedReason)) +
                ").",
            reply_to);
        return true;
      }
    }
    return false;
  };
  if (banned_room(room)) return {};
  auto joined = client_.join(room);
  if (!joined) {
    if (is_retryable(joined.error())) return from_error("join " + room, joined.error());
    enqueue_notice(batch, management_room_,
                   "Could not join " + room + ": " + joined.error().to_string() +
                       ". Invite me first, then try again.",
                   reply_to);
    return {};
  }
  const std::string& room_id = joined.value();
  if (room_id == management_room_) {
    enqueue_notice(batch, management_room_, "The management room cannot be a protected room.",
                   reply_to);
    return {};
  }
  if (room_id != room && banned_room(room_id)) {
    (void)client_.leave(room_id, "This room is on a ban list");
    return {};
  }
  nlohmann::json info = {{"added_by", a.requested_by}, {"added_ts", now_ms()}};
  if (is_room_alias(room)) info["alias"] = room;
  batch.put(Cf::kState, std::string(state_keys::kRoom) + room_id, dump_json(info));
  rooms_.add(room_id, info);
  // Protections see power levels and names from the first event on (a failure is logged and
  // retried by the event path).
  run(0, actions::LoadRoomState{room_id}, batch);
  // Apply every list to the new room at once.
  actions::enqueue(store_, batch, actions::Sweep{room_id});
  actions::enqueue(store_, batch, actions::Acl{room_id});
  enqueue_notice(batch, management_room_,
                 "Now protecting " + room_id + (is_room_alias(room) ? " (" + room + ")" : "") + ".",
                 reply_to);
  return {};
}

}  // namespace tyr::engine
