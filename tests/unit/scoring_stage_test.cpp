// The pipeline's scoring stage without a bot or a homeserver: a real store in a temp dir, a
// scorer and a protection host that return what the test says, and the notices and audit
// entries the stage hands to its outlet recorded.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "engine/pipeline/scoring_stage.hpp"
#include "temp_dir.hpp"

using namespace tyr;
using namespace tyr::engine;
using nlohmann::json;

namespace {

// Returns the verdict it is told to; counts the calls.
class FixedScorer : public EventScorer {
 public:
  EventVerdict verdict;
  int scored = 0;
  EventVerdict score(const json&, int64_t, const RoomFacts&) override {
    ++scored;
    return verdict;
  }
  EventVerdict explain(const json&) override { return verdict; }
  Result<void> reload() override { return {}; }
  std::vector<std::string> describe() const override { return {"fixed"}; }
  size_t rules_loaded() const override { return 0; }
};

// Hands out the requests it is told to, as the protection host makes them.
class FakeProtections : public protection::Host {
 public:
  std::vector<protection::Request> requested;
  int memberships = 0, timers = 0;
  std::vector<std::vector<std::string>> commands;
  void on_membership(const json&, int64_t, const RoomFacts&) override { ++memberships; }
  void on_timer(int64_t) override { ++timers; }
  std::vector<protection::Request> take_requests() override {
    std::vector<protection::Request> out;
    out.swap(requested);
    return out;
  }
  std::pair<std::string, bool> command(const std::vector<std::string>& args) override {
    commands.push_back(args);
    return {"done", !args.empty()};
  }
  json save_settings() const override { return {{"settings", 1}}; }
  json save_state() const override { return {{"state", 2}}; }
  Result<void> restore(const json&, const json&) override { return {}; }
};

struct Notice {
  std::string category, body;
};
struct Audited {
  json action;
  std::string what, mode;
};

struct StageFixture {
  test::TempDir dir;
  Config config;
  std::unique_ptr<Store> store;
  RoomStateCache room_state{std::vector<std::string>{"@op:hs"}};
  FixedScorer scorer;
  FakeProtections protections;
  std::vector<Notice> notices;
  std::vector<Audited> audits;
  std::unique_ptr<ScoringStage> stage;

  StageFixture() {
    store = std::make_unique<Store>(dir.path());
    stage = std::make_unique<ScoringStage>(
        config, *store, room_state,
        ScoringOutlet{
            .is_exempt = [](const std::string& user) { return user == "@op:hs"; },
            .notice =
                [this](Batch&, std::string_view category, const std::string& body) {
                  notices.push_back({std::string(category), body});
                },
            .audit =
                [this](Batch&, const json& action, std::string_view what, std::string_view mode) {
                  audits.push_back({action, std::string(what), std::string(mode)});
                }});
    stage->attach(&scorer, &protections);
  }

  static json message(const std::string& sender, const std::string& event_id = "$m") {
    return {{"type", "m.room.message"}, {"event_id", event_id},
            {"room_id", "!r:hs"},       {"sender", sender},
            {"origin_server_ts", 1000}, {"content", {{"msgtype", "m.text"}, {"body", "hello"}}}};
  }

  // Commits `batch` and returns the queued actions in outbox order, with their priorities.
  std::vector<std::pair<json, Priority>> drain(Batch& batch) {
    REQUIRE(store->commit(batch));
    std::vector<std::pair<json, Priority>> out;
    while (auto next = store->next_outbox()) {
      out.emplace_back(json::parse(next->json), next->priority);
      Batch del;
      del.del(Cf::kOutbox, next->key);
      REQUIRE(store->commit(del));
    }
    return out;
  }

  // Actions other than the room-state read every first event in a room queues.
  std::vector<std::pair<json, Priority>> acted(Batch& batch) {
    auto all = drain(batch);
    std::vector<std::pair<json, Priority>> out;
    for (auto& a : all) {
      if (a.first.value("kind", "") != "load_room_state") out.push_back(std::move(a));
    }
    return out;
  }

  static EventVerdict verdict(Action action, double score, bool reject = false) {
    EventVerdict v;
    v.action = action;
    v.shadow_action = action;
    v.score = score;
    v.reject = reject;
    v.explanation = "score " + std::to_string(score);
    v.rules = {"spam-rule"};
    v.shadow = {false};
    v.scores = {score};
    return v;
  }
};

}  // namespace

TEST_CASE("scoring stage: a redact verdict queues the redaction and an acting notice",
          "[scoring_stage]") {
  StageFixture f;
  f.scorer.verdict = StageFixture::verdict(Action::kRedact, 7);
  Batch batch;
  f.stage->on_event(StageFixture::message("@spam:x"), std::chrono::steady_clock::now(), batch);
  auto actions = f.acted(batch);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].first["kind"] == "redact_event");
  CHECK(actions[0].first["event_id"] == "$m");
  CHECK(actions[0].first["sender"] == "@spam:x");
  CHECK(actions[0].first["reason"] == "Tyr: spam-rule +7");
  CHECK(actions[0].second == Priority::kRedact);
  REQUIRE(f.notices.size() == 1);
  CHECK(f.notices[0].category == "acting");
  CHECK(f.notices[0].body.rfind("Acting: redact (score 7.0) for @spam:x in !r:hs, event $m", 0) ==
        0);
  CHECK(f.stage->counts()[static_cast<int>(Action::kRedact)] == 1);
  CHECK(f.stage->verdict_line() ==
        "Verdicts: 0 notify, 1 redact, 0 kick, 0 ban; shadow rules would have acted 0 times");
}

TEST_CASE("scoring stage: the reason, the notice and the audit name what decided, largest first",
          "[scoring_stage]") {
  StageFixture f;
  EventVerdict v = StageFixture::verdict(Action::kKick, 10);
  v.rules = {"links.web-address", "flooding/FLOOD", "shadowy", "zero"};
  v.shadow = {false, false, true, false};
  v.scores = {1, 9, 20, 0};
  f.scorer.verdict = v;
  Batch batch;
  f.stage->on_event(StageFixture::message("@spam:x"), std::chrono::steady_clock::now(), batch);
  auto actions = f.acted(batch);
  REQUIRE(actions.size() == 2);
  CHECK(actions[0].first["kind"] == "kick");
  CHECK(actions[0].first["reason"] == "Tyr: flooding/FLOOD +9, links.web-address +1");
  CHECK(actions[0].first["rules"] ==
        json{"flooding/FLOOD", "links.web-address", "shadowy", "zero"});
  // The incident's one notice comes with the burst's removal.
  CHECK(actions[1].first["kind"] == "redact_user");
  CHECK(f.notices.empty());
  CHECK(actions[1].first["notice"].get<std::string>().find(
            "\nDecided by: flooding/FLOOD +9, links.web-address +1\n") != std::string::npos);
}

TEST_CASE("scoring stage: a ban verdict queues a ban before removing the burst",
          "[scoring_stage]") {
  StageFixture f;
  f.scorer.verdict = StageFixture::verdict(Action::kBan, 25);
  Batch batch;
  f.stage->on_event(StageFixture::message("@spam:x"), std::chrono::steady_clock::now(), batch);
  auto actions = f.acted(batch);
  REQUIRE(actions.size() == 2);
  CHECK(actions[0].first["kind"] == "rule_ban");
  CHECK(actions[0].second == Priority::kBan);
  CHECK(actions[1].first["kind"] == "redact_user");
  CHECK(actions[1].first["user"] == "@spam:x");
  CHECK(actions[1].first["window_s"] == 120);
  CHECK(actions[1].second == Priority::kRedact);
  CHECK(actions[1].first["notice"].get<std::string>().rfind(
            "Acting: ban (score 25.0) for @spam:x in !r:hs, event $m\nDecided by: spam-rule +25\n"
            "Until the ban lands, anything more they send is removed without another notice.",
            0) == 0);
}

TEST_CASE("scoring stage: a flood is one incident: one notice, the burst and what follows removed",
          "[scoring_stage]") {
  StageFixture f;
  f.scorer.verdict = StageFixture::verdict(Action::kKick, 12);
  Batch batch;
  f.stage->on_event(StageFixture::message("@flood:x", "$1"), std::chrono::steady_clock::now(),
                    batch);
  auto first = f.acted(batch);
  REQUIRE(first.size() == 2);
  CHECK(first[0].first["kind"] == "kick");
  CHECK(first[1].first["kind"] == "redact_user");
  CHECK(f.scorer.scored == 1);
  // Later messages of the incident are removed without scoring, a notice or a second kick,
  // whatever their own verdict.
  f.scorer.verdict = StageFixture::verdict(Action::kAllow, 0);
  for (const char* id : {"$2", "$3", "$4"}) {
    Batch more;
    f.stage->on_event(StageFixture::message("@flood:x", id), std::chrono::steady_clock::now(),
                      more);
    auto quiet = f.drain(more);
    REQUIRE(quiet.size() == 1);
    CHECK(quiet[0].first["kind"] == "redact_event");
    CHECK(quiet[0].first["event_id"] == id);
    CHECK(quiet[0].first["reason"] == "Tyr: spam-rule +12");
  }
  CHECK(f.scorer.scored == 1);
  CHECK(f.notices.empty());
  // The inline veto refuses whatever they try next, before it is stored.
  Batch veto;
  CHECK(f.stage->veto(StageFixture::message("@flood:x", "$5"), veto));
  CHECK(f.scorer.scored == 1);
  REQUIRE(f.audits.size() == 1);
  CHECK(f.audits[0].what == "refuse_event");
  CHECK(f.notices.empty());
  // Another sender is scored as usual.
  Batch other;
  f.stage->on_event(StageFixture::message("@fine:x", "$6"), std::chrono::steady_clock::now(),
                    other);
  CHECK(f.scorer.scored == 2);
  CHECK(f.acted(other).empty());
}

TEST_CASE("scoring stage: redactions of one sender within two minutes get one notice",
          "[scoring_stage]") {
  StageFixture f;
  f.scorer.verdict = StageFixture::verdict(Action::kRedact, 7);
  for (const char* id : {"$1", "$2", "$3"}) {
    Batch batch;
    f.stage->on_event(StageFixture::message("@spam:x", id), std::chrono::steady_clock::now(),
                      batch);
    auto actions = f.acted(batch);
    REQUIRE(actions.size() == 1);
    CHECK(actions[0].first["kind"] == "redact_event");
    CHECK(actions[0].first["event_id"] == id);
  }
  REQUIRE(f.notices.size() == 1);
  CHECK(f.notices[0].body.find("Their messages caught in the next two minutes are removed "
                               "without another notice.") != std::string::npos);
  // A worse verdict escalates: a kick, announced.
  f.scorer.verdict = StageFixture::verdict(Action::kKick, 12);
  Batch batch;
  f.stage->on_event(StageFixture::message("@spam:x", "$4"), std::chrono::steady_clock::now(),
                    batch);
  auto kicked = f.acted(batch);
  REQUIRE(kicked.size() == 2);
  CHECK(kicked[0].first["kind"] == "kick");
  CHECK(kicked[1].first["kind"] == "redact_user");
}

TEST_CASE("scoring stage: allowed events, state events and no scorer lead to nothing",
          "[scoring_stage]") {
  StageFixture f;
  Batch batch;
  f.stage->on_event(StageFixture::message("@a:x"), std::chrono::steady_clock::now(), batch);
  json state = StageFixture::message("@a:x", "$s");
  state["state_key"] = "";
  f.stage->on_event(state, std::chrono::steady_clock::now(), batch);
  CHECK(f.scorer.scored == 1);
  CHECK(f.acted(batch).empty());
  CHECK(f.notices.empty());

  f.stage->attach(nullptr, nullptr);
  CHECK_FALSE(f.stage->active());
  f.scorer.verdict = StageFixture::verdict(Action::kBan, 25);
  Batch none;
  f.stage->on_event(StageFixture::message("@a:x", "$n"), std::chrono::steady_clock::now(), none);
  f.stage->ensure_room_state("!other:hs", none);
  CHECK_FALSE(f.stage->veto(StageFixture::message("@a:x", "$v"), none));
  CHECK(f.stage->protections_command({}, none) == "No protections are available.");
  CHECK(none.empty());
  CHECK(f.scorer.scored == 1);
}

TEST_CASE("scoring stage: exempt senders get a notice and no action", "[scoring_stage]") {
  StageFixture f;
  f.scorer.verdict = StageFixture::verdict(Action::kBan, 25);
  Batch batch;
  f.stage->on_event(StageFixture::message("@op:hs"), std::chrono::steady_clock::now(), batch);
  CHECK(f.acted(batch).empty());
  REQUIRE(f.notices.size() == 1);
  CHECK(f.notices[0].category == "exempt");
  CHECK(f.notices[0].body.find("the sender is exempt") != std::string::npos);
}

TEST_CASE("scoring stage: in dry run a verdict is noticed and audited, never acted on",
          "[scoring_stage]") {
  StageFixture f;
  f.config.policy.dry_run = true;
  f.scorer.verdict = StageFixture::verdict(Action::kKick, 13, /*reject=*/true);
  Batch batch;
  CHECK_FALSE(f.stage->veto(StageFixture::message("@spam:x", "$d"), batch));  // not refused
  f.stage->on_event(StageFixture::message("@spam:x", "$d"), std::chrono::steady_clock::now(),
                    batch);
  CHECK(f.acted(batch).empty());
  REQUIRE(f.notices.size() == 1);
  CHECK(f.notices[0].category == "dry run");
  CHECK(f.notices[0].body.rfind("[dry run] Would kick (score 13.0)", 0) == 0);
  REQUIRE(f.audits.size() == 1);
  CHECK(f.audits[0].what == "kick");
  CHECK(f.audits[0].mode == "dry_run");
}

TEST_CASE("scoring stage: the veto's verdict is reused when the event arrives", "[scoring_stage]") {
  StageFixture f;
  f.scorer.verdict = StageFixture::verdict(Action::kNotify, 3);
  Batch batch;
  CHECK_FALSE(f.stage->veto(StageFixture::message("@a:x", "$once"), batch));
  CHECK(f.scorer.scored == 1);
  CHECK(f.notices.empty());  // the veto only decides; acting waits for the event
  f.stage->on_event(StageFixture::message("@a:x", "$once"), std::chrono::steady_clock::now(),
                    batch);
  CHECK(f.scorer.scored == 1);
  REQUIRE(f.notices.size() == 1);
  CHECK(f.notices[0].category == "notify");
  CHECK(f.stage->counts()[static_cast<int>(Action::kNotify)] == 1);  // counted once
  // A second arrival (a resend) is scored afresh.
  f.stage->on_event(StageFixture::message("@a:x", "$once"), std::chrono::steady_clock::now(),
                    batch);
  CHECK(f.scorer.scored == 2);
}

TEST_CASE("scoring stage: the veto refuses at the reject threshold and queues the kick",
          "[scoring_stage]") {
  StageFixture f;
  f.scorer.verdict = StageFixture::verdict(Action::kKick, 13, /*reject=*/true);
  Batch batch;
  CHECK(f.stage->veto(StageFixture::message("@spam:x", "$r"), batch));
  auto actions = f.drain(batch);
  REQUIRE(actions.size() == 3);
  CHECK(actions[0].first["kind"] == "load_room_state");  // first event in the room
  CHECK(actions[1].first["kind"] == "kick");
  CHECK(actions[1].first["user"] == "@spam:x");
  CHECK(actions[2].first["kind"] == "redact_user");
  CHECK(f.notices.empty());
  CHECK(actions[2].first["notice"].get<std::string>().rfind(
            "Refused before it was stored: refuse (score 13.0)", 0) == 0);
  REQUIRE(f.audits.size() == 1);
  CHECK(f.audits[0].what == "refuse_event");
  CHECK(f.audits[0].mode == "veto");
}

TEST_CASE("scoring stage: protections' requests become executor actions", "[scoring_stage]") {
  StageFixture f;
  const actions::Why flood{{}, std::nullopt, "flooding"}, wave{{}, std::nullopt, "join_wave"};
  f.protections.requested = {
      {actions::Ban{"!r:hs", "@spam:x", "flood", flood}, "flooding"},
      {actions::RedactEvent{"!r:hs", "$x", "@spam:x", "", flood}, "flooding"},
      {actions::Kick{"!r:hs", "@op:hs", "", flood}, "flooding"},  // exempt
      {actions::Kick{"!r:hs", "@b:x", "", flood}, "flooding", true},
      {actions::Ban{"!r:hs", "@c:x", "", flood}, "flooding", true},
      {actions::SetJoinRule{"!r:hs", "invite", wave}, "join_wave"},
      {protection::Notify{"!r:hs", "a wave"}, "join_wave"},
  };
  Batch batch;
  f.stage->on_membership({{"type", "m.room.member"},
                          {"room_id", "!r:hs"},
                          {"state_key", "@b:x"},
                          {"content", {{"membership", "join"}}}},
                         batch);
  CHECK(f.protections.memberships == 1);
  auto actions = f.drain(batch);
  REQUIRE(actions.size() == 4);
  CHECK(actions[0].first["kind"] == "set_join_rule");
  CHECK(actions[0].second == Priority::kControl);
  CHECK(actions[1].first["kind"] == "rule_ban");
  CHECK(actions[1].first["protection"] == "flooding");
  CHECK(actions[1].second == Priority::kBan);
  // A protection's ban is an incident too: the burst goes, with one notice.
  CHECK(actions[2].first["kind"] == "redact_user");
  CHECK(actions[2].first["notice"] ==
        "[flooding] Banning @spam:x in !r:hs: flood.\nUntil it lands, anything more they send "
        "is removed without another notice.");
  CHECK(actions[3].first["kind"] == "redact_event");
  CHECK(actions[3].first["sender"] == "@spam:x");
  CHECK(actions[3].second == Priority::kRedact);
  REQUIRE(f.notices.size() == 3);
  CHECK(f.notices[0].category == "shadow");
  CHECK(f.notices[0].body == "[flooding, shadow] Would kick @b:x in !r:hs.");
  CHECK(f.notices[1].body == "[flooding, shadow] Would ban @c:x in !r:hs.");
  CHECK(f.notices[2].category == "notify");
  CHECK(f.notices[2].body == "[join_wave] a wave (room !r:hs)");
  REQUIRE(f.audits.size() == 2);
  CHECK(f.audits[0].what == "kick");
  CHECK(f.audits[0].mode == "shadow");
  CHECK(f.audits[1].what == "ban");
  CHECK(f.audits[1].action["protection"] == "flooding");
}

TEST_CASE("scoring stage: the timer runs protections and saves their state", "[scoring_stage]") {
  StageFixture f;
  Batch batch;
  f.stage->tick(batch);
  CHECK(f.protections.timers == 1);
  REQUIRE(f.store->commit(batch));
  CHECK(f.store->get(Cf::kState, "protections/state") ==
        std::optional<std::string>(R"({"state":2})"));

  Batch cmd;
  CHECK(f.stage->protections_command({}, cmd) == "done");
  CHECK(cmd.empty());  // nothing changed, nothing saved
  CHECK(f.stage->protections_command({"enable", "flooding"}, cmd) == "done");
  REQUIRE(f.store->commit(cmd));
  CHECK(f.store->get(Cf::kState, "protections/settings") ==
        std::optional<std::string>(R"({"settings":1})"));
}

TEST_CASE("scoring stage: a room's state is asked for once a minute until it arrives",
          "[scoring_stage]") {
  StageFixture f;
  Batch batch;
  f.stage->ensure_room_state("!r:hs", batch);
  f.stage->ensure_room_state("!r:hs", batch);
  auto actions = f.drain(batch);
  REQUIRE(actions.size() == 1);
  CHECK(actions[0].first == json{{"kind", "load_room_state"}, {"room", "!r:hs"}});
  f.stage->room_state_loaded("!r:hs");  // the read came back (failed, or the room was left)
  Batch again;
  f.stage->ensure_room_state("!r:hs", again);
  CHECK(f.drain(again).size() == 1);
  f.room_state.load("!r:hs", json::array());
  Batch known;
  f.stage->ensure_room_state("!r:hs", known);
  CHECK(known.empty());
}

TEST_CASE("verdict: decided_by keeps enforced positive hits, largest first, ties in order",
          "[scoring_stage]") {
  EventVerdict v;
  v.rules = {"a", "b", "c", "d", "e"};
  v.shadow = {false, false, true, false};  // "e" has no shadow flag: enforced
  v.scores = {2, 5, 9, 2};                 // "e" has no score: 0
  const auto d = decided_by(v);
  REQUIRE(d.size() == 3);
  CHECK(d[0].rule == "b");
  CHECK(d[1].rule == "a");
  CHECK(d[2].rule == "d");
  CHECK(decided_text(v, 2) == "b +5, a +2");
  CHECK(decided_text(EventVerdict{}).empty());
}
