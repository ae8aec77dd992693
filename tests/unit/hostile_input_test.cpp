// Regressions of the issue "Survive hostile input at the edge": one message, report or feed entry
// crashed Tyr on every restart (invalid UTF-8 reaching a strict json::dump()), notices quoted
// untrusted text that pinged the management room, and a trusted reporter counted twice. Each
// test runs the real code with a real RocksDB store in a temp dir and, where the homeserver or
// a feed server is involved, a real httplib::Server on a loopback port chosen at run time.

#include <httplib.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bot_rig.hpp"
#include "engine/client/homeserver_client.hpp"
#include "engine/core/text.hpp"
#include "engine/metrics/tyr_metrics.hpp"
#include "engine/pipeline/bot.hpp"
#include "engine/pipeline/feed_worker.hpp"
#include "engine/pipeline/pipeline.hpp"
#include "engine/pipeline/report_notice.hpp"
#include "engine/pipeline/report_worker.hpp"
#include "engine/policy/feed.hpp"
#include "engine/store/store.hpp"
#include "plugins/registry.hpp"
#include "tests/unit/loopback_server.hpp"

using namespace tyr;
using namespace tyr::engine;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Server = tyr::test::LoopbackServer;

void answer_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// A homeserver that knows one event ($reported, with `body`) and accepts sends.
Server::Handler homeserver(std::string body) {
  return [body = std::move(body)](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" && req.path.find("/event/") != std::string::npos) {
      if (req.path.find("reported") == std::string::npos) {
        answer_json(res, 404, {{"errcode", "M_NOT_FOUND"}, {"error", "Event not found"}});
        return;
      }
      answer_json(res, 200,
                  {{"type", "m.room.message"},
                   {"event_id", "$reported"},
                   {"origin_server_ts", 1795867200000},
                   {"content", {{"msgtype", "m.text"}, {"body", body}}}});
      return;
    }
    answer_json(res, 200, {{"event_id", "$sent"}});
  };
}

// A bot on a real store, talking to `homeserver_url`, with trusted reporters and `feeds`.
struct Rig : test::BotRig {
  explicit Rig(const std::string& homeserver_url, std::vector<FeedConfig> feeds = {})
      : BotRig(homeserver_url, [&feeds](Config& c) {
          c.reports.enabled = true;
          c.reports.trusted_reporters = {"@t1:hs", "@t2:hs"};
          c.reports.trusted_reports_to_redact = 2;
          c.feeds = std::move(feeds);
        }) {}
};

json report(int64_t id, const std::string& reporter, const json& reason,
            const std::string& event_id = "$reported") {
  return {{"id", id},
          {"received_ts", 1795867200000},
          {"room_id", "!room:hs"},
          {"event_id", event_id},
          {"user_id", reporter},
          {"reason", reason},
          {"score", nullptr},
          {"sender", "@spammer:hs"},
          {"name", nullptr},
          {"canonical_alias", nullptr}};
}

json page(std::vector<json> reports) {
  return {{"event_reports", reports}, {"total", reports.size()}};
}

std::vector<json> of_kind(const std::vector<json>& actions, const std::string& kind) {
  std::vector<json> out;
  for (const auto& a : actions) {
    if (a.value("kind", "") == kind) out.push_back(a);
  }
  return out;
}

template <class Pred>
bool wait_for(Pred pred, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

TEST_CASE("hostile input: a reported message cut inside a character still gives a notice",
          "[hostile]") {
  // 199 ASCII bytes, then a 3-byte character across the old 200-byte cut.
  const std::string body = std::string(199, 'a') + "€€€ buy now";
  Server hs(homeserver(body));
  Rig rig(hs.url());
  ReportWorker worker(rig.config, *rig.store, *rig.client, *rig.bot);
  worker.handle_page(page({report(1, "@someone:hs", "spam")}));
  CHECK(rig.store->get(Cf::kState, "reports/last") == "1");
  const auto notices = of_kind(rig.take_actions(), "notice");
  REQUIRE(notices.size() == 1);
  const std::string text = notices[0]["body"];
  CHECK(is_valid_utf8(text));
  CHECK(text.find("Message (sent 2026-11-28T") != std::string::npos);
  CHECK(text.find("“" + std::string(199, 'a') + "…”") != std::string::npos);
  CHECK_NOTHROW(notices[0].dump());
}

TEST_CASE("hostile input: a report without a reason or sender is posted, not fatal", "[hostile]") {
  Server hs(homeserver("hello"));
  Rig rig(hs.url());
  ReportWorker worker(rig.config, *rig.store, *rig.client, *rig.bot);
  json r = report(7, "@someone:hs", nullptr);
  r["sender"] = nullptr;
  json no_id = report(8, "@someone:hs", "x");
  no_id["id"] = "8";  // not Synapse's format: skipped, not fatal either
  worker.handle_page(page({r, no_id}));
  CHECK(rig.store->get(Cf::kState, "reports/last") == "7");
  const auto notices = of_kind(rig.take_actions(), "notice");
  REQUIRE(notices.size() == 1);
  CHECK(notices[0]["body"].get<std::string>().rfind(
            "Report 7: @someone:hs reported $reported by  in !room:hs\n", 0) == 0);
}

TEST_CASE("hostile input: report reasons are quoted, capped and cannot add lines", "[hostile]") {
  Server hs(homeserver("@room free coins"));
  Rig rig(hs.url());
  ReportWorker worker(rig.config, *rig.store, *rig.client, *rig.bot);
  const std::string reason = "@room look\nReport 99: fake line " + std::string(5000, 'x');
  worker.handle_page(page({report(3, "@someone:hs", reason)}));
  const auto notices = of_kind(rig.take_actions(), "notice");
  REQUIRE(notices.size() == 1);
  const std::string text = notices[0]["body"];
  CHECK(text.find(": “@room look\\nReport 99: fake line xxx") != std::string::npos);
  CHECK(text.find("\nReport 99") == std::string::npos);
  CHECK(text.find("Message (sent 2026-11-28T12:00:00Z): “@room free coins”") != std::string::npos);
  CHECK(text.size() < 1000);
  const json stored = json::parse(*rig.store->get(Cf::kState, "report/3"));
  CHECK(stored["reason"].get<std::string>().size() <= kMaxReportReason + kEllipsis.size());
}

TEST_CASE("hostile input: every notice carries m.mentions naming nobody", "[hostile]") {
  Server hs(homeserver(""));
  Rig rig(hs.url());
  Batch batch;
  const json notice = {{"kind", "notice"}, {"room", "!mgmt:hs"}, {"body", "Report 1: “@room”"}};
  const auto outcome = rig.bot->run_action(1, notice, batch);
  CHECK(outcome.kind == ActionOutcome::Kind::kDone);
  const auto seen = hs.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "PUT");
  CHECK(seen[0].path.find("/send/m.room.message/") != std::string::npos);
  const json content = json::parse(seen[0].body);
  CHECK(content["m.mentions"] == json::object());
  CHECK(content["body"] == "Report 1: “@room”");
}

TEST_CASE("hostile input: display names quoting @room are quoted and capped in protection notices",
          "[hostile]") {
  plugins::ProtectionSuite suite;
  REQUIRE(suite.set_mode("name_abuse", engine::protection::Mode::kEnforce));
  const engine::protection::Moderator mods[] = {{"@mod:x", "Mod @room", ""}};
  // Folds to the moderator's name; the rest is padding and a line break.
  const std::string name = "Mod @room\n" + std::string(300, '!');
  const json ev = {{"type", "m.room.member"},
                   {"room_id", "!r:x"},
                   {"state_key", "@evil:x"},
                   {"sender", "@evil:x"},
                   {"content", {{"membership", "join"}, {"displayname", name}}}};
  engine::protection::MembershipContext join(ev, 0);
  join.moderators = mods;
  const auto result = suite.on_membership(join);
  REQUIRE(result.requests.size() == 1);
  REQUIRE(result.requests[0].notify() != nullptr);
  const std::string text = result.requests[0].notify()->text;
  INFO(text);
  CHECK(text.find("“Mod @room\\n!!!") != std::string::npos);
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.size() < 200);
  CHECK(text.find("…” resembles @mod:x") != std::string::npos);
}

TEST_CASE("hostile input: a trusted reporter reporting one event twice counts once", "[hostile]") {
  Server hs(homeserver("spam"));
  Rig rig(hs.url());
  ReportWorker worker(rig.config, *rig.store, *rig.client, *rig.bot);
  worker.handle_page(page({report(1, "@t1:hs", "spam"), report(2, "@t1:hs", "spam again")}));
  CHECK(rig.store->get(Cf::kState, "reportcount/$reported") == "1");
  auto actions = rig.take_actions();
  CHECK(of_kind(actions, "redact_event").empty());
  REQUIRE(of_kind(actions, "notice").size() == 2);
  CHECK(of_kind(actions, "notice")[1]["body"].get<std::string>().find(
            "Trusted reports of this event: 1 of 2 (this reporter was counted already).") !=
        std::string::npos);
  // A second trusted reporter reaches the threshold.
  worker.handle_page(page({report(3, "@t2:hs", "spam")}));
  CHECK(rig.store->get(Cf::kState, "reportcount/$reported") == "2");
  actions = rig.take_actions();
  REQUIRE(of_kind(actions, "redact_event").size() == 1);
  CHECK(of_kind(actions, "redact_event")[0]["event_id"] == "$reported");
  // And a third report by either changes nothing.
  worker.handle_page(page({report(4, "@t2:hs", "spam")}));
  CHECK(rig.store->get(Cf::kState, "reportcount/$reported") == "2");
  CHECK(of_kind(rig.take_actions(), "redact_event").empty());
}

namespace {

// Throws for the reports and events it is told to; records the rest.
struct Poisoned : ReportHandler, EventHandler {
  std::set<int64_t> bad_reports;
  std::set<std::string> bad_events;
  std::vector<int64_t> reports;
  std::vector<std::string> events;
  std::vector<std::string> set_aside;  // "<worker> <what>"

  void on_report(const AbuseReport& r, Batch& batch) override {
    batch.put(Cf::kState, "test/report/" + std::to_string(r.id), "partial");
    if (bad_reports.count(r.id)) throw std::runtime_error("report poison \xff");
    reports.push_back(r.id);
  }
  void handle_event(const json& event, Batch& batch) override {
    const std::string id = event.value("event_id", "");
    batch.put(Cf::kState, "test/event/" + id, "partial");
    if (bad_events.count(id))
      throw nlohmann::json::type_error::create(316, "invalid UTF-8 byte", nullptr);
    events.push_back(id);
  }
  void on_poisoned(std::string_view worker, const json&, std::string_view what, std::string_view,
                   Batch& batch) override {
    set_aside.push_back(std::string(worker) + " " + std::string(what));
    batch.put(Cf::kState, "test/aside/" + std::string(what), "");
  }
};

}  // namespace

TEST_CASE("hostile input: a report whose handling throws is set aside and the next is handled",
          "[hostile]") {
  const fs::path dir =
      fs::temp_directory_path() / ("tyr-hostile-" + std::to_string(std::random_device{}()));
  Config config;
  config.homeserver.url = "http://127.0.0.1:1";
  auto& poisoned_reports = metrics::tyr_metrics().poisoned_items.with("reports");
  const uint64_t before = poisoned_reports.value();
  {
    Store store(dir);
    HomeserverClient client(ClientOptions{"http://127.0.0.1:1", "t"});
    Poisoned handler;
    handler.bad_reports = {2};
    ReportWorker worker(config, store, client, handler);
    worker.handle_page(
        page({report(3, "@a:hs", "c"), report(1, "@a:hs", "a"), report(2, "@a:hs", "b")}));
    CHECK(handler.reports == std::vector<int64_t>{1, 3});
    CHECK(handler.set_aside == std::vector<std::string>{"reports report 2"});
    CHECK(store.get(Cf::kState, "reports/last") == "3");
    const json aside = json::parse(*store.get(Cf::kState, "poisoned/report/2"));
    CHECK(aside["report"]["id"] == 2);
    CHECK(aside["error"] == "report poison \xEF\xBF\xBD");
    CHECK_FALSE(store.get(Cf::kState, "test/report/2"));  // its partial effects were dropped
    CHECK(store.get(Cf::kState, "test/aside/report 2"));
    CHECK(poisoned_reports.value() == before + 1);
  }
  {
    // After a restart the same page is not handled again: the poisoned report stays aside.
    Store store(dir);
    HomeserverClient client(ClientOptions{"http://127.0.0.1:1", "t"});
    Poisoned handler;
    handler.bad_reports = {2};
    ReportWorker worker(config, store, client, handler);
    worker.handle_page(page({report(1, "@a:hs", "a"), report(2, "@a:hs", "b"),
                             report(3, "@a:hs", "c"), report(4, "@a:hs", "d")}));
    CHECK(handler.reports == std::vector<int64_t>{4});
    CHECK(handler.set_aside.empty());
  }
  fs::remove_all(dir);
}

TEST_CASE("hostile input: an event whose handling throws is set aside and the next is processed",
          "[hostile]") {
  const fs::path dir =
      fs::temp_directory_path() / ("tyr-hostile-" + std::to_string(std::random_device{}()));
  auto& m = metrics::tyr_metrics();
  const uint64_t failed_before = m.events_failed.value();
  const uint64_t poisoned_before = m.poisoned_items.with("pipeline").value();
  {
    Store store(dir);
    REQUIRE(store.accept_transaction(
        "1", {"$a", "$b", "$c"},
        {R"({"event_id":"$a"})", R"({"event_id":"$b"})", R"({"event_id":"$c"})"}));
    Poisoned handler;
    handler.bad_events = {"$b"};
    Pipeline pipeline(store, handler);
    pipeline.start();
    REQUIRE(wait_for([&] { return pipeline.processed() == 3; }));
    pipeline.stop();
    CHECK(handler.events == std::vector<std::string>{"$a", "$c"});
    CHECK(handler.set_aside == std::vector<std::string>{"pipeline event at seq 2"});
    CHECK(store.inbox_depth() == 0);
    CHECK(store.get(Cf::kState, "dead/" + encode_seq(2)) == R"({"event_id":"$b"})");
    CHECK_FALSE(store.get(Cf::kState, "test/event/$b"));
    CHECK(store.get(Cf::kState, "test/event/$c"));
    CHECK(m.events_failed.value() == failed_before + 1);
    CHECK(m.poisoned_items.with("pipeline").value() == poisoned_before + 1);
  }
  {
    Store store(dir);  // a restart: nothing left to retry
    CHECK(store.inbox_depth() == 0);
  }
  fs::remove_all(dir);
}

TEST_CASE("hostile input: a Latin-1 comment in a CSV feed is kept as U+FFFD", "[hostile]") {
  engine::policy::FeedConfig feed;
  feed.name = "csv";
  feed.format = engine::policy::FeedConfig::Format::kCsv;
  feed.reason = "listed in feed csv";
  auto parsed = engine::policy::parse_feed(
      feed, "#domain,#severity,#public_comment\nspam.example,suspend,caf\xe9 spam\n");
  REQUIRE(parsed);
  REQUIRE(parsed->rules.size() == 1);
  CHECK(parsed->rules[0].reason == "caf\xEF\xBF\xBD spam");
  engine::policy::FeedState state;
  state.rules = parsed->rules;
  CHECK_NOTHROW(json(state).dump());
}

TEST_CASE("hostile input: a non-UTF-8 feed entry is skipped with a warning that serialises",
          "[hostile]") {
  engine::policy::FeedConfig feed;
  feed.name = "text";
  feed.format = engine::policy::FeedConfig::Format::kText;
  feed.reason = "listed in feed text";
  // A server name with a Latin-1 byte, one whose 80-byte warning cut falls inside "é", and a user
  // ID with a Latin-1 byte (in a user feed).
  const std::string long_name = std::string(79, 'a') + "é.example";
  auto parsed =
      engine::policy::parse_feed(feed, "good.example\nbad\xff.example\n" + long_name + "\n");
  REQUIRE(parsed);
  CHECK(parsed->rules.size() == 1);
  REQUIRE(parsed->warnings.size() == 2);
  CHECK(parsed->warnings[0] ==
        "text:2: 'bad\xEF\xBF\xBD.example' is not a server name: not ASCII (write international "
        "names in punycode)");
  CHECK(parsed->warnings[1].find("'" + std::string(79, 'a') + "…'") != std::string::npos);
  engine::policy::FeedState state;
  state.rules = parsed->rules;
  state.warnings = parsed->warnings;
  CHECK_NOTHROW(json(state).dump());

  feed.kind = engine::policy::EntityKind::kUser;
  auto users = engine::policy::parse_feed(feed, "@sp\xe4m:example.org\n@ok:example.org\n");
  REQUIRE(users);
  REQUIRE(users->rules.size() == 1);
  CHECK(users->rules[0].entity == "@ok:example.org");
  REQUIRE(users->warnings.size() == 1);
  CHECK(users->warnings[0] ==
        "text:1: '@sp\xEF\xBF\xBDm:example.org' is not a user ID: not valid UTF-8");

  // nlohmann quotes the bytes it last read in a parse error; that message is stored too.
  feed.format = engine::policy::FeedConfig::Format::kJsonState;
  auto bad_json = engine::policy::parse_feed(feed, "[{\"state_key\": \"x\xff\"}]");
  REQUIRE_FALSE(bad_json);
  CHECK(is_valid_utf8(bad_json.error().message));
}

TEST_CASE(
    "hostile input: the feed worker stores a Latin-1 CSV feed and a non-UTF-8 text feed and polls "
    "again",
    "[hostile]") {
  Server feeds([](const httplib::Request& req, httplib::Response& res) {
    res.status = 200;
    if (req.path == "/csv") {
      res.set_content("#domain,#severity,#public_comment\nspam.example,suspend,caf\xe9 spam\n",
                      "text/csv");
    } else {
      res.set_content("good.example\nbad\xff.example\n" + std::string(79, 'a') + "é.example\n",
                      "text/plain");
    }
  });
  engine::policy::FeedConfig csv;
  csv.name = "csv";
  csv.url = feeds.url("/csv");
  csv.format = engine::policy::FeedConfig::Format::kCsv;
  csv.interval = std::chrono::seconds(1);
  csv.reason = "listed in feed csv";
  csv.allow_private = true;  // the test server is on loopback
  engine::policy::FeedConfig text = csv;
  text.name = "text";
  text.url = feeds.url("/text");
  text.format = engine::policy::FeedConfig::Format::kText;
  text.reason = "listed in feed text";
  Rig rig("http://127.0.0.1:1", {csv, text});
  FeedWorker worker(rig.config, *rig.store, *rig.bot);
  worker.start();
  // Polled, stored, and polled again: the worker went on.
  const bool polled_twice =
      wait_for([&] { return feeds.count("/csv") >= 2 && feeds.count("/text") >= 2; });
  worker.stop();
  REQUIRE(polled_twice);
  const auto stored_csv =
      json::parse(*rig.store->get(Cf::kState, "feed/csv")).get<engine::policy::FeedState>();
  REQUIRE(stored_csv.rules.size() == 1);
  CHECK(stored_csv.rules[0].reason == "caf\xEF\xBF\xBD spam");
  CHECK(stored_csv.last_error.empty());
  const auto stored_text =
      json::parse(*rig.store->get(Cf::kState, "feed/text")).get<engine::policy::FeedState>();
  CHECK(stored_text.rules.size() == 1);
  CHECK(stored_text.warnings.size() == 2);
  CHECK(rig.bot->book().counts(engine::policy::feed_list_id("csv"))[2] == 1);
}
