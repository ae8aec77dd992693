// HTTP feeds: the three parsers on small documents and on a real feed. FeedPoller is tested
// in feed_poller_test.cpp.

#include "engine/policy/feed.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include "tests/unit/feed_fixtures.hpp"
#include "tests/unit/loopback_server.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tyr::test;  // feed_fixtures.hpp: the feed types too

FeedParse parse_ok(const FeedConfig& feed, const std::string& body) {
  auto parsed = tyr::engine::policy::parse_feed(feed, body);
  INFO((parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

std::string parse_error_of(const FeedConfig& feed, const std::string& body) {
  auto parsed = tyr::engine::policy::parse_feed(feed, body);
  if (parsed) return "(no error)";
  CHECK(parsed.error().code == "TYR_FEED_PARSE");
  return parsed.error().message;
}

std::vector<std::string> entities(const FeedParse& parse) {
  std::vector<std::string> out;
  for (const PolicyRule& rule : parse.rules) out.push_back(rule.entity);
  return out;
}

std::vector<std::string> reasons(const FeedParse& parse) {
  std::vector<std::string> out;
  for (const PolicyRule& rule : parse.rules) out.push_back(rule.reason);
  return out;
}

}  // namespace

TEST_CASE("feed: text feeds give one server rule per line", "[feed]") {
  const FeedParse parse = parse_ok(feed_config(FeedConfig::Format::kText),
                                   "\xEF\xBB\xBF# disposable domains\n"
                                   "\n"
                                   "example.com   trailing words are ignored\r\n"
                                   "  spaced.org\t \n"
                                   "   # an indented comment\n"
                                   "*.evil.net\n"
                                   "matrix.example.org:8448");
  CHECK(parse.warnings.empty());
  CHECK(parse.skipped == 0);
  CHECK(entities(parse) == std::vector<std::string>{"example.com", "spaced.org", "*.evil.net",
                                                    "matrix.example.org:8448"});
  const PolicyRule& rule = parse.rules.at(0);
  CHECK(rule.list == "feed:test");
  CHECK(rule.kind == EntityKind::kServer);
  CHECK(rule.family == tyr::engine::policy::Family::kStable);
  CHECK(rule.state_key == "example.com");
  CHECK(rule.sha256.empty());
  CHECK(rule.recommendation == Recommendation::kBan);
  CHECK(rule.recommendation_raw == "m.ban");
  CHECK(rule.reason == "listed in feed test");
  CHECK(rule.event_id.empty());
}

TEST_CASE("feed: bad text lines are skipped and reported with their line", "[feed]") {
  FeedConfig feed = feed_config(FeedConfig::Format::kText);
  feed.recommendation = "m.takedown";
  const FeedParse parse = parse_ok(feed,
                                   "ok.org\n"
                                   "bad@host.org\n"
                                   "a..b\n"
                                   "b\xC3\xBC"
                                   "cher.de\n"
                                   "ok.org\n"
                                   "tab\x01.org\n"
                                   "[::1]:8448\n");
  CHECK(entities(parse) == std::vector<std::string>{"ok.org", "[::1]:8448"});
  CHECK(parse.rules.at(0).recommendation == Recommendation::kTakedown);
  CHECK(parse.skipped == 5);
  CHECK(parse.warnings ==
        std::vector<std::string>{
            "test:2: 'bad@host.org' is not a server name: contains '@'",
            "test:3: 'a..b' is not a server name: empty label (leading, trailing or doubled '.')",
            "test:4: 'b\xC3\xBC"
            "cher.de' is not a server name: not ASCII (write international "
            "names in punycode)",
            "test:5: duplicate entry 'ok.org', first at test:1",
            "test:6: 'tab\\x01.org' is not a server name: contains a space or control character",
        });
}

TEST_CASE("feed: only the first few skipped lines are described", "[feed]") {
  std::string body;
  for (int i = 0; i < 25; ++i) body += "@user" + std::to_string(i) + ":example.org\n";
  const FeedParse parse = parse_ok(feed_config(FeedConfig::Format::kText), body);
  CHECK(parse.rules.empty());
  CHECK(parse.skipped == 25);
  REQUIRE(parse.warnings.size() == tyr::engine::policy::kMaxFeedWarnings + 1);
  CHECK(parse.warnings.front() ==
        "test:1: '@user0:example.org' is not a server name: contains '@'");
  CHECK(parse.warnings.back() == "test: 15 more entries skipped");
}

TEST_CASE("feed: user and room text feeds validate their entities", "[feed]") {
  const FeedParse users = parse_ok(feed_config(FeedConfig::Format::kText, EntityKind::kUser),
                                   "@spam:evil.org\n@*:bad.net\nspam\n@:x.org\n");
  CHECK(entities(users) == std::vector<std::string>{"@spam:evil.org", "@*:bad.net"});
  CHECK(users.rules.at(1).kind == EntityKind::kUser);
  CHECK(users.warnings == std::vector<std::string>{
                              "test:3: 'spam' is not a user ID: does not start with '@'",
                              "test:4: '@:x.org' is not a user ID: empty local part",
                          });

  // A room alias starts like a comment; as the first token of a room feed it is an entity.
  const FeedParse rooms = parse_ok(feed_config(FeedConfig::Format::kText, EntityKind::kRoom),
                                   "# spam rooms\n#spam:evil.org\n!abc:evil.org\n#nope\nroom\n");
  CHECK(entities(rooms) == std::vector<std::string>{"#spam:evil.org", "!abc:evil.org"});
  CHECK(rooms.warnings == std::vector<std::string>{
                              "test:5: 'room' is not a room ID or alias: not a room ID (!...) or "
                              "alias (#...:server)",
                          });
}

TEST_CASE("feed: entity_problem accepts globs and names what is wrong", "[feed]") {
  CHECK_FALSE(entity_problem(EntityKind::kServer, "*.example.org"));
  CHECK_FALSE(entity_problem(EntityKind::kServer, "ex??ple.org"));
  CHECK_FALSE(entity_problem(EntityKind::kServer, "1.2.3.4"));
  CHECK_FALSE(entity_problem(EntityKind::kServer, "[2001:db8::1]"));
  CHECK(entity_problem(EntityKind::kServer, "example.org.") ==
        "'example.org.' is not a server name: empty label (leading, trailing or doubled '.')");
  CHECK(entity_problem(EntityKind::kServer, "example.org:x") ==
        "'example.org:x' is not a server name: invalid port");
  CHECK(entity_problem(EntityKind::kServer, "[::1") ==
        "'[::1' is not a server name: unterminated IPv6 literal");
  CHECK(entity_problem(EntityKind::kServer, "a/b.org") ==
        "'a/b.org' is not a server name: contains '/'");
  CHECK(entity_problem(EntityKind::kUser, "@spam") ==
        "'@spam' is not a user ID: no ':server' part");
  CHECK(entity_problem(EntityKind::kUser, "@spam:a@b") ==
        "'@spam:a@b' is not a user ID: server part contains '@'");
  CHECK_FALSE(entity_problem(EntityKind::kRoom, "!opaque-v12-room-id"));
}

TEST_CASE("feed: a Mastodon domain-block export maps severities and keeps comments", "[feed]") {
  const FeedParse parse =
      parse_ok(feed_config(FeedConfig::Format::kCsv),
               "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\r\n"
               "spam.example,suspend,false,false,\"Spam, and lots of it\",false\r\n"
               "quiet.example,silence,true,false,,false\r\n"
               "fine.example,noop,true,false,,false\r\n"
               "ex**ple.org,suspend,false,false,\"Harassment \"\"campaigns\"\"\",true\r\n"
               "plain.example,suspend,false,false,,false\r\n"
               "multi.example,suspend,false,false,\"first line\nsecond line\",false\r\n"
               "after.example,Suspend,false,false,  padded  ,false\r\n");
  CHECK(parse.warnings.empty());
  CHECK(parse.skipped == 2);  // silence and noop
  CHECK(entities(parse) == std::vector<std::string>{"spam.example", "ex**ple.org", "plain.example",
                                                    "multi.example", "after.example"});
  CHECK(reasons(parse) ==
        std::vector<std::string>{"Spam, and lots of it", "Harassment \"campaigns\"",
                                 "listed in feed test", "first line\nsecond line", "padded"});
  for (const PolicyRule& rule : parse.rules) {
    CHECK(rule.kind == EntityKind::kServer);
    CHECK(rule.recommendation == Recommendation::kBan);
    CHECK(rule.state_key == rule.entity);
  }
}

TEST_CASE("feed: CSV without a severity column bans every row", "[feed]") {
  const FeedParse parse = parse_ok(feed_config(FeedConfig::Format::kCsv),
                                   "\n"
                                   "comment, Domain\n"
                                   "\"a, b\",one.example\n"
                                   "\n"
                                   ",two.example\n");
  CHECK(parse.warnings.empty());
  CHECK(entities(parse) == std::vector<std::string>{"one.example", "two.example"});
  CHECK(reasons(parse) == std::vector<std::string>{"listed in feed test", "listed in feed test"});
}

TEST_CASE("feed: bad CSV rows are skipped with the line they start on", "[feed]") {
  const FeedParse parse = parse_ok(feed_config(FeedConfig::Format::kCsv),
                                   "domain,severity,public_comment\n"
                                   "a.example,suspend,\"two\nlines\"\n"
                                   "b.example,suspend\n"
                                   "c.example,limit,x\n"
                                   "d.example,suspend,\"closed\" junk\n"
                                   "e example,suspend,x\n"
                                   "f.example,suspend,x\n");
  CHECK(entities(parse) == std::vector<std::string>{"a.example", "f.example"});
  CHECK(parse.skipped == 4);
  CHECK(parse.warnings == std::vector<std::string>{
                              "test:4: expected 3 fields, found 2",
                              "test:5: unknown severity 'limit'",
                              "test:6: text after a closing quote",
                              "test:7: 'e example' is not a server name: contains a space or "
                              "control character",
                          });
}

TEST_CASE("feed: unreadable CSV documents are errors", "[feed]") {
  const FeedConfig feed = feed_config(FeedConfig::Format::kCsv);
  CHECK(parse_error_of(feed, "") == "test: empty CSV document (no header row)");
  CHECK(parse_error_of(feed, "\r\n\n") == "test: empty CSV document (no header row)");
  CHECK(parse_error_of(feed, "\nexample.com,suspend\n") ==
        "test:2: no 'domain' column in the CSV header");
  CHECK(parse_error_of(feed, "domain,public_comment\na.example,ok\nb.example,\"never closed\n") ==
        "test:3: unterminated quoted field");
}

TEST_CASE("feed: JSON state snapshots give the rules their events describe", "[feed]") {
  const json events = json::array({
      {{"type", "m.policy.rule.server"},
       {"state_key", "rule1"},
       {"event_id", "$a"},
       {"sender", "@mod:example.org"},
       {"origin_server_ts", 1},
       {"content", {{"entity", "*.evil.org"}, {"recommendation", "m.ban"}, {"reason", "spam"}}}},
      {{"type", "m.room.create"},
       {"state_key", ""},
       {"event_id", "$b"},
       {"sender", "@mod:example.org"},
       {"origin_server_ts", 1},
       {"content", {{"creator", "@mod:example.org"}}}},
      {{"type", "m.policy.rule.user"},
       {"state_key", "rule2"},
       {"event_id", "$c"},
       {"sender", "@mod:example.org"},
       {"origin_server_ts", 2},
       {"content",
        {{"entity", "@spam:evil.org"}, {"recommendation", "m.takedown"}, {"reason", "csam"}}}},
      {{"type", "m.policy.rule.user"},
       {"state_key", "removed"},
       {"event_id", "$d"},
       {"sender", "@mod:example.org"},
       {"origin_server_ts", 3},
       {"content", json::object()}},
      {{"type", "m.policy.rule.user"},
       {"state_key", "broken"},
       {"event_id", "$e"},
       {"sender", "@mod:example.org"},
       {"origin_server_ts", 4},
       {"content", {{"entity", 5}, {"recommendation", "m.ban"}, {"reason", ""}}}},
      "not an event",
  });
  // Kind and recommendation come from the events, not from the feed's settings.
  FeedConfig feed = feed_config(FeedConfig::Format::kJsonState, EntityKind::kRoom);
  const FeedParse parse = parse_ok(feed, events.dump(2));
  REQUIRE(parse.rules.size() == 2);
  CHECK(parse.rules[0].list == "feed:test");
  CHECK(parse.rules[0].kind == EntityKind::kServer);
  CHECK(parse.rules[0].state_key == "rule1");
  CHECK(parse.rules[0].entity == "*.evil.org");
  CHECK(parse.rules[0].reason == "spam");
  CHECK(parse.rules[0].event_id.empty());
  CHECK(parse.rules[1].kind == EntityKind::kUser);
  CHECK(parse.rules[1].recommendation == Recommendation::kTakedown);
  CHECK(parse.skipped == 4);  // m.room.create, the removal, the broken rule, the string
  CHECK(parse.warnings ==
        std::vector<std::string>{"test:[4]: 'entity' is not a string", "test:[5]: not an object"});
}

TEST_CASE("feed: invalid JSON is an error with its line and byte", "[feed]") {
  const FeedConfig feed = feed_config(FeedConfig::Format::kJsonState);
  CHECK(parse_error_of(feed, "[\n  {\"type\": x}\n]") ==
        "test:2: invalid JSON at byte 14: syntax error while parsing value - invalid literal; "
        "last read: '\"type\": x'");
  CHECK(parse_error_of(feed, "{\"events\": []}") ==
        "test: expected a JSON array of state events, found object");
  CHECK(parse_error_of(feed, "") ==
        "test:1: invalid JSON at byte 1: syntax error while parsing value - unexpected end of "
        "input; expected '[', '{', or a literal");
}

TEST_CASE("feed: the real disposable-domains list parses cleanly", "[feed]") {
  // CI checks out ../shared next to the clone; elsewhere the file may be missing.
  const fs::path path =
      fs::path(TYR_FIXTURES_DIR "/../../../shared/data/feeds/disposable-domains.txt");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    WARN("skipped: " << path.string() << " not found");
    return;
  }
  std::ostringstream text;
  text << in.rdbuf();
  FeedConfig feed = feed_config(FeedConfig::Format::kText);
  feed.name = "disposable";
  const FeedParse parse = parse_ok(feed, text.str());
  CHECK(parse.warnings.empty());
  CHECK(parse.skipped == 0);
  CHECK(parse.rules.size() == 8335);
  CHECK(parse.rules.front().entity == "0-mail.com");
  for (const PolicyRule& rule : parse.rules) {
    if (rule.kind != EntityKind::kServer || rule.list != "feed:disposable") FAIL(rule.entity);
  }
}
