// List enforcement on the pipeline's side (engine/pipeline/list_enforcement): which events and
// rule changes lead to which queued actions, built without a homeserver (a real RocksDB store
// in a temp dir, the real policy book, a recorder for management-room notices).

#include <catch2/catch.hpp>

#include "engine/actions/codec.hpp"
#include "engine/pipeline/list_enforcement.hpp"
#include "temp_dir.hpp"

using namespace tyr;
using namespace tyr::engine;
using nlohmann::json;

namespace {

struct RecordedNotices : ManagementNotices {
  std::vector<std::pair<std::string, std::string>> posted;  // category, body
  std::vector<std::string> notified;
  void post_notice(Batch&, std::string_view category, const std::string& body) override {
    posted.emplace_back(std::string(category), body);
  }
  void notify(Batch&, const std::string& body) override { notified.push_back(body); }
};

struct Fixture {
  test::TempDir dir;
  Config config;
  Store store{dir.path()};
  PolicyBook book{store};
  RoomRegistry rooms;
  RecordedNotices notices;
  std::unique_ptr<ListEnforcement> lists;
  int counter = 0;

  Fixture() {
    config.homeserver.server_name = "hs";
    config.management.operators = {"@op:hs"};
    book.load();
    lists = std::make_unique<ListEnforcement>(config, store, book, rooms, notices);
    rooms.add("!a:hs", json{{"members", 10}});
    rooms.add("!b:hs", json{{"members", 500}});
    watch("!list:hs", false);
    watch("!shadow:hs", true);
  }

  void watch(const std::string& id, bool shadow) {
    Batch batch;
    WatchedList l;
    l.id = id;
    l.shadow = shadow;
    book.watch(batch, l);
    (void)book.load_state(batch, id, json::array());
    REQUIRE(store.commit(batch));
  }

  // A live rule event in a list room; returns what it queued.
  std::vector<actions::Action> rule(const std::string& list, const std::string& kind,
                                    const std::string& entity, const std::string& recommendation) {
    json content = json::object();
    if (!recommendation.empty())
      content = {{"entity", entity}, {"recommendation", recommendation}, {"reason", "spam"}};
    json ev = {{"event_id", "$r" + std::to_string(++counter)},
               {"room_id", list},
               {"sender", "@mod:hs"},
               {"type", "m.policy.rule." + kind},
               {"state_key", "rule:" + entity},
               {"content", content}};
    Batch batch;
    lists->on_list_event(ev, batch);
    return commit(batch);
  }

  std::vector<actions::Action> join(const std::string& room, const std::string& user) {
    json ev = {{"event_id", "$j" + std::to_string(++counter)},
               {"room_id", room},
               {"sender", user},
               {"type", "m.room.member"},
               {"state_key", user},
               {"content", {{"membership", "join"}}}};
    Batch batch;
    lists->on_member(ev, batch);
    return commit(batch);
  }

  // Commits `batch` and drains the outbox, in the order the executor would run it.
  std::vector<actions::Action> commit(Batch& batch) {
    REQUIRE(store.commit(batch));
    std::vector<actions::Action> out;
    while (auto next = store.next_outbox()) {
      auto a = actions::decode(json::parse(next->json));
      REQUIRE(a);
      out.push_back(*a);
      Batch del;
      del.del(Cf::kOutbox, next->key);
      REQUIRE(store.commit(del));
    }
    return out;
  }
};

template <class T>
std::vector<T> only(const std::vector<actions::Action>& all) {
  std::vector<T> out;
  for (const auto& a : all) {
    if (auto* t = std::get_if<T>(&a)) out.push_back(*t);
  }
  return out;
}

}  // namespace

TEST_CASE("list enforcement: a listed user who joins is banned, a takedown also redacts",
          "[lists]") {
  Fixture f;
  (void)f.rule("!list:hs", "user", "@spam*:evil.org", "m.ban");
  (void)f.rule("!list:hs", "user", "@worse:evil.org", "m.takedown");

  auto banned = f.join("!a:hs", "@spammer:evil.org");
  REQUIRE(banned.size() == 1);
  auto ban = std::get<actions::ListBan>(banned[0]);
  CHECK(ban.room == "!a:hs");
  CHECK(ban.user == "@spammer:evil.org");
  CHECK(ban.reason == "spam");
  CHECK(ban.list == "!list:hs");
  CHECK(ban.state_key == "rule:@spam*:evil.org");
  CHECK_FALSE(ban.shadow);

  auto taken = f.join("!a:hs", "@worse:evil.org");
  REQUIRE(taken.size() == 2);
  CHECK(std::get<actions::ListBan>(taken[0]).user == "@worse:evil.org");
  CHECK(std::get<actions::RedactUser>(taken[1]).user == "@worse:evil.org");

  CHECK(f.join("!a:hs", "@friend:good.org").empty());
}

TEST_CASE("list enforcement: an operator matching a rule is reported, never banned", "[lists]") {
  Fixture f;
  (void)f.rule("!list:hs", "user", "@op:*", "m.ban");
  CHECK(f.join("!a:hs", "@op:hs").empty());
  REQUIRE(f.notices.posted.size() == 1);
  CHECK(f.notices.posted[0].first == "exempt");
  CHECK(f.notices.posted[0].second.find("Not banning @op:hs") == 0);
}

TEST_CASE("list enforcement: a shadow list's match is queued in shadow", "[lists]") {
  Fixture f;
  (void)f.rule("!shadow:hs", "user", "@maybe:evil.org", "m.ban");
  auto queued = f.join("!b:hs", "@maybe:evil.org");
  REQUIRE(queued.size() == 1);
  CHECK(std::get<actions::ListBan>(queued[0]).shadow);
}

TEST_CASE(
    "list enforcement: rule changes queue one sweep per room, ACLs for servers, unban checks on "
    "removal",
    "[lists]") {
  Fixture f;
  auto first = f.rule("!list:hs", "user", "@a:evil.org", "m.ban");
  auto sweeps = only<actions::Sweep>(first);
  REQUIRE(sweeps.size() == 2);
  CHECK(sweeps[0].room == "!b:hs");  // largest room first
  CHECK(sweeps[1].room == "!a:hs");
  CHECK(only<actions::Acl>(first).empty());

  // Sweeps already queued and not started: another rule adds none.
  CHECK(only<actions::Sweep>(f.rule("!list:hs", "user", "@b:evil.org", "m.ban")).empty());
  f.lists->sweep_started("!a:hs");
  auto again = only<actions::Sweep>(f.rule("!list:hs", "user", "@c:evil.org", "m.ban"));
  REQUIRE(again.size() == 1);
  CHECK(again[0].room == "!a:hs");

  auto server = f.rule("!list:hs", "server", "evil.org", "m.ban");
  CHECK(only<actions::Acl>(server).size() == 2);

  auto removed = f.rule("!list:hs", "user", "@a:evil.org", "");
  auto checks = only<actions::UnbanCheck>(removed);
  REQUIRE(checks.size() == 1);
  CHECK(checks[0].list == "!list:hs");
  CHECK(checks[0].state_key == "rule:@a:evil.org");

  // A recommendation Tyr does not act on changes nothing.
  CHECK(f.rule("!list:hs", "user", "@d:evil.org", "org.example.watch").empty());
}

TEST_CASE("list enforcement: a rule naming a protected room warns the operators", "[lists]") {
  Fixture f;
  CHECK(f.rule("!list:hs", "room", "!a:hs", "m.ban").empty());
  REQUIRE(f.notices.notified.size() == 1);
  CHECK(f.notices.notified[0].find("Protected room !a:hs is now on a ban list") == 0);
}

TEST_CASE("list enforcement: the allowlist and Tyr's own server are never judged against",
          "[lists]") {
  Fixture f;
  f.config.policy.allow = {"@friend:*", "partner.org"};
  (void)f.rule("!list:hs", "user", "@*:evil.org", "m.ban");
  CHECK(f.lists->is_allowlisted("@friend:evil.org"));
  CHECK_FALSE(f.lists->judge_user("@friend:evil.org").act);
  CHECK(f.lists->judge_user("@enemy:evil.org").act);
  auto servers = f.lists->protected_servers();
  CHECK(std::find(servers.begin(), servers.end(), "hs") != servers.end());
  CHECK(std::find(servers.begin(), servers.end(), "partner.org") != servers.end());
}

TEST_CASE("list enforcement: a moderator's ban by hand gets an offer to add it to a list",
          "[lists]") {
  Fixture f;
  auto ban = [&](const std::string& sender, const std::string& user, const std::string& reason) {
    json content = {{"membership", "ban"}};
    if (!reason.empty()) content["reason"] = reason;
    json ev = {{"event_id", "$b" + std::to_string(++f.counter)},
               {"room_id", "!a:hs"},
               {"sender", sender},
               {"type", "m.room.member"},
               {"state_key", user},
               {"content", content}};
    Batch batch;
    f.lists->on_member(ev, batch);
    return f.commit(batch);
  };
  CHECK(ban("@mod:hs", "@troll:evil.org", "slurs").empty());
  REQUIRE(f.notices.posted.size() == 1);
  CHECK(f.notices.posted[0].first == "ban_propagation");
  CHECK(f.notices.posted[0].second ==
        "@mod:hs banned @troll:evil.org in !a:hs (“slurs”). To ban them in every protected room, "
        "add it to a list: `!tyr ban <list> @troll:evil.org slurs`");
  // With a list Tyr writes, the offer names it, ready to paste.
  {
    Batch batch;
    WatchedList l;
    l.id = "!mine:hs";
    l.shortcode = "mine";
    l.writable = true;
    f.book.watch(batch, l);
    REQUIRE(f.store.commit(batch));
  }
  ban("@mod:hs", "@other:evil.org", "");
  REQUIRE(f.notices.posted.size() == 2);
  CHECK(f.notices.posted[1].second ==
        "@mod:hs banned @other:evil.org in !a:hs. To ban them in every protected room, add it to "
        "mine: `!tyr ban @other:evil.org`");
  // Tyr's own bans, and bans a list already makes, get no offer.
  ban("@tyr:hs", "@third:evil.org", "");
  f.rule("!list:hs", "user", "@listed:evil.org", "m.ban");
  ban("@mod:hs", "@listed:evil.org", "");
  size_t offers = 0;
  for (const auto& [category, body] : f.notices.posted) offers += category == "ban_propagation";
  CHECK(offers == 2);
}
