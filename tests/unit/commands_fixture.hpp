#pragma once
// A CommandHost for testing management-room commands without a bot or a homeserver: a real
// RocksDB store (and the policy book and audit trail on it) in a temp dir, protected rooms in a
// map, and a fake outbox that records every queued action with its priority. What commands ask
// of the bot (rule diffs, sweeps, rules reloads) is recorded, in order, in `calls`.

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/actions/codec.hpp"
#include "engine/audit/audit_log.hpp"
#include "engine/commands/command.hpp"
#include "engine/core/scorer.hpp"
#include "engine/pipeline/policy_book.hpp"
#include "engine/store/store.hpp"
#include "temp_dir.hpp"

namespace tyr::test {

// Scores nothing; answers `rules test`, `rules` and `protections` with what the test set (it
// stands for both the rules and the protections' host).
class FakeScorer : public EventScorer, public engine::protection::Host {
 public:
  EventVerdict verdict;      // explain()'s answer
  nlohmann::json explained;  // the event explain() was last given
  std::vector<std::string> lines = {"2 rules from 1 file", "spam-link: score 4"};
  std::vector<std::vector<std::string>> protection_calls;
  std::pair<std::string, bool> protections_answer = {"Protections: flood (enabled)", false};
  nlohmann::json settings = {{"flood", {{"enabled", false}}}};

  EventVerdict score(const nlohmann::json&, int64_t, const RoomFacts&) override { return {}; }
  EventVerdict explain(const nlohmann::json& event) override {
    explained = event;
    return verdict;
  }
  Result<void> reload() override { return {}; }
  std::vector<std::string> describe() const override { return lines; }
  size_t rules_loaded() const override { return lines.size(); }
  void on_membership(const nlohmann::json&, int64_t, const RoomFacts&) override {}
  void on_timer(int64_t) override {}
  std::vector<engine::protection::Request> take_requests() override { return {}; }
  nlohmann::json save_state() const override { return nullptr; }
  Result<void> restore(const nlohmann::json&, const nlohmann::json&) override { return {}; }
  std::pair<std::string, bool> command(const std::vector<std::string>& args) override {
    protection_calls.push_back(args);
    return protections_answer;
  }
  nlohmann::json save_settings() const override { return settings; }
};

struct Queued {
  nlohmann::json action;
  engine::Priority priority;
};

class FakeHost : public engine::commands::CommandHost {
 public:
  FakeHost() : store_(dir_.path()), book_(store_), audit_(store_) {
    cfg.homeserver.server_name = "hs";
    cfg.management.room = "!mgmt:hs";
    cfg.management.operators = {"@op:hs", "@op2:hs"};
    book_.load();
  }

  // ---- CommandHost ----
  const engine::Config& config() const override { return cfg; }
  engine::Store& store() override { return store_; }
  engine::PolicyBook& policy_book() override { return book_; }
  const engine::AuditLog& audit_log() const override { return audit_; }
  EventScorer* scorer() override { return fake_scorer; }
  engine::protection::Host* protections() override { return fake_scorer; }
  const std::string& command_room() const override { return room_; }
  bool is_exempt_user(const std::string& user_id) const override {
    return exempt.count(user_id) > 0;
  }
  std::chrono::seconds uptime() const override { return up; }
  engine::commands::VerdictCounts verdict_counts() const override { return counts; }
  std::vector<std::string> status_lines() const override { return lines; }
  std::string find_protected_room(const std::string& id_or_alias) const override {
    if (rooms.count(id_or_alias)) return id_or_alias;
    for (const auto& [id, info] : rooms) {
      if (info.value("alias", "") == id_or_alias) return id;
    }
    return {};
  }
  std::map<std::string, nlohmann::json> protected_rooms() const override { return rooms; }
  void unprotect_room(engine::Batch&, const std::string& room_id) override {
    rooms.erase(room_id);
    calls.push_back("unprotect " + room_id);
  }
  // Recorded as the outbox stores it (the codec's JSON) with the action's priority.
  void enqueue_action(engine::Batch&, const engine::actions::Action& action) override {
    const nlohmann::json json = engine::actions::encode(action);
    outbox.push_back({json, engine::actions::priority_of(action)});
    calls.push_back("enqueue " + json.value("kind", ""));
  }
  void apply_rule_diffs(const std::vector<engine::policy::ListDiff>& diffs,
                        engine::Batch&) override {
    calls.push_back("rule diffs " + std::to_string(diffs.size()));
  }
  void schedule_enforcement(engine::Batch&) override { calls.push_back("schedule enforcement"); }
  void request_rules_reload(engine::Batch&, const std::string& reply_to) override {
    calls.push_back("reload rules, reply to " + reply_to);
  }
  std::optional<engine::commands::PolicyServerView> policy_server_view() const override {
    return policy_view;
  }

  // ---- what the test sets ----
  engine::Config cfg;
  FakeScorer* fake_scorer = nullptr;
  std::set<std::string> exempt;
  std::chrono::seconds up{0};
  engine::commands::VerdictCounts counts;
  std::vector<std::string> lines;
  std::map<std::string, nlohmann::json> rooms;                    // protected: room ID -> info
  std::optional<engine::commands::PolicyServerView> policy_view;  // nullopt: not configured

  // ---- what the commands did ----
  std::vector<Queued> outbox;
  std::vector<std::string> calls;

  // Runs `body` as a message from `sender` in the management room and commits the command's
  // batch; returns what it queued (the outbox is emptied first).
  std::vector<Queued> run(const std::string& body, const std::string& sender = "@op:hs") {
    return run_event(message(body, sender));
  }
  std::vector<Queued> run_event(const nlohmann::json& event) {
    outbox.clear();
    calls.clear();
    last_event = event;
    engine::Batch batch;
    engine::commands::dispatch_command(*this, event, batch);
    REQUIRE(store_.commit(batch));
    return outbox;
  }
  // The body of the one action `body` queues, which must be a reply to it.
  std::string reply(const std::string& body) {
    auto queued = run(body);
    REQUIRE(queued.size() == 1);
    CHECK(queued[0].action == notice(queued[0].action.value("body", "")));
    CHECK(queued[0].priority == engine::Priority::kControl);
    return queued[0].action.value("body", "");
  }
  // The notice a reply to the last command with `body` is.
  nlohmann::json notice(const std::string& body) const {
    return {{"kind", "notice"},
            {"room", "!mgmt:hs"},
            {"body", body},
            {"reply_to", last_event.value("event_id", "")}};
  }
  nlohmann::json message(const std::string& body, const std::string& sender = "@op:hs") {
    return {{"event_id", "$c" + std::to_string(++counter_)},
            {"room_id", "!mgmt:hs"},
            {"sender", sender},
            {"type", "m.room.message"},
            {"content", {{"msgtype", "m.text"}, {"body", body}}}};
  }

  // ---- seeding ----
  void protect(const std::string& id, const std::string& alias = {}) {
    nlohmann::json info = {{"added_by", "@op:hs"}, {"added_ts", 1}};
    if (!alias.empty()) info["alias"] = alias;
    rooms[id] = info;
  }
  static engine::WatchedList list(const std::string& id, const std::string& alias = {},
                                  const std::string& shortcode = {}, bool writable = false,
                                  bool shadow = false) {
    engine::WatchedList l;
    l.id = id;
    l.alias = alias;
    l.shortcode = shortcode;
    l.writable = writable;
    l.shadow = shadow;
    return l;
  }
  // Watches a list with these policy state events (rule_event()).
  // (A vector, not a json: a braced list of one json would be that json, not an array.)
  void watch(const engine::WatchedList& list, const std::vector<nlohmann::json>& events = {}) {
    engine::Batch batch;
    book_.watch(batch, list);
    (void)book_.load_state(batch, list.id, nlohmann::json(events));
    REQUIRE(store_.commit(batch));
  }
  static nlohmann::json rule_event(const std::string& kind, const std::string& entity,
                                   const std::string& recommendation = "m.ban",
                                   const std::string& reason = "spam") {
    return {
        {"type", "m.policy.rule." + kind},
        {"state_key", "rule:" + entity},
        {"event_id", "$rule-" + entity},
        {"sender", "@op:hs"},
        {"content", {{"entity", entity}, {"recommendation", recommendation}, {"reason", reason}}}};
  }
  void put_state(const std::string& key, const std::string& value) {
    engine::Batch batch;
    batch.put(engine::Cf::kState, key, value);
    REQUIRE(store_.commit(batch));
  }
  std::optional<std::string> state(const std::string& key) const {
    return store_.get(engine::Cf::kState, key);
  }
  void record_audit(engine::AuditEntry entry) {
    engine::Batch batch;
    audit_.record(batch, std::move(entry));
    REQUIRE(store_.commit(batch));
  }

  nlohmann::json last_event;

 private:
  TempDir dir_;
  engine::Store store_;
  engine::PolicyBook book_;
  engine::AuditLog audit_;
  std::string room_ = "!mgmt:hs";
  int counter_ = 0;
};

}  // namespace tyr::test
