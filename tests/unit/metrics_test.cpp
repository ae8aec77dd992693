// Metrics: the exact text exposition (format 0.0.4) of each metric type, label escaping and
// bounding, concurrency, registration errors, Tyr's metric set, and the admin listener over
// real HTTP on a loopback port chosen at run time.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/core/version.hpp"
#include "engine/metrics/admin_server.hpp"
#include "engine/metrics/metrics.hpp"
#include "engine/metrics/tyr_metrics.hpp"

using namespace tyr::engine::metrics;

namespace {

// Every non-comment line of a 0.0.4 exposition: name, optional labels, value.
const std::regex kSampleLine(R"re([a-zA-Z_:][a-zA-Z0-9_:]*)re"
                             R"re((\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})?)re"
                             R"re( ([-+]?[0-9.e+-]+|\+Inf|-Inf|NaN))re");
const std::regex kCommentLine(R"re(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*)re");

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Sends raw bytes to 127.0.0.1:port and returns what the server writes: up to 5 s for the first
// bytes, then until it closes or stays quiet for 300 ms (httplib keeps a connection open until
// its keep-alive timeout even after answering "Connection: close").
std::string raw_exchange(uint16_t port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::send(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
    timeval quiet{0, 300000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &quiet, sizeof quiet);
  }
  ::close(fd);
  return out;
}

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("metrics: counter renders HELP, TYPE and an integer value", "[metrics]") {
  Registry r;
  auto& c = r.counter("tyr_things_total", "Things seen.");
  c.inc();
  c.add(41);
  CHECK(c.value() == 42);
  CHECK(r.render() ==
        "# HELP tyr_things_total Things seen.\n"
        "# TYPE tyr_things_total counter\n"
        "tyr_things_total 42\n");
}

TEST_CASE("metrics: gauge set, inc, dec and special values", "[metrics]") {
  Registry r;
  auto& g = r.gauge("tyr_level", "A level.");
  g.set(2.5);
  g.inc();
  g.dec();
  g.dec();
  CHECK(r.render() ==
        "# HELP tyr_level A level.\n"
        "# TYPE tyr_level gauge\n"
        "tyr_level 1.5\n");
  g.set(-3);
  CHECK(lines_of(r.render()).back() == "tyr_level -3");
  g.set(std::numeric_limits<double>::infinity());
  CHECK(lines_of(r.render()).back() == "tyr_level +Inf");
  g.set(-std::numeric_limits<double>::infinity());
  CHECK(lines_of(r.render()).back() == "tyr_level -Inf");
  g.set(std::nan(""));
  CHECK(lines_of(r.render()).back() == "tyr_level NaN");
  g.set(1e-7);
  CHECK(lines_of(r.render()).back() == "tyr_level 1e-07");
  g.set(1234567890123.0);
  CHECK(lines_of(r.render()).back() == "tyr_level 1234567890123");
}

TEST_CASE("metrics: callback gauges are evaluated at scrape time", "[metrics]") {
  Registry r;
  auto& g = r.gauge("tyr_queue_depth", "Queue depth.");
  g.set(7);
  int depth = 3;
  g.set_callback([&] { return static_cast<double>(depth); });
  CHECK(lines_of(r.render()).back() == "tyr_queue_depth 3");
  depth = 11;
  CHECK(lines_of(r.render()).back() == "tyr_queue_depth 11");

  SECTION("a throwing callback drops the sample, not the scrape") {
    g.set_callback([]() -> double { throw std::runtime_error("store closed"); });
    CHECK(r.render() ==
          "# HELP tyr_queue_depth Queue depth.\n"
          "# TYPE tyr_queue_depth gauge\n");
  }
  SECTION("removing the callback restores the stored value") {
    g.set_callback({});
    CHECK(lines_of(r.render()).back() == "tyr_queue_depth 7");
  }
}

TEST_CASE("metrics: histogram renders cumulative le buckets, +Inf, _sum and _count", "[metrics]") {
  Registry r;
  auto& h = r.histogram("tyr_wait_seconds", "Waiting.", {0.25, 1, 2});
  h.observe(0.25);  // le is inclusive: first bucket
  h.observe(0.5);
  h.observe(1.0);
  h.observe(4.0);           // only +Inf
  h.observe(std::nan(""));  // dropped
  CHECK(r.render() ==
        "# HELP tyr_wait_seconds Waiting.\n"
        "# TYPE tyr_wait_seconds histogram\n"
        "tyr_wait_seconds_bucket{le=\"0.25\"} 1\n"
        "tyr_wait_seconds_bucket{le=\"1\"} 3\n"
        "tyr_wait_seconds_bucket{le=\"2\"} 3\n"
        "tyr_wait_seconds_bucket{le=\"+Inf\"} 4\n"
        "tyr_wait_seconds_sum 5.75\n"
        "tyr_wait_seconds_count 4\n");
}

TEST_CASE("metrics: histogram buckets are cumulative and match a brute-force count", "[metrics]") {
  const std::vector<double> bounds = {5e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1};
  Histogram h(bounds);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> exponent(-7, 1);
  std::vector<double> seen;
  for (int i = 0; i < 5000; ++i) {
    const double v = std::pow(10.0, exponent(rng));
    seen.push_back(v);
    h.observe(v);
  }
  h.observe(std::chrono::microseconds(50));  // durations land in seconds
  seen.push_back(50e-6);
  const auto s = h.snapshot();
  REQUIRE(s.cumulative.size() == bounds.size() + 1);
  for (size_t i = 0; i < bounds.size(); ++i) {
    const auto expected =
        std::count_if(seen.begin(), seen.end(), [&](double v) { return v <= bounds[i]; });
    CHECK(s.cumulative[i] == static_cast<uint64_t>(expected));
    if (i > 0) CHECK(s.cumulative[i] >= s.cumulative[i - 1]);
  }
  CHECK(s.cumulative.back() == seen.size());
  CHECK(s.count == seen.size());
}

TEST_CASE("metrics: ScopedTimer observes its lifetime", "[metrics]") {
  Histogram h(std::vector<double>{10.0});
  { ScopedTimer t(h); }
  const auto s = h.snapshot();
  CHECK(s.count == 1);
  CHECK(s.cumulative[0] == 1);
  CHECK(s.sum >= 0);
  CHECK(s.sum < 10);
}

TEST_CASE("metrics: labelled families render sorted, escaped, fixed values pre-created",
          "[metrics]") {
  Registry r;
  auto& verdicts = r.counter_family("tyr_verdicts_total", "Verdicts.",
                                    {Label::fixed("action", {"notify", "allow", "ban"})});
  verdicts.with("ban").add(2);
  verdicts.with(std::string("allow")).inc();
  CHECK(r.render() ==
        "# HELP tyr_verdicts_total Verdicts.\n"
        "# TYPE tyr_verdicts_total counter\n"
        "tyr_verdicts_total{action=\"allow\"} 1\n"
        "tyr_verdicts_total{action=\"ban\"} 2\n"
        "tyr_verdicts_total{action=\"notify\"} 0\n");

  SECTION("label values and HELP text are escaped") {
    Registry e;
    auto& f = e.counter_family("tyr_escaped_total", "Back\\slash and\nnewline \"quoted\".",
                               {Label::capped("rule", 10), Label::fixed("mode", {"shadow"})});
    f.with("a\\b\"c\nd", "shadow").inc();
    CHECK(e.render() ==
          "# HELP tyr_escaped_total Back\\\\slash and\\nnewline \"quoted\".\n"
          "# TYPE tyr_escaped_total counter\n"
          "tyr_escaped_total{rule=\"a\\\\b\\\"c\\nd\",mode=\"shadow\"} 1\n");
  }
  SECTION("labelled histograms put le last") {
    Registry e;
    auto& f = e.histogram_family("tyr_call_seconds", "Calls.", {Label::fixed("endpoint", {"join"})},
                                 {0.5});
    f.with("join").observe(0.125);
    CHECK(e.render() ==
          "# HELP tyr_call_seconds Calls.\n"
          "# TYPE tyr_call_seconds histogram\n"
          "tyr_call_seconds_bucket{endpoint=\"join\",le=\"0.5\"} 1\n"
          "tyr_call_seconds_bucket{endpoint=\"join\",le=\"+Inf\"} 1\n"
          "tyr_call_seconds_sum{endpoint=\"join\"} 0.125\n"
          "tyr_call_seconds_count{endpoint=\"join\"} 1\n");
  }
  SECTION("families render in name order whatever the registration order") {
    Registry e;
    e.counter("tyr_b_total", "b").inc();
    e.gauge("tyr_a", "a").set(1);
    e.counter("process_x_total", "x");
    CHECK(e.render() ==
          "# HELP process_x_total x\n# TYPE process_x_total counter\nprocess_x_total 0\n"
          "# HELP tyr_a a\n# TYPE tyr_a gauge\ntyr_a 1\n"
          "# HELP tyr_b_total b\n# TYPE tyr_b_total counter\ntyr_b_total 1\n");
  }
}

TEST_CASE("metrics: a capped label folds values past the cap into \"other\"", "[metrics]") {
  Registry r;
  auto& hits = r.counter_family("tyr_rule_hits_total", "Hits.", {Label::capped("rule", 3)});
  CHECK(hits.max_series() == 4);
  CHECK(hits.size() == 0);  // capped labels have nothing to pre-create
  for (const char* rule : {"spam.a", "spam.b", "spam.c", "spam.d", "spam.e", "spam.a"}) {
    hits.with(rule).inc();
  }
  CHECK(hits.size() == 4);
  CHECK(&hits.with("spam.d") == &hits.with("spam.e"));
  CHECK(&hits.with("spam.d") == &hits.with(kOther));
  CHECK(&hits.with("spam.a") != &hits.with("spam.b"));
  CHECK(r.render() ==
        "# HELP tyr_rule_hits_total Hits.\n"
        "# TYPE tyr_rule_hits_total counter\n"
        "tyr_rule_hits_total{rule=\"other\"} 2\n"
        "tyr_rule_hits_total{rule=\"spam.a\"} 2\n"
        "tyr_rule_hits_total{rule=\"spam.b\"} 1\n"
        "tyr_rule_hits_total{rule=\"spam.c\"} 1\n");
  for (int i = 0; i < 1000; ++i) hits.with("r" + std::to_string(i)).inc();
  CHECK(hits.size() == 4);
  CHECK(hits.with(kOther).value() == 1002);
}

TEST_CASE("metrics: label values that are not UTF-8 or too long never become series", "[metrics]") {
  Registry r;
  auto& f = r.counter_family("tyr_results_total", "Results.", {Label::capped("result", 10)});
  CHECK(&f.with("\xff\xfe") == &f.with(kOther));
  CHECK(&f.with(std::string(129, 'x')) == &f.with(kOther));
  CHECK(&f.with(std::string(128, 'x')) != &f.with(kOther));
  CHECK(&f.with("M_FORBIDDEN \xe2\x9c\x93") != &f.with(kOther));  // valid UTF-8 is kept
  CHECK(f.size() == 3);
}

TEST_CASE("metrics: a fixed label folds unknown values into \"other\"", "[metrics]") {
  Registry r;
  auto& events = r.counter_family("tyr_events_received_total", "Events.",
                                  {Label::fixed("type", {"m.room.message", "m.room.member"})});
  CHECK(events.size() == 2);
  CHECK(events.max_series() == 3);
  events.with("m.room.message").inc();
  events.with("com.spammer.random.1").inc();
  events.with("com.spammer.random.2").inc();
  CHECK(events.size() == 3);
  CHECK(events.with(kOther).value() == 2);

  SECTION("an explicitly declared \"other\" is pre-created and not doubled") {
    Registry e;
    auto& cb = e.counter_family("tyr_vetoes_total", "Vetoes.",
                                {Label::fixed("callback", {"user_may_invite", "other"}),
                                 Label::fixed("outcome", {"allow", "reject"})});
    CHECK(cb.size() == 4);
    CHECK(cb.max_series() == 6);  // outcome may still fold into "other"
    cb.with("whatever", "allow").inc();
    CHECK(cb.size() == 4);
    CHECK(cb.with("other", "allow").value() == 1);
  }
}

TEST_CASE("metrics: concurrent updates from several threads sum exactly", "[metrics]") {
  Registry r;
  auto& c = r.counter("tyr_concurrent_total", "c");
  auto& g = r.gauge("tyr_concurrent", "g");
  auto& h = r.histogram("tyr_concurrent_seconds", "h", {0.5});
  auto& fam = r.counter_family("tyr_concurrent_rules_total", "f", {Label::capped("rule", 20)});
  constexpr int kThreads = 4;
  constexpr int kIterations = 100000;
  std::vector<std::string> names;
  for (int i = 0; i < 50; ++i) names.push_back("rule" + std::to_string(i));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kIterations; ++i) {
        c.inc();
        g.inc();
        h.observe((i + t) % 2 == 0 ? 0.25 : 1.0);
        // Threads race to create the same children: each must exist once.
        fam.with(names[static_cast<size_t>(i + t) % names.size()]).inc();
      }
    });
  }
  std::thread scraper([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < 20; ++i) CHECK(!r.render().empty());
  });
  go = true;
  for (auto& th : threads) th.join();
  scraper.join();
  constexpr uint64_t kTotal = uint64_t{kThreads} * kIterations;
  CHECK(c.value() == kTotal);
  CHECK(g.value() == static_cast<double>(kTotal));
  const auto s = h.snapshot();
  CHECK(s.count == kTotal);
  CHECK(s.cumulative[0] == kTotal / 2);
  CHECK(s.sum == 0.25 * (kTotal / 2) + 1.0 * (kTotal / 2));
  CHECK(fam.size() == 21);
  uint64_t sum = 0;
  for (const auto& n : names) {
    if (&fam.with(n) != &fam.with(kOther)) sum += fam.with(n).value();
  }
  sum += fam.with(kOther).value();
  CHECK(sum == kTotal);
}

TEST_CASE("metrics: metric and label names are validated", "[metrics]") {
  for (const char* ok : {"a", "tyr_x_total", "_x", ":x", "a:b_c9", "X"}) {
    INFO(ok);
    CHECK(is_valid_metric_name(ok));
  }
  for (const char* bad : {"", "9a", "a-b", "a b", "é", "a.b", "a{"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_metric_name(bad));
  }
  for (const char* ok : {"a", "rule", "_x", "a9"}) CHECK(is_valid_label_name(ok));
  for (const char* bad : {"", "__name__", "a:b", "9a", "a-b"}) {
    CHECK_FALSE(is_valid_label_name(bad));
  }
}

TEST_CASE("metrics: registration mistakes are refused with a clear message", "[metrics]") {
  Registry r;
  r.counter("tyr_x_total", "x");
  r.histogram("tyr_h_seconds", "h", {1});
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(r.counter("tyr-bad", "x"), "metrics: invalid metric name 'tyr-bad'");
  CHECK_THROWS_WITH(r.counter("tyr_x_total", "again"),
                    "metrics: duplicate metric name 'tyr_x_total'");
  CHECK_THROWS_WITH(r.gauge("tyr_x_total", "again"),
                    "metrics: duplicate metric name 'tyr_x_total'");
  CHECK_THROWS_WITH(r.counter("tyr_h_seconds_count", "clash"),
                    "metrics: duplicate metric name 'tyr_h_seconds_count'");
  r.histogram("tyr_x", "no clash with tyr_x_total", {1});
  CHECK_THROWS_WITH(r.gauge("tyr_x_sum", "clash"), "metrics: duplicate metric name 'tyr_x_sum'");
  CHECK_THROWS_WITH(r.counter_family("tyr_l_total", "l", {Label::capped("__x", 3)}),
                    "metrics: tyr_l_total: invalid label name '__x'");
  CHECK_THROWS_WITH(
      r.counter_family("tyr_l_total", "l", {Label::capped("a", 3), Label::capped("a", 3)}),
      "metrics: tyr_l_total: duplicate label 'a'");
  CHECK_THROWS_WITH(r.histogram_family("tyr_l_seconds", "l", {Label::capped("le", 3)}, {1}),
                    "metrics: tyr_l_seconds: label 'le' is reserved for histogram buckets");
  CHECK_THROWS_WITH(r.counter_family("tyr_l_total", "l", {Label::fixed("a", {})}),
                    "metrics: tyr_l_total: label 'a' has neither values nor a cap");
  CHECK_THROWS_WITH(r.counter_family("tyr_l_total", "l", {Label::fixed("a", {"x", "y", "x"})}),
                    "metrics: tyr_l_total: label 'a' lists 'x' twice");
  CHECK_THROWS_WITH(
      r.counter_family("tyr_l_total", "l", {Label::capped("a", 100), Label::capped("b", 100)}),
      Contains("series; bound the labels tighter"));
  CHECK_THROWS_WITH(r.histogram("tyr_b_seconds", "b", {1, 1}),
                    "metrics: histogram bounds must strictly increase");
  CHECK_THROWS_WITH(r.histogram("tyr_b_seconds", "b", {2, 1}),
                    "metrics: histogram bounds must strictly increase");
  CHECK_THROWS_WITH(r.histogram("tyr_b_seconds", "b", {1, std::numeric_limits<double>::infinity()}),
                    "metrics: histogram bounds must be finite (+Inf is implicit)");
  // A refused registration leaves nothing behind: the name is still free.
  r.counter_family("tyr_l_total", "l", {Label::capped("a", 3)});
}

TEST_CASE("metrics: TyrMetrics declares every metric with bounded labels", "[metrics]") {
  TyrMetrics m;  // a private instance: the process-wide one is shared with other tests
  m.events_received.with("m.room.message").inc();
  m.events_received.with("org.example.custom").inc();
  m.verdicts.with("ban").inc();
  m.rule_hits.with("spam.links", mode(true)).inc();
  m.vetoes.with("user_may_invite", "reject").inc();
  m.actions.with("ban", kOk).inc();
  m.actions.with("redact_event", "M_FORBIDDEN").inc();
  m.homeserver_request_duration.with("join").observe(0.02);
  m.outbox_depth.set_callback([] { return 5.0; });
  m.feed_last_success_timestamp.with("feed:spamhaus").set_to_current_time();
  const std::string text = m.registry.render();

  const std::set<std::string> forbidden = {"user",  "user_id",  "room",   "room_id",
                                           "event", "event_id", "sender", "mxid"};
  const std::regex label_name(R"re([{,]([a-zA-Z_][a-zA-Z0-9_]*)=")re");
  std::string family_type;
  for (const auto& line : lines_of(text)) {
    INFO(line);
    if (line.rfind("# ", 0) == 0) {
      CHECK(std::regex_match(line, kCommentLine));
      std::istringstream words(line.substr(2));
      std::string kind, name, type;
      words >> kind >> name >> type;
      CHECK((name.rfind("tyr_", 0) == 0 || name.rfind("process_", 0) == 0));
      if (kind == "TYPE" && type == "counter") CHECK(name.size() > 6);
      if (kind == "TYPE" && type == "counter") CHECK(name.substr(name.size() - 6) == "_total");
      continue;
    }
    CHECK(std::regex_match(line, kSampleLine));
    for (auto it = std::sregex_iterator(line.begin(), line.end(), label_name);
         it != std::sregex_iterator(); ++it) {
      CHECK(forbidden.count((*it)[1].str()) == 0);
    }
  }
  CHECK(text.find("tyr_events_received_total{type=\"m.room.message\"} 1\n") != std::string::npos);
  CHECK(text.find("tyr_events_received_total{type=\"other\"} 1\n") != std::string::npos);
  CHECK(text.find("tyr_rule_hits_total{rule=\"spam.links\",mode=\"shadow\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("tyr_vetoes_total{callback=\"user_may_invite\",outcome=\"reject\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("tyr_vetoes_total{callback=\"check_event_for_spam\","
                  "outcome=\"not_ready\"} 0\n") != std::string::npos);
  CHECK(text.find("tyr_actions_total{kind=\"redact_event\",result=\"M_FORBIDDEN\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("tyr_homeserver_request_duration_seconds_count{endpoint=\"join\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("tyr_outbox_depth 5\n") != std::string::npos);
  CHECK(text.find(std::string("tyr_build_info{version=\"") + tyr::kVersion + "\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("tyr_list_entries{kind=\"server\"} 0\n") != std::string::npos);
  CHECK(count_of(text, "# TYPE ") >= 24);

  // Process metrics come from /proc: a plausible RSS and a start time in the recent past.
  const double rss = *m.process_resident_memory.value();
  CHECK(rss > 1 << 20);
  const double start = *m.process_start_time.value();
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(start <= now + 1);
  CHECK(start > now - 24 * 3600);

  CHECK(&tyr_metrics() == &tyr_metrics());
  CHECK(list_label("", "", "!abc:example.org") == "unnamed");
  CHECK(list_label("", "#bans:example.org", "!abc:example.org") == "#bans:example.org");
  CHECK(list_label("coc", "#bans:example.org", "!abc:example.org") == "coc");
  CHECK(list_label("", "", "feed:spamhaus") == "feed:spamhaus");
}

TEST_CASE("admin server: pure routing", "[metrics][admin]") {
  Registry r;
  r.counter("tyr_x_total", "x").inc();
  bool healthy = true;
  AdminServer s("127.0.0.1", 0, r, [&] { return ProbeResult{healthy, "pipeline stalled"}; }, {});
  auto m = s.handle("GET", "/metrics");
  CHECK(m.status == 200);
  CHECK(m.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(m.body == r.render());
  CHECK(s.handle("HEAD", "/metrics").status == 200);
  CHECK(s.handle("GET", "/healthz").body == "ok\n");
  CHECK(s.handle("GET", "/readyz").body == "ready\n");  // an empty probe passes
  healthy = false;
  auto h = s.handle("GET", "/healthz");
  CHECK(h.status == 503);
  CHECK(h.body == "pipeline stalled\n");
  CHECK(s.handle("GET", "/metrics/").status == 404);
  CHECK(s.handle("GET", "/").status == 404);
  CHECK(s.handle("DELETE", "/readyz").status == 405);
  CHECK(s.handle("POST", "/nope").status == 404);
}

TEST_CASE("admin server: real HTTP on loopback", "[metrics][admin]") {
  Registry r;
  auto& c = r.counter("tyr_scrapes_total", "Scrapes.");
  c.add(3);
  std::atomic<bool> healthy{true};
  std::atomic<bool> ready{false};
  AdminServer server(
      "127.0.0.1", 0, r,
      [&] {
        return ProbeResult{healthy.load(), "store unreadable"};
      },
      [&] {
        return ProbeResult{ready.load(), "still catching up: 120 events in the inbox"};
      });
  REQUIRE(server.start());
  REQUIRE(server.port() != 0);
  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(5);
  client.set_read_timeout(5);

  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(res->body ==
        "# HELP tyr_scrapes_total Scrapes.\n"
        "# TYPE tyr_scrapes_total counter\n"
        "tyr_scrapes_total 3\n");

  res = client.Get("/healthz");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "ok\n");
  healthy = false;
  res = client.Get("/healthz");
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(res->body == "store unreadable\n");

  res = client.Get("/readyz");
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(res->body == "still catching up: 120 events in the inbox\n");
  ready = true;
  res = client.Get("/readyz");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "ready\n");

  res = client.Get("/metricz");
  REQUIRE(res);
  CHECK(res->status == 404);
  CHECK(res->body == "not found\n");

  res = client.Post("/metrics", "x", "text/plain");
  REQUIRE(res);
  CHECK(res->status == 405);
  CHECK(res->get_header_value("Allow") == "GET, HEAD");
  res = client.Put("/healthz", "", "text/plain");
  REQUIRE(res);
  CHECK(res->status == 405);
  res = client.Delete("/readyz");
  REQUIRE(res);
  CHECK(res->status == 405);

  res = client.Head("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body.empty());

  SECTION("a chunked body is read as one body, never as a second request") {
    // The smuggled second request must never be answered: the body is counted against the
    // limit and the POST is refused as a POST.
    const std::string smuggled = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    std::ostringstream chunk;
    chunk << std::hex << smuggled.size();
    const std::string reply = raw_exchange(
        server.port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           chunk.str() + "\r\n" + smuggled + "\r\n0\r\n\r\n");
    CHECK(reply.rfind("HTTP/1.1 405", 0) == 0);
    CHECK(count_of(reply, "HTTP/1.1 ") == 1);
  }
  SECTION("a malformed request line gets 400, and the server keeps serving") {
    const std::string reply = raw_exchange(server.port(), "NONSENSE\r\n\r\n");
    CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
    const std::string reply2 = raw_exchange(server.port(), "BREW /metrics HTTP/1.1\r\n\r\n");
    CHECK(reply2.rfind("HTTP/1.1 400", 0) == 0);
    res = client.Get("/metrics");
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  SECTION("an oversized body is refused with 413") {
    res = client.Post("/metrics", std::string(10000, 'x'), "text/plain");
    REQUIRE(res);
    CHECK(res->status == 413);
  }
  SECTION("metrics change between scrapes") {
    c.inc();
    res = client.Get("/metrics");
    REQUIRE(res);
    CHECK(res->body.find("tyr_scrapes_total 4\n") != std::string::npos);
  }

  server.stop();
  server.stop();  // idempotent
  CHECK_FALSE(httplib::Client("127.0.0.1", server.port()).Get("/healthz"));
}

TEST_CASE("admin server: a taken port is reported, and stop right after start returns",
          "[metrics][admin]") {
  Registry r;
  AdminServer first("127.0.0.1", 0, r, {}, {});
  REQUIRE(first.start());
  CHECK_FALSE(first.start());  // already running
  AdminServer second("127.0.0.1", first.port(), r, {}, {});
  CHECK_FALSE(second.start());
  first.stop();
  AdminServer third("127.0.0.1", 0, r, {}, {});
  for (int i = 0; i < 5; ++i) {
    REQUIRE(third.start());
    third.stop();
  }
  AdminServer bad("256.0.0.1", 0, r, {}, {});
  CHECK_FALSE(bad.start());
}
