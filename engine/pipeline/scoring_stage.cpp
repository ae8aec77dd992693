#include "engine/pipeline/scoring_stage.hpp"

#include <algorithm>
#include <cstdio>

#include "engine/actions/codec.hpp"
#include "engine/core/clock.hpp"
#include "engine/core/text.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine {

std::string format_score(double score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", score);
  return buf;
}

namespace {

// The verdict's rule ids with those that decided first, largest score first (the audit's order).
std::vector<std::string> rules_largest_first(const EventVerdict& v) {
  std::vector<std::string> out;
  for (const auto& d : decided_by(v, v.rules.size())) out.push_back(d.rule);
  for (const auto& r : v.rules) {
    if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  }
  return out;
}

// The string at `key` by reference: empty when absent, and for another type the exception
// `event.value(key, "")` throws (every event the stage sees has string IDs; this reads them
// without copying).
const std::string& string_or_empty(const nlohmann::json& event, const char* key) {
  static const std::string kEmpty;
  const auto it = event.find(key);
  if (it == event.end()) return kEmpty;
  if (!it->is_string()) (void)event.value(key, std::string());  // throws as value() does
  return it->get_ref<const std::string&>();
}

}  // namespace

ScoringStage::ScoringStage(const Config& config, Store& store, RoomStateCache& room_state,
                           ScoringOutlet outlet)
    : config_(config), store_(store), room_state_(room_state), outlet_(std::move(outlet)) {}

void ScoringStage::attach(EventScorer* scorer, protection::Host* protections) {
  scorer_ = scorer;
  protections_ = protections;
}

void ScoringStage::on_event(const nlohmann::json& event,
                            std::chrono::steady_clock::time_point started, Batch& batch) {
  if (scorer_ == nullptr || event.contains("state_key")) return;  // rules score messages, not state
  const std::string& sender = string_or_empty(event, "sender");
  const std::string& room = string_or_empty(event, "room_id");
  const std::string& event_id = string_or_empty(event, "event_id");
  if (Incident* inc = live_incident(room, sender, now_ms()); inc && inc->level >= Action::kKick) {
    // Being kicked or banned: whatever else the sender sends is removed, without a notice.
    inc->last_ms = now_ms();
    ++inc->removed;
    vetted_.erase(event_id);
    actions::enqueue(store_, batch, actions::RedactEvent{room, event_id, sender, inc->reason, {}});
    return;
  }
  EventVerdict v;
  if (auto it = vetted_.find(event_id); it != vetted_.end()) {
    // Scored (and counted) when the homeserver asked the inline veto; allowed then.
    v = std::move(it->second);
    vetted_.erase(it);
  } else {
    v = scorer_->score(event, event.value("origin_server_ts", now_ms()),
                       room_state_.facts(room, sender));
    enqueue_requested(batch);
    count_verdict(v, started);
  }
  act_on_verdict(event, v, /*refused=*/false, batch);
  if (classifier_ != nullptr) {
    // Hashed features only, for learning from what moderators do next; what Tyr let through
    // may, unredacted for long enough, become a ham example.
    const auto content = event.find("content");
    if (content != event.end() && content->is_object()) {
      const auto body = content->find("body");
      if (body != content->end() && body->is_string()) {
        classifier_->remember({event_id, room, sender, event.value("origin_server_ts", now_ms())},
                              body->get_ref<const std::string&>(),
                              v.action == Action::kAllow && !outlet_.is_exempt(sender));
      }
    }
  }
}

void ScoringStage::on_redaction(const nlohmann::json& event, bool by_tyr, Batch& batch) {
  if (classifier_ == nullptr) return;
  // Room versions up to 10 name the redacted event at the top level, 11 and later in content.
  std::string redacts = event.value("redacts", "");
  if (redacts.empty()) {
    const auto content = event.find("content");
    if (content != event.end() && content->is_object()) redacts = content->value("redacts", "");
  }
  if (redacts.empty()) return;
  const std::string redactor = event.value("sender", "");
  if (classifier_->on_redacted(batch, redacts, by_tyr ? std::string() : redactor, !by_tyr)) {
    metrics::tyr_metrics().classifier_learned.with("redaction").inc();
  }
}

void ScoringStage::on_membership(const nlohmann::json& event, Batch& batch) {
  if (classifier_ != nullptr) {
    const auto content = event.find("content");
    if (content != event.end() && content->is_object() &&
        content->value("membership", "") == "ban" && !content->value("reason", "").empty() &&
        event.value("sender", "") != event.value("state_key", "")) {
      const size_t n =
          classifier_->on_banned(batch, event.value("room_id", ""), event.value("state_key", ""));
      if (n > 0) metrics::tyr_metrics().classifier_learned.with("ban").add(n);
    }
  }
  if (protections_ == nullptr) return;
  protections_->on_membership(
      event, event.value("origin_server_ts", int64_t{0}),
      room_state_.facts(event.value("room_id", ""), event.value("state_key", "")));
  enqueue_requested(batch);
}

bool ScoringStage::veto(const nlohmann::json& event, Batch& batch, std::string_view gate) {
  if (scorer_ == nullptr) return false;
  const std::string sender = event.value("sender", "");
  const std::string room = event.value("room_id", "");
  ensure_room_state(room, batch);
  if (Incident* inc = live_incident(room, sender, now_ms());
      inc && inc->level >= Action::kKick && !config_.policy.dry_run) {
    // Being kicked or banned: refused before it is stored, without a notice.
    inc->last_ms = now_ms();
    ++inc->removed;
    outlet_.audit(batch,
                  {{"room", room},
                   {"user", sender},
                   {"event_id", event.value("event_id", "")},
                   {"reason", inc->reason}},
                  "refuse_event", gate);
    return true;
  }
  const auto started = std::chrono::steady_clock::now();
  EventVerdict v = scorer_->score(event, event.value("origin_server_ts", now_ms()),
                                  room_state_.facts(room, sender));
  enqueue_requested(batch);
  count_verdict(v, started);
  if (v.reject && !config_.policy.dry_run) {
    act_on_verdict(event, v, /*refused=*/true, batch, gate);
    return true;
  }
  // Allowed: the event will arrive as a transaction and be acted on with this verdict.
  remember_vetted(event.value("event_id", ""), v);
  return false;
}

void ScoringStage::remember_vetted(const std::string& event_id, const EventVerdict& v) {
  if (event_id.empty()) return;
  if (vetted_.emplace(event_id, v).second) vetted_order_.push_back(event_id);
  while (vetted_order_.size() > kMaxVetted) {
    vetted_.erase(vetted_order_.front());
    vetted_order_.pop_front();
  }
}

void ScoringStage::count_verdict(const EventVerdict& v,
                                 std::chrono::steady_clock::time_point started) {
  auto& m = metrics::tyr_metrics();
  m.event_verdict_duration.observe_since(started);
  ++verdicts_[static_cast<int>(v.action)];
  if (v.shadow_action > v.action) ++shadow_verdicts_;
  m.verdicts.with(action_name(v.action)).inc();
  for (size_t i = 0; i < v.rules.size(); ++i) {
    const std::string& id = v.rules[i];
    const auto mode = metrics::mode(i < v.shadow.size() && v.shadow[i]);
    // Protection hits are "protection/SYMBOL"; rule ids have no slash.
    if (const size_t slash = id.find('/'); slash != std::string::npos) {
      m.protection_hits.with(std::string_view(id).substr(0, slash), mode).inc();
    } else {
      m.rule_hits.with(id, mode).inc();
    }
  }
}

std::array<uint64_t, kActions> ScoringStage::counts() const {
  std::array<uint64_t, kActions> out{};
  for (int a = 0; a < kActions; ++a) out[a] = verdicts_[a].load();
  return out;
}

std::string ScoringStage::verdict_line() const {
  return "Verdicts: " + std::to_string(verdicts_[1].load()) + " notify, " +
         std::to_string(verdicts_[2].load()) + " redact, " + std::to_string(verdicts_[3].load()) +
         " kick, " + std::to_string(verdicts_[4].load()) + " ban; shadow rules would have acted " +
         std::to_string(shadow_verdicts_.load()) + " times";
}

void ScoringStage::act_on_verdict(const nlohmann::json& event, const EventVerdict& v, bool refused,
                                  Batch& batch, std::string_view gate) {
  if (v.action == Action::kAllow && !refused) return;
  const std::string sender = event.value("sender", "");
  const std::string room = event.value("room_id", "");
  const std::string event_id = event.value("event_id", "");
  const bool exempt = outlet_.is_exempt(sender);
  const bool dry = config_.policy.dry_run;
  std::string head = std::string(refused ? "refuse" : action_name(v.action)) + " (score " +
                     format_score(v.score) + ") for " + sender + " in " + room + ", event " +
                     event_id;
  if (exempt) {
    outlet_.notice(batch, "exempt",
                   "Not acting on " + head + ": the sender is exempt.\n" + v.explanation);
    return;
  }
  // What decided, largest first with scores: in the public reason, the notice and the audit.
  const std::string decided = decided_text(v);
  const std::string reason =
      "Tyr: " + (decided.empty() ? "score " + format_score(v.score) : truncate_utf8(decided, 120));
  const std::vector<std::string> rules = rules_largest_first(v);
  if (!decided.empty()) head += "\nDecided by: " + decided;
  const nlohmann::json refusal = {{"room", room},     {"user", sender}, {"event_id", event_id},
                                  {"reason", reason}, {"rules", rules}, {"score", v.score}};
  const int64_t now = now_ms();
  // (A notify verdict is no action: it is posted even during an incident.)
  if (Incident* inc = live_incident(room, sender, now);
      inc && !dry && (refused || v.action >= Action::kRedact) && v.action <= inc->level) {
    // Part of an incident already acted on and announced: removed quietly, counted.
    inc->last_ms = now;
    ++inc->removed;
    if (refused) {
      outlet_.audit(batch, refusal, "refuse_event", gate);
    } else {
      actions::enqueue(store_, batch,
                       actions::RedactEvent{room, event_id, sender, reason, {rules, v.score, {}}});
    }
    return;
  }
  if ((v.action == Action::kNotify && !refused) || dry) {
    outlet_.notice(
        batch, dry && v.action != Action::kNotify ? "dry run" : "notify",
        std::string(dry && v.action != Action::kNotify ? "[dry run] Would " : "Notice: ") + head +
            "\n" + v.explanation);
    if (dry && v.action > Action::kNotify) {
      outlet_.audit(batch,
                    {{"room", room},
                     {"user", sender},
                     {"event_id", event_id},
                     {"reason", reason},
                     {"rules", rules},
                     {"score", v.score}},
                    action_name(v.action), "dry_run");
    }
    return;
  }
  open_incident(room, sender, v.action, reason, now);
  const std::string what = !refused         ? "Acting: "
                           : gate == "veto" ? "Refused before it was stored: "
                                            : "Refused at the policy server (never stored): ";
  if (refused) outlet_.audit(batch, refusal, "refuse_event", gate);
  if (v.action >= Action::kKick) {
    const actions::Why why{rules, v.score, {}};
    if (v.action == Action::kBan)
      actions::enqueue(store_, batch, actions::Ban{room, sender, reason, why});
    else
      actions::enqueue(store_, batch, actions::Kick{room, sender, reason, why});
    // The whole burst goes, and the incident's one notice comes with the count.
    remove_burst(room, sender,
                 what + head + "\nUntil the " + action_name(v.action) +
                     " lands, anything more they send is removed without another notice.\n" +
                     v.explanation,
                 batch);
    return;
  }
  if (refused) {
    outlet_.notice(batch, "refused", what + head + "\n" + v.explanation);
    return;
  }
  actions::enqueue(store_, batch,
                   actions::RedactEvent{room, event_id, sender, reason, {rules, v.score, {}}});
  outlet_.notice(batch, "acting",
                 what + head +
                     "\nTheir messages caught in the next two minutes are removed without "
                     "another notice.\n" +
                     v.explanation);
}

ScoringStage::Incident* ScoringStage::live_incident(const std::string& room,
                                                    const std::string& user, int64_t now) {
  incident_key_.assign(room).append(1, '\x1f').append(user);  // reused: no allocation per event
  auto it = incidents_.find(incident_key_);
  if (it == incidents_.end()) return nullptr;
  if (now - it->second.last_ms > kIncidentMs) {
    incidents_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void ScoringStage::open_incident(const std::string& room, const std::string& user, Action level,
                                 std::string reason, int64_t now) {
  if (incidents_.size() >= kMaxIncidents) {
    // Bounded: drop the ones that ended, or else the stalest.
    std::erase_if(incidents_,
                  [now](const auto& kv) { return now - kv.second.last_ms > kIncidentMs; });
    if (incidents_.size() >= kMaxIncidents) {
      auto stalest = std::min_element(
          incidents_.begin(), incidents_.end(),
          [](const auto& a, const auto& b) { return a.second.last_ms < b.second.last_ms; });
      incidents_.erase(stalest);
    }
  }
  incidents_[room + '\x1f' + user] = Incident{now, level, 0, std::move(reason)};
}

void ScoringStage::remove_burst(const std::string& room, const std::string& user,
                                std::string notice, Batch& batch) {
  actions::RedactUser burst;
  burst.room = room;
  burst.user = user;
  burst.window_s = kBurstSeconds;
  burst.notice = std::move(notice);
  actions::enqueue(store_, batch, burst);
}

void ScoringStage::ensure_room_state(const std::string& room, Batch& batch) {
  if (scorer_ == nullptr || room_state_.has(room)) return;
  const int64_t now = now_ms();
  if (auto it = room_state_asked_.find(room);
      it != room_state_asked_.end() && now - it->second < 60'000)
    return;
  room_state_asked_[room] = now;
  actions::enqueue(store_, batch, actions::LoadRoomState{room});
}

// What the protections asked for: notices go to the management room; actions are queued as
// they are, or, in shadow mode (the protection's or dry run), noticed and audited as "would".
void ScoringStage::enqueue_requested(Batch& batch) {
  if (protections_ == nullptr) return;
  for (auto& req : protections_->take_requests()) {
    const std::string& room = req.room();
    if (const auto* n = req.notify()) {
      outlet_.notice(
          batch, "notify",
          "[" + req.protection + "] " + n->text + (room.empty() ? "" : " (room " + room + ")"));
      continue;
    }
    const actions::Action& act = *req.action();
    const std::string_view kind = actions::verb_of(act);
    const std::string& user = actions::user_of(act);
    if (req.shadow || config_.policy.dry_run) {
      outlet_.notice(batch, "shadow",
                     "[" + req.protection + ", shadow] Would " + std::string(kind) +
                         (user.empty() ? "" : " " + user) + (room.empty() ? "" : " in " + room) +
                         ".");
      outlet_.audit(batch, actions::encode(act), kind, req.shadow ? "shadow" : "dry_run");
      continue;
    }
    if (!user.empty() && outlet_.is_exempt(user)) continue;
    const bool kick = std::holds_alternative<actions::Kick>(act);
    if (kick || std::holds_alternative<actions::Ban>(act)) {
      // A protection's kick or ban is an incident like a verdict's: once, with the burst.
      const Action level = kick ? Action::kKick : Action::kBan;
      const int64_t now = now_ms();
      if (Incident* inc = live_incident(room, user, now); inc && inc->level >= level) continue;
      const std::string& reason =
          kick ? std::get<actions::Kick>(act).reason : std::get<actions::Ban>(act).reason;
      open_incident(room, user, level, reason, now);
      actions::enqueue(store_, batch, act);
      remove_burst(room, user,
                   "[" + req.protection + "] " + (kick ? "Kicking " : "Banning ") + user +
                       (kick ? " from " : " in ") + room + ": " + reason +
                       ".\nUntil it lands, anything more they send is removed without another "
                       "notice.",
                   batch);
      continue;
    }
    actions::enqueue(store_, batch, act);
  }
}

void ScoringStage::tick(Batch& batch) {
  if (classifier_ != nullptr) {
    if (const size_t n = classifier_->learn_due_ham(batch, now_ms()); n > 0)
      metrics::tyr_metrics().classifier_learned.with("unredacted").add(n);
    classifier_->flush(batch, now_ms());
  }
  if (protections_ == nullptr) return;
  protections_->on_timer(now_ms());
  enqueue_requested(batch);
  batch.put(Cf::kState, state_keys::kProtectionState, dump_json(protections_->save_state()));
}

std::string ScoringStage::protections_command(const std::vector<std::string>& args, Batch& batch) {
  if (protections_ == nullptr) return "No protections are available.";
  auto [text, changed] = protections_->command(args);
  if (changed)
    batch.put(Cf::kState, state_keys::kProtectionSettings,
              dump_json(protections_->save_settings()));
  return text;
}

}  // namespace tyr::engine
