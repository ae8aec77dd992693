// The executor's runners for bans, kicks, redactions and server ACLs, one action at a time:
// a real Bot whose homeserver is a scripted HTTP server on a loopback port (one room, its power
// levels and memberships), a real RocksDB store. What each action asks of the homeserver, what
// it records in the audit trail and what it tells the management room.

#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <regex>
#include <set>

#include "engine/actions/codec.hpp"
#include "engine/audit/audit_log.hpp"
#include "engine/core/clock.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/store/keys.hpp"
#include "loopback_server.hpp"
#include "temp_dir.hpp"

using namespace tyr;
using namespace tyr::engine;
using nlohmann::json;

namespace {

constexpr const char* kRoom = "!room:hs";

// A homeserver with one room: state events by "type|state_key", everything else recorded.
struct FakeHomeserver {
  std::mutex mu;
  std::map<std::string, json> state;
  json history = json::array();  // /messages answers this, newest first, in one page
  json events = json::object();  // event ID -> what /rooms/{room}/event/{id} answers
  int fail_status = 0;           // answer every write with this status when set
  bool forbid_bans = false;      // refuse bans as Synapse does when Tyr lacks the power
  test::LoopbackServer server{
      [this](const httplib::Request& req, httplib::Response& res) { answer(req, res); }};

  FakeHomeserver() {
    state["m.room.create|"] = {{"type", "m.room.create"},
                               {"state_key", ""},
                               {"sender", "@creator:hs"},
                               {"content", {{"creator", "@creator:hs"}, {"room_version", "10"}}}};
    power(100);
    member("@spammer:evil.org", "join");
    member("@mod:hs", "join");
  }
  void power(int tyr_level) {
    std::lock_guard lock(mu);
    state["m.room.power_levels|"] = {
        {"content",
         {{"users", {{"@tyr:hs", tyr_level}, {"@mod:hs", 50}, {"@creator:hs", 100}}},
          {"ban", 50},
          {"kick", 50},
          {"redact", 50},
          {"state_default", 50},
          {"events_default", 0}}}};
  }
  void member(const std::string& user, const std::string& membership) {
    state["m.room.member|" + user] = {{"content", {{"membership", membership}}}};
  }

  void answer(const httplib::Request& req, httplib::Response& res) {
    static const std::regex kState("/_matrix/client/v3/rooms/[^/]+/state/([^/]+)/?(.*)");
    std::lock_guard lock(mu);
    std::smatch m;
    const std::string path = req.path;
    auto reply = [&](int status, const json& body) {
      res.status = status;
      res.set_content(body.dump(), "application/json");
    };
    if (req.method == "GET" && std::regex_match(path, m, kState)) {
      auto it = state.find(m[1].str() + "|" + m[2].str());
      if (it == state.end()) return reply(404, {{"errcode", "M_NOT_FOUND"}, {"error", "no state"}});
      if (req.has_param("format")) return reply(200, it->second);
      return reply(200, it->second["content"]);
    }
    if (const size_t at = path.find("/event/"); req.method == "GET" && at != std::string::npos) {
      const std::string id = path.substr(at + 7);
      if (!events.contains(id))
        return reply(404, {{"errcode", "M_NOT_FOUND"}, {"error", "no event"}});
      return reply(200, events[id]);
    }
    if (req.method == "GET" && path.find("/messages") != std::string::npos)
      return reply(200, {{"chunk", history}, {"start", "s"}});
    if (req.method == "GET" && path.find("/members") != std::string::npos) {
      json chunk = json::array();
      for (const auto& [key, ev] : state) {
        if (key.rfind("m.room.member|", 0) != 0) continue;
        if (req.has_param("membership") &&
            ev["content"].value("membership", "") != req.get_param_value("membership"))
          continue;
        json full = ev;
        full["type"] = "m.room.member";
        full["state_key"] = key.substr(std::string("m.room.member|").size());
        chunk.push_back(full);
      }
      return reply(200, {{"chunk", chunk}});
    }
    if (fail_status != 0)
      return reply(fail_status, {{"errcode", "M_UNKNOWN"}, {"error", "try later"}});
    if (req.method == "PUT" && std::regex_match(path, m, kState)) {
      state[m[1].str() + "|" + m[2].str()] = {{"content", json::parse(req.body)}};
      return reply(200, {{"event_id", "$state"}});
    }
    if (path.find("/ban") != std::string::npos) {
      if (forbid_bans) return reply(403, {{"errcode", "M_FORBIDDEN"}, {"error", "no power"}});
      member(json::parse(req.body)["user_id"], "ban");
      return reply(200, json::object());
    }
    if (path.find("/kick") != std::string::npos) {
      member(json::parse(req.body)["user_id"], "leave");
      return reply(200, json::object());
    }
    return reply(200, {{"event_id", "$sent"}});
  }

  // How often the state event of `type` was read.
  size_t reads(const std::string& type) const {
    size_t n = 0;
    for (const auto& s : server.seen()) {
      if (s.method == "GET" && s.path.find("/state/" + type + "/") != std::string::npos) ++n;
    }
    return n;
  }

  std::vector<std::string> writes() const {
    std::vector<std::string> out;
    for (const auto& s : server.seen()) {
      if (s.method != "GET") out.push_back(s.method + " " + s.path);
    }
    return out;
  }
};

struct Fixture {
  FakeHomeserver hs;
  test::TempDir dir;
  Config config;
  Store store{dir.path()};
  HomeserverClient client{ClientOptions{hs.server.url(), "as", std::chrono::milliseconds(2000),
                                        std::chrono::milliseconds(5000), 1}};
  PolicyBook book{store};
  std::unique_ptr<Bot> bot;

  Fixture() {
    config.homeserver.server_name = "hs";
    config.management.room = "!mgmt:hs";
    config.management.operators = {"@op:hs"};
    book.load();
    bot = std::make_unique<Bot>(config, store, client, book);
    bot->set_management_room("!mgmt:hs");
    bot->rooms().add(kRoom, json::object());
  }

  // Runs one action as the executor would; returns its outcome and commits its follow-ups.
  ActionOutcome run(const actions::Action& a, uint64_t seq = 7) {
    Batch batch;
    auto out = bot->run_action(seq, actions::encode(a), batch);
    REQUIRE(store.commit(batch));
    return out;
  }
  // The management-room notices the actions queued (drained).
  std::vector<std::string> notices() {
    std::vector<std::string> out;
    while (auto next = store.next_outbox()) {
      auto a = actions::decode(json::parse(next->json));
      REQUIRE(a);
      if (auto* n = std::get_if<actions::Notice>(&*a)) out.push_back(n->body);
      Batch del;
      del.del(Cf::kOutbox, next->key);
      REQUIRE(store.commit(del));
    }
    return out;
  }
  std::vector<AuditEntry> audit() { return AuditLog(store).query({}); }
  // Everything queued (drained), split into the notices' bodies and the other actions.
  std::pair<std::vector<std::string>, std::vector<json>> queued() {
    std::vector<std::string> bodies;
    std::vector<json> others;
    while (auto next = store.next_outbox()) {
      auto a = json::parse(next->json);
      if (a["kind"] == "notice")
        bodies.push_back(a["body"]);
      else
        others.push_back(a);
      Batch del;
      del.del(Cf::kOutbox, next->key);
      REQUIRE(store.commit(del));
    }
    return {bodies, others};
  }
};

}  // namespace

TEST_CASE("action runners: a ban is sent once, audited, and never re-issued", "[runners]") {
  Fixture f;
  actions::Ban ban{kRoom, "@spammer:evil.org", "spam", {{"spam.link"}, 9.0, ""}};
  auto out = f.run(ban);
  CHECK(out.kind == ActionOutcome::Kind::kDone);
  CHECK(out.result.empty());
  REQUIRE(f.hs.writes() == std::vector<std::string>{"POST /_matrix/client/v3/rooms/!room:hs/ban"});
  auto audit = f.audit();
  REQUIRE(audit.size() == 1);
  CHECK(audit[0].action == "ban");
  CHECK(audit[0].user == "@spammer:evil.org");
  CHECK(audit[0].outcome == "ok");
  CHECK(audit[0].reason["rules"] == json{"spam.link"});

  // Already banned: nothing sent, counted as skipped.
  auto again = f.run(ban);
  CHECK(again.result == "skipped");
  CHECK(f.hs.writes().size() == 1);
}

TEST_CASE("action runners: a kick without enough power is reported, not sent", "[runners]") {
  Fixture f;
  f.hs.power(40);  // below kick (50)
  auto out = f.run(actions::Kick{kRoom, "@spammer:evil.org", "flood", {}});
  CHECK(out.kind == ActionOutcome::Kind::kDone);
  CHECK(out.result == "no_power");
  CHECK(f.hs.writes().empty());
  auto notices = f.notices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0] == "Cannot kick @spammer:evil.org from !room:hs: not enough power.");

  f.hs.power(100);
  CHECK(f.run(actions::Kick{kRoom, "@spammer:evil.org", "flood", {}}).result.empty());
  CHECK(f.hs.writes() == std::vector<std::string>{"POST /_matrix/client/v3/rooms/!room:hs/kick"});
  // Gone already: skipped.
  CHECK(f.run(actions::Kick{kRoom, "@spammer:evil.org", "flood", {}}).result == "skipped");
}

TEST_CASE("action runners: a redaction's transaction ID comes from its outbox sequence",
          "[runners]") {
  Fixture f;
  CHECK(f.run(actions::RedactEvent{kRoom, "$spam", "@spammer:evil.org", "spam", {}}, 41).kind ==
        ActionOutcome::Kind::kDone);
  auto writes = f.hs.writes();
  REQUIRE(writes.size() == 1);
  CHECK(writes[0] ==
        "PUT /_matrix/client/v3/rooms/!room:hs/redact/$spam/tyr." + f.store.instance_id() + ".41");
  REQUIRE(f.audit().size() == 1);
  CHECK(f.audit()[0].action == "redact");
  CHECK(f.audit()[0].event_id == "$spam");
}

TEST_CASE("action runners: a server rule becomes the room's ACL once, never denying Tyr's server",
          "[runners]") {
  Fixture f;
  Batch batch;
  WatchedList list;
  list.id = "!list:hs";
  f.book.watch(batch, list);
  json rules = json::array();
  for (const char* server : {"evil.org", "h*", "bad.net"}) {
    rules.push_back({{"type", "m.policy.rule.server"},
                     {"state_key", std::string("rule:") + server},
                     {"event_id", std::string("$") + server},
                     {"sender", "@mod:hs"},
                     {"content", {{"entity", server}, {"recommendation", "m.ban"}}}});
  }
  (void)f.book.load_state(batch, "!list:hs", rules);
  REQUIRE(f.store.commit(batch));

  CHECK(f.run(actions::Acl{kRoom}).kind == ActionOutcome::Kind::kDone);
  REQUIRE(f.hs.writes() == std::vector<std::string>{
                               "PUT /_matrix/client/v3/rooms/!room:hs/state/m.room.server_acl/"});
  json acl = f.hs.state["m.room.server_acl|"]["content"];
  CHECK(acl["deny"] == json{"bad.net", "evil.org"});
  CHECK(acl["allow"] == json{"*"});
  auto notices = f.notices();
  REQUIRE(notices.size() == 2);
  CHECK(notices[0] ==
        "Server ACL of !room:hs: withheld (would deny Tyr's or an operator's server): h*");
  CHECK(notices[1] == "Server ACL of !room:hs updated: 2 servers denied.");

  // Nothing changed: nothing sent.
  CHECK(f.run(actions::Acl{kRoom}).kind == ActionOutcome::Kind::kDone);
  CHECK(f.hs.writes().size() == 1);
}

TEST_CASE("action runners: an unavailable homeserver makes an action wait, a bad entry fails",
          "[runners]") {
  Fixture f;
  f.hs.fail_status = 503;
  auto out = f.run(actions::Ban{kRoom, "@spammer:evil.org", "spam", {}});
  CHECK(out.kind == ActionOutcome::Kind::kRetry);
  CHECK(out.outage);
  CHECK(f.audit().size() == 1);  // the refusal is recorded with the homeserver's error
  CHECK(f.audit()[0].outcome == "M_UNKNOWN");

  Batch batch;
  auto bad = f.bot->run_action(8, json{{"kind", "kick"}, {"room", kRoom}}, batch);
  CHECK(bad.kind == ActionOutcome::Kind::kFailed);
  CHECK(bad.detail == "action 'kick': field 'user' is missing");
}

TEST_CASE("action runners: mute sets a level below events_default, unmute removes exactly it",
          "[runners]") {
  Fixture f;
  auto level = [&f](const std::string& user) -> json {
    std::lock_guard lock(f.hs.mu);
    const json& users = f.hs.state["m.room.power_levels|"]["content"]["users"];
    return users.contains(user) ? users[user] : json();
  };
  CHECK(f.run(actions::Mute{kRoom, "@spammer:evil.org", "flood", false, {}}).result.empty());
  CHECK(f.hs.writes() == std::vector<std::string>{
                             "PUT /_matrix/client/v3/rooms/!room:hs/state/m.room.power_levels/"});
  CHECK(level("@spammer:evil.org") == -1);
  CHECK(level("@mod:hs") == 50);  // the rest of the power levels is kept
  REQUIRE(f.audit().size() == 1);
  CHECK(f.audit()[0].action == "mute");
  // Already muted: nothing sent.
  CHECK(f.run(actions::Mute{kRoom, "@spammer:evil.org", "", false, {}}).result == "skipped");
  CHECK(f.hs.writes().size() == 1);

  CHECK(f.run(actions::Mute{kRoom, "@spammer:evil.org", "", true, {}}).result.empty());
  CHECK(level("@spammer:evil.org").is_null());
  CHECK(f.run(actions::Mute{kRoom, "@spammer:evil.org", "", true, {}}).result == "skipped");
  CHECK(f.hs.writes().size() == 2);

  // Someone with as much power as Tyr cannot be muted by it.
  f.hs.power(50);
  CHECK(f.run(actions::Mute{kRoom, "@mod:hs", "", false, {}}).result == "no_power");
  auto notices = f.notices();
  REQUIRE_FALSE(notices.empty());
  CHECK(notices.back() ==
        "Cannot mute @mod:hs in !room:hs: @mod:hs has as much power as Tyr or more.");
}

TEST_CASE("action runners: verify says what Tyr can and cannot do in each room", "[runners]") {
  Fixture f;
  f.run(actions::Verify{"$asked"});
  CHECK(f.notices() == std::vector<std::string>{"Tyr has the power it needs in all 1 protected "
                                                "room(s):\n- !room:hs: ready (power 100)"});
  f.hs.power(40);
  f.run(actions::Verify{"$asked"});
  CHECK(f.notices() ==
        std::vector<std::string>{
            "Tyr lacks power in 1 of 1 protected room(s); give it a higher power level there:\n"
            "- !room:hs: power 40, cannot ban (needs 50), kick (needs 50), redact (needs 50), "
            "mute (m.room.power_levels) (needs 50), server ACLs (m.room.server_acl) (needs 50), "
            "join rules (m.room.join_rules) (needs 50)"});
  CHECK(f.hs.writes().empty());
}

TEST_CASE("action runners: since acts on who joined or spoke in the window, never operators",
          "[runners]") {
  Fixture f;
  const int64_t now = now_ms();
  auto message = [](const std::string& sender, int64_t ts) {
    return json{{"type", "m.room.message"},
                {"sender", sender},
                {"origin_server_ts", ts},
                {"content", {{"body", "hi"}}}};
  };
  auto join = [](const std::string& user, int64_t ts) {
    return json{{"type", "m.room.member"},
                {"sender", user},
                {"state_key", user},
                {"origin_server_ts", ts},
                {"content", {{"membership", "join"}}}};
  };
  f.hs.history = {message("@raider1:evil.org", now - 1000), join("@raider2:evil.org", now - 2000),
                  message("@op:hs", now - 3000),  // an operator: never acted on
                  message("@raider1:evil.org", now - 4000),
                  message("@old:hs", now - 3'600'000)};  // before the window
  f.run(actions::Since{kRoom, now - 600'000, "kick", "raid", "$asked"});
  auto [notices, queued] = f.queued();
  REQUIRE(queued.size() == 2);
  CHECK(queued[0] ==
        json{{"kind", "kick"}, {"room", kRoom}, {"user", "@raider1:evil.org"}, {"reason", "raid"}});
  CHECK(queued[1]["user"] == "@raider2:evil.org");
  CHECK(notices == std::vector<std::string>{"Queued: kick 2 user(s) who joined or spoke in "
                                            "!room:hs: @raider1:evil.org, @raider2:evil.org."});
}

TEST_CASE("action runners: import writes a rule per banned user not in the list yet", "[runners]") {
  Fixture f;
  {
    WatchedList list;
    list.id = "!list:hs";
    list.shortcode = "bans";
    list.writable = true;
    Batch batch;
    f.book.watch(batch, list);
    REQUIRE(f.store.commit(batch));
  }
  f.hs.state["m.room.member|@banned1:evil.org"] = {
      {"content", {{"membership", "ban"}, {"reason", "spam"}}}};
  f.hs.state["m.room.member|@banned2:evil.org"] = {{"content", {{"membership", "ban"}}}};
  f.hs.state["m.room.member|@op:hs"] = {{"content", {{"membership", "ban"}}}};
  f.run(actions::ImportBans{kRoom, "!list:hs", "$asked"});
  auto [notices, rules] = f.queued();
  REQUIRE(rules.size() == 2);
  CHECK(rules[0] ==
        json{{"kind", "set_rule"},
             {"list", "!list:hs"},
             {"type", "m.policy.rule.user"},
             {"state_key", "rule:@banned1:evil.org"},
             {"content",
              {{"entity", "@banned1:evil.org"}, {"recommendation", "m.ban"}, {"reason", "spam"}}}});
  CHECK(rules[1]["content"]["reason"] == "banned in !room:hs");
  CHECK(notices == std::vector<std::string>{"Importing 2 ban(s) from !room:hs into !list:hs. 1 "
                                            "left out (operators, Tyr or allowlisted)."});
}

TEST_CASE("action runners: the admin API needs the token, and reports what it did", "[runners]") {
  Fixture f;
  auto out = f.run(actions::AdminUser{"@x:hs", "suspend", "spam", "$asked"});
  CHECK(out.result == "no_token");
  CHECK(f.hs.writes().empty());
  CHECK(f.notices() == std::vector<std::string>{"Cannot suspend @x:hs: homeserver.admin_token is "
                                                "not configured (a server admin's token)."});
  f.config.homeserver.admin_token = "admin-secret";
  CHECK(f.run(actions::AdminUser{"@x:hs", "suspend", "spam", "$asked"}).result.empty());
  CHECK(f.run(actions::AdminUser{"@x:hs", "deactivate", "", "$asked"}).result.empty());
  CHECK(f.run(actions::ShutdownRoom{kRoom, "abuse", "$asked"}).result.empty());
  CHECK(f.hs.writes() == std::vector<std::string>{"PUT /_synapse/admin/v1/suspend/@x:hs",
                                                  "POST /_synapse/admin/v1/deactivate/@x:hs",
                                                  "DELETE /_synapse/admin/v2/rooms/!room:hs"});
  CHECK(f.notices() ==
        std::vector<std::string>{
            "Suspended @x:hs: they can read but send nothing until `!tyr unsuspend @x:hs`.",
            "Deactivated @x:hs (their messages and media are kept).",
            "Shutting down !room:hs: the homeserver removes its local members, blocks it and "
            "purges it."});
  CHECK_FALSE(f.bot->rooms().contains(kRoom));  // no longer protected
  auto audit = f.audit();
  REQUIRE(audit.size() == 3);
}

TEST_CASE("action runners: set_policy_server writes m.room.policy, or says it lacks the power",
          "[runners]") {
  Fixture f;
  CHECK(f.run(actions::SetPolicyServer{kRoom, false, "hs", "PUBKEY", "$asked"}).result.empty());
  CHECK(f.hs.writes() ==
        std::vector<std::string>{"PUT /_matrix/client/v3/rooms/!room:hs/state/m.room.policy/"});
  {
    std::lock_guard lock(f.hs.mu);
    CHECK(f.hs.state["m.room.policy|"]["content"] ==
          json{{"via", "hs"}, {"public_keys", {{"ed25519", "PUBKEY"}}}});
  }
  CHECK(f.run(actions::SetPolicyServer{kRoom, true, "", "", "$asked"}).result.empty());
  {
    std::lock_guard lock(f.hs.mu);
    CHECK(f.hs.state["m.room.policy|"]["content"] == json::object());
  }
  f.hs.power(10);
  CHECK(f.run(actions::SetPolicyServer{kRoom, false, "hs", "PUBKEY", "$asked"}).result.empty());
  CHECK(f.hs.writes().size() == 2);
  const auto notices = f.notices();
  REQUIRE(notices.size() == 3);
  CHECK(notices[0].find("Policy server of !room:hs is now hs") == 0);
  CHECK(notices[1] == "Policy server of !room:hs cleared: other servers no longer ask Tyr.");
  CHECK(notices[2].find("Cannot set the policy server of !room:hs: ") == 0);
  CHECK(notices[2].find("m.room.policy") != std::string::npos);
  const auto audit = f.audit();  // newest first
  REQUIRE(audit.size() == 3);
  CHECK(audit[0].outcome == "TYR_NO_POWER");
  CHECK(audit[1].outcome == "ok");
}

TEST_CASE("action runners: learn fetches a message the classifier does not remember", "[runners]") {
  Fixture f;
  engine::classifier::Classifier c;
  REQUIRE(c.load(f.store));
  f.bot->set_scorer(nullptr, nullptr, &c);
  {
    std::lock_guard lock(f.hs.mu);
    f.hs.events["$old"] = {{"event_id", "$old"},
                           {"sender", "@spammer:evil.org"},
                           {"origin_server_ts", 5},
                           {"content", {{"msgtype", "m.text"}, {"body", "free prize, claim now"}}}};
    f.hs.events["$gone"] = {{"event_id", "$gone"}, {"content", json::object()}};
  }
  CHECK(f.run(actions::Learn{kRoom, "$old", "spam", "command", "$asked"}).result.empty());
  CHECK(f.run(actions::Learn{kRoom, "$gone", "spam", "report", "$asked"}).result.empty());
  CHECK(f.run(actions::Learn{kRoom, "$missing", "ham", "command", "$asked"}).result.empty());
  const auto notices = f.notices();
  REQUIRE(notices.size() == 3);
  CHECK(notices[0].find("Classifier: learned $old as spam") == 0);
  CHECK(notices[1].find("Cannot learn $gone: it has no text") == 0);
  CHECK(notices[2].find("Cannot learn $missing: M_NOT_FOUND") == 0);
  CHECK(c.stats()[0].find("1 spam and 0 ham") != std::string::npos);
  CHECK(f.store.get(Cf::kState, std::string(state_keys::kClassifierId) + "$old"));
}

TEST_CASE(
    "action runners: bans in one room read its create event once, its power levels until "
    "they change",
    "[runners]") {
  Fixture f;
  for (const char* user : {"@a:evil.org", "@b:evil.org", "@c:evil.org"}) {
    f.hs.member(user, "join");
    CHECK(f.run(actions::Ban{kRoom, user, "spam", {}}).result.empty());
  }
  CHECK(f.hs.writes().size() == 3);
  CHECK(f.hs.reads("m.room.create") == 1);
  CHECK(f.hs.reads("m.room.power_levels") == 1);
  CHECK(f.hs.reads("m.room.member") == 3);  // each ban still checks the user is not banned yet
  // A power-levels event of the room reaches Tyr: the next ban reads them again.
  Batch batch;
  f.bot->handle_event({{"event_id", "$pl"},
                       {"room_id", kRoom},
                       {"sender", "@creator:hs"},
                       {"type", "m.room.power_levels"},
                       {"state_key", ""},
                       {"content", json::object()}},
                      batch);
  f.hs.member("@d:evil.org", "join");
  CHECK(f.run(actions::Ban{kRoom, "@d:evil.org", "spam", {}}).result.empty());
  CHECK(f.hs.reads("m.room.create") == 1);
  CHECK(f.hs.reads("m.room.power_levels") == 2);
}

TEST_CASE(
    "action runners: power levels changed behind the cache's back are read again before "
    "anything is reported",
    "[runners]") {
  Fixture f;
  f.hs.member("@a:evil.org", "join");
  f.hs.member("@b:evil.org", "join");
  CHECK(f.run(actions::Ban{kRoom, "@a:evil.org", "spam", {}}).result.empty());
  f.notices();
  // Tyr loses its power and the event has not reached it: Synapse refuses the ban, Tyr reads
  // the levels again and reports what they say, as a fresh read would have.
  f.hs.power(0);
  f.hs.forbid_bans = true;
  CHECK(f.run(actions::Ban{kRoom, "@b:evil.org", "spam", {}}).kind == ActionOutcome::Kind::kDone);
  CHECK(f.hs.reads("m.room.power_levels") == 2);
  CHECK(f.notices() == std::vector<std::string>{
                           "Cannot ban @b:evil.org from !room:hs: banning needs power 50, Tyr "
                           "has 0."});
  // The refused attempt is not in the audit trail: only the refusal the levels explain.
  std::multiset<std::string> outcomes;
  for (const auto& e : f.audit()) outcomes.insert(e.outcome);
  CHECK(outcomes == std::multiset<std::string>{"TYR_NO_POWER", "ok"});
  // Power given back: the refusal in the cache is read again, and the ban goes out.
  f.hs.power(100);
  f.hs.forbid_bans = false;
  CHECK(f.run(actions::Ban{kRoom, "@b:evil.org", "spam", {}}).result.empty());
  CHECK(f.hs.reads("m.room.power_levels") == 3);
  CHECK(f.hs.writes() == std::vector<std::string>{"POST /_matrix/client/v3/rooms/!room:hs/ban",
                                                  "POST /_matrix/client/v3/rooms/!room:hs/ban",
                                                  "POST /_matrix/client/v3/rooms/!room:hs/ban"});
}
