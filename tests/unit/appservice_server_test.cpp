// AppserviceServer: the pure handle(), with a real Store in a fresh temp directory; the real
// HTTP server on a loopback port is tested in appservice_http_test.cpp. Status codes and
// errcodes follow matrix-protocol.md §1.2–1.4.

#include "engine/appservice/appservice_server.hpp"

#include <httplib.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "engine/core/token.hpp"
#include "tests/unit/appservice_fixtures.hpp"

namespace fs = std::filesystem;
using tyr::secure_equals;
using namespace tyr::test;  // appservice_fixtures.hpp: the appservice and store types too

// ---------------------------------------------------------------------------------------------
// Authentication

TEST_CASE("appservice: a request without a token is 401 M_MISSING_TOKEN", "[appservice]") {
  Harness h;
  auto r = h.server().handle(
      request("PUT", "/_matrix/app/v1/transactions/1", txn_body({"$a"}), /*authorization=*/""));
  check_error(r, 401, "M_MISSING_TOKEN");
  CHECK(h.store().inbox_depth() == 0);
  CHECK(h.server().stats().auth_failures == 1);
  CHECK(h.server().stats().transactions == 0);
}

TEST_CASE("appservice: an Authorization header that is not Bearer is 401 M_MISSING_TOKEN",
          "[appservice]") {
  Harness h;
  for (const char* header : {"Basic c2VjcmV0LWhz", "secret-hs", "Bearer "}) {
    INFO(header);
    check_error(h.server().handle(request("POST", "/_matrix/app/v1/ping", "{}", header)), 401,
                "M_MISSING_TOKEN");
  }
}

TEST_CASE("appservice: a wrong Bearer token is 403 M_FORBIDDEN", "[appservice]") {
  Harness h;
  for (const char* header :
       {"Bearer wrong", "Bearer secret-hs2", "Bearer secret-h", "Bearer SECRET-HS"}) {
    INFO(header);
    check_error(h.server().handle(
                    request("PUT", "/_matrix/app/v1/transactions/1", txn_body({"$a"}), header)),
                403, "M_FORBIDDEN");
  }
  CHECK(h.store().inbox_depth() == 0);
  CHECK(h.accepted_calls() == 0);
}

TEST_CASE("appservice: the token is accepted from the header or the access_token query",
          "[appservice]") {
  Harness h;
  SECTION("Bearer header") { check_ok(h.server().handle(put_txn("1", txn_body({"$a"})))); }
  SECTION("lower-case bearer") {
    check_ok(h.server().handle(
        request("PUT", "/_matrix/app/v1/transactions/1", txn_body({"$a"}), "bearer secret-hs")));
  }
  SECTION("access_token query parameter") {
    auto req = request("PUT", "/_matrix/app/v1/transactions/1", txn_body({"$a"}), "");
    req.query.emplace("access_token", kToken);
    check_ok(h.server().handle(req));
  }
  SECTION("header and query both right") {
    auto req = put_txn("1", txn_body({"$a"}));
    req.query.emplace("access_token", kToken);
    check_ok(h.server().handle(req));
  }
  CHECK(inbox_ids(h.store()) == Strings{"$a"});
}

TEST_CASE("appservice: header and query both present, one wrong, is 403 M_FORBIDDEN",
          "[appservice]") {
  Harness h;
  SECTION("query wrong") {
    auto req = put_txn("1", txn_body({"$a"}));
    req.query.emplace("access_token", "wrong");
    check_error(h.server().handle(req), 403, "M_FORBIDDEN");
  }
  SECTION("header wrong") {
    auto req = request("PUT", "/_matrix/app/v1/transactions/1", txn_body({"$a"}), "Bearer no");
    req.query.emplace("access_token", kToken);
    check_error(h.server().handle(req), 403, "M_FORBIDDEN");
  }
  CHECK(h.store().inbox_depth() == 0);
}

TEST_CASE("appservice: authentication comes before routing", "[appservice]") {
  Harness h;
  check_error(h.server().handle(request("GET", "/foo", "", "")), 401, "M_MISSING_TOKEN");
  check_error(h.server().handle(request("GET", "/foo", "", "Bearer wrong")), 403, "M_FORBIDDEN");
  CHECK(h.server().stats().auth_failures == 2);
}

// ---------------------------------------------------------------------------------------------
// Transactions

TEST_CASE("appservice: a valid transaction is 200 {} and its events are in the inbox",
          "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$a", "$b"}))));
  CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
  // The stored JSON is the event as received.
  auto first = h.store().next_inbox();
  REQUIRE(first);
  CHECK(json::parse(first->second) == json::parse(event("$a")));
  CHECK(h.accepted_calls() == 1);
  CHECK(h.server().stats().transactions == 1);
  CHECK(h.server().stats().events_accepted == 2);
}

TEST_CASE("appservice: unknown keys and ephemeral data in a transaction are ignored",
          "[appservice]") {
  Harness h;
  json body = {{"events", json::array({json::parse(event("$a"))})},
               {"ephemeral", json::array({{{"type", "m.typing"}, {"room_id", "!r:example.org"}}})},
               {"de.sorunome.msc2409.to_device", json::array()},
               {"org.matrix.msc3202.device_lists", {{"changed", json::array()}}}};
  check_ok(h.server().handle(put_txn("1", body.dump())));
  CHECK(inbox_ids(h.store()) == Strings{"$a"});
}

TEST_CASE("appservice: an empty events array is 200 and stores nothing", "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", R"({"events":[]})")));
  CHECK(h.store().inbox_depth() == 0);
  CHECK(h.accepted_calls() == 0);
}

TEST_CASE("appservice: a malformed JSON body is 400 M_NOT_JSON and stores nothing",
          "[appservice]") {
  Harness h;
  for (const char* body : {"{", "", "{\"events\": [", "not json", "{\"events\": []} trailing"}) {
    INFO(body);
    check_error(h.server().handle(put_txn("1", body)), 400, "M_NOT_JSON");
  }
  CHECK(h.store().inbox_depth() == 0);
  CHECK_FALSE(h.store().get(tyr::engine::Cf::kTxns, "1"));
  CHECK(h.accepted_calls() == 0);
  CHECK(h.server().stats().transactions == 0);
}

TEST_CASE("appservice: a JSON body that is not a transaction is 400", "[appservice]") {
  Harness h;
  SECTION("not an object") {
    for (const char* body : {"[]", R"([{"events":[]}])", "42", "\"events\"", "null"}) {
      INFO(body);
      check_error(h.server().handle(put_txn("1", body)), 400, "M_NOT_JSON");
    }
  }
  SECTION("no events") {
    for (const char* body : {"{}", R"({"ephemeral":[]})", R"({"Events":[]})"}) {
      INFO(body);
      check_error(h.server().handle(put_txn("1", body)), 400, "M_BAD_JSON");
    }
  }
  SECTION("events not an array") {
    for (const char* body :
         {R"({"events":{}})", R"({"events":null})", R"({"events":"$a"})", R"({"events":1})"}) {
      INFO(body);
      check_error(h.server().handle(put_txn("1", body)), 400, "M_BAD_JSON");
    }
  }
  CHECK(h.store().inbox_depth() == 0);
  CHECK_FALSE(h.store().get(tyr::engine::Cf::kTxns, "1"));
}

TEST_CASE("appservice: a retried transaction is 200 and stores nothing new", "[appservice]") {
  Harness h;
  const std::string body = txn_body({"$a", "$b"});
  check_ok(h.server().handle(put_txn("5", body)));
  check_ok(h.server().handle(put_txn("5", body)));
  CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
  CHECK(h.accepted_calls() == 1);  // not called again for a pure retry
  const auto& stats = h.server().stats();
  CHECK(stats.transactions == 2);
  CHECK(stats.transactions_retried == 1);
  CHECK(stats.events_accepted == 2);
  CHECK(stats.events_duplicate == 2);
}

TEST_CASE("appservice: a reused txnId with new events accepts them", "[appservice]") {
  // The homeserver restarted its txn counter.
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$a"}))));
  check_ok(h.server().handle(put_txn("1", txn_body({"$b"}))));
  CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
  CHECK(h.accepted_calls() == 2);
  CHECK(h.server().stats().transactions_retried == 0);
}

TEST_CASE("appservice: on_events_accepted is called once per transaction with new events",
          "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$a", "$b", "$c"}))));
  CHECK(h.accepted_calls() == 1);
  // Only already-seen events under a new txnId: nothing new, no wake-up.
  check_ok(h.server().handle(put_txn("2", txn_body({"$a", "$c"}))));
  CHECK(h.accepted_calls() == 1);
  // One new event among old ones: one call.
  check_ok(h.server().handle(put_txn("3", txn_body({"$b", "$d"}))));
  CHECK(h.accepted_calls() == 2);
  // Refused requests never call it.
  check_error(h.server().handle(put_txn("4", "{")), 400, "M_NOT_JSON");
  CHECK(h.accepted_calls() == 2);
}

TEST_CASE("appservice: entries that are not events with an event_id are skipped", "[appservice]") {
  Harness h;
  json events = json::array({json::parse(event("$a")),
                             {{"type", "m.room.message"}, {"content", json::object()}},
                             {{"event_id", 7}},
                             {{"event_id", ""}},
                             "$not-an-object",
                             nullptr,
                             json::parse(event("$b"))});
  check_ok(h.server().handle(put_txn("1", json{{"events", events}}.dump())));
  CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
  CHECK(h.server().stats().events_invalid == 5);
  CHECK(h.server().stats().events_accepted == 2);
  CHECK(h.accepted_calls() == 1);

  SECTION("a transaction of only invalid entries is still 200, so it cannot block the queue") {
    check_ok(h.server().handle(put_txn("2", R"({"events":[{},{"event_id":null}]})")));
    CHECK(h.store().inbox_depth() == 2);
    CHECK(h.accepted_calls() == 1);
  }
}

TEST_CASE("appservice: wrong method on transactions is 405 M_UNRECOGNIZED", "[appservice]") {
  Harness h;
  for (const char* method : {"GET", "POST", "DELETE"}) {
    INFO(method);
    check_error(
        h.server().handle(request(method, "/_matrix/app/v1/transactions/1", txn_body({"$a"}))), 405,
        "M_UNRECOGNIZED");
  }
  CHECK(h.store().inbox_depth() == 0);
}

// ---------------------------------------------------------------------------------------------
// Ping, user and alias queries, unknown routes

TEST_CASE("appservice: ping is 200 {}", "[appservice]") {
  Harness h;
  check_ok(h.server().handle(request("POST", "/_matrix/app/v1/ping", "{}")));
  check_ok(h.server().handle(
      request("POST", "/_matrix/app/v1/ping", R"({"transaction_id":"mautrix-go_1"})")));
  check_ok(h.server().handle(request("POST", "/_matrix/app/v1/ping", "")));
  CHECK(h.server().stats().pings == 3);
  check_error(h.server().handle(request("POST", "/_matrix/app/v1/ping", "[]")), 400, "M_NOT_JSON");
  check_error(h.server().handle(request("GET", "/_matrix/app/v1/ping")), 405, "M_UNRECOGNIZED");
}

TEST_CASE("appservice: a user in Tyr's namespace is 200 when provision_user succeeds",
          "[appservice]") {
  Harness h(Provision::kYes);
  check_ok(h.server().handle(request("GET", "/_matrix/app/v1/users/@_tyr_x:example.org")));
  CHECK(h.provisioned() == Strings{"@_tyr_x:example.org"});
  // The bot itself is Tyr's too.
  check_ok(h.server().handle(request("GET", "/_matrix/app/v1/users/@tyr:example.org")));
  CHECK(h.provisioned() == Strings{"@_tyr_x:example.org", "@tyr:example.org"});
  check_error(h.server().handle(request("PUT", "/_matrix/app/v1/users/@_tyr_x:example.org")), 405,
              "M_UNRECOGNIZED");
}

TEST_CASE("appservice: a user in Tyr's namespace is 404 M_NOT_FOUND without provisioning",
          "[appservice]") {
  SECTION("no hook") {
    Harness h(Provision::kNone);
    check_error(h.server().handle(request("GET", "/_matrix/app/v1/users/@_tyr_x:example.org")), 404,
                "M_NOT_FOUND");
  }
  SECTION("hook answers false") {
    Harness h(Provision::kNo);
    check_error(h.server().handle(request("GET", "/_matrix/app/v1/users/@_tyr_x:example.org")), 404,
                "M_NOT_FOUND");
    CHECK(h.provisioned() == Strings{"@_tyr_x:example.org"});
  }
}

TEST_CASE("appservice: a user outside Tyr's namespace is 404 and the hook is not called",
          "[appservice]") {
  Harness h(Provision::kYes);
  for (const char* user :
       {"@alice:example.org", "@_tyr_x:other.org", "@_tyr_x:example.org:8448", "@_tyr_:example.org",
        "@tyr:other.org", "@x_tyr_y:example.org", "_tyr_x:example.org", "@_tyr_x"}) {
    INFO(user);
    check_error(h.server().handle(request("GET", std::string("/_matrix/app/v1/users/") + user)),
                404, "M_NOT_FOUND");
  }
  CHECK(h.provisioned().empty());
}

TEST_CASE("appservice: a room alias query is 404 M_NOT_FOUND", "[appservice]") {
  Harness h(Provision::kYes);
  check_error(h.server().handle(request("GET", "/_matrix/app/v1/rooms/#a:example.org")), 404,
              "M_NOT_FOUND");
  check_error(h.server().handle(request("GET", "/_matrix/app/v1/rooms/#_tyr_a:example.org")), 404,
              "M_NOT_FOUND");
  CHECK(h.provisioned().empty());
}

TEST_CASE("appservice: an unknown path is 404 M_UNRECOGNIZED", "[appservice]") {
  Harness h;
  for (const char* path :
       {"/foo", "/", "/_matrix/app/v1/thirdparty/protocol/x", "/_matrix/app/v1/thirdparty/user",
        "/_matrix/app/v1/", "/_matrix/app/v1/transactions/", "/_matrix/app/v1/transactions/1/x",
        "/_matrix/app/v1/users/", "/_matrix/app/v1/pingx", "/_matrix/app/v2/ping",
        "/transactions/1"}) {
    INFO(path);
    check_error(h.server().handle(request("GET", path)), 404, "M_UNRECOGNIZED");
  }
}

// ---------------------------------------------------------------------------------------------

TEST_CASE("appservice: secure_equals compares whole strings", "[appservice]") {
  CHECK(secure_equals("", ""));
  CHECK(secure_equals("secret-hs", "secret-hs"));
  CHECK_FALSE(secure_equals("secret-hs", "secret-hx"));
  CHECK_FALSE(secure_equals("secret-hs", "xecret-hs"));
  CHECK_FALSE(secure_equals("secret-hs", "secret-h"));  // prefix
  CHECK_FALSE(secure_equals("secret-h", "secret-hs"));
  CHECK_FALSE(secure_equals("secret-hs", ""));
  CHECK_FALSE(secure_equals("", "secret-hs"));
  CHECK_FALSE(secure_equals("Secret-hs", "secret-hs"));  // case matters
  // Embedded NULs are compared, not treated as terminators.
  CHECK_FALSE(secure_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
  CHECK(secure_equals(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  // Every byte value counts, including high ones.
  CHECK_FALSE(secure_equals("\xff", "\x7f"));
}

TEST_CASE(
    "appservice: a jump in transaction numbers is reported once, retries and restarts are not",
    "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$g1"}))));
  check_ok(h.server().handle(put_txn("2", txn_body({"$g2"}))));
  check_ok(h.server().handle(put_txn("2", txn_body({"$g2"}))));  // a retry
  CHECK(h.gaps().empty());
  check_ok(h.server().handle(put_txn("5", txn_body({"$g5"}))));  // 3 and 4 never came
  REQUIRE(h.gaps().size() == 1);
  CHECK(h.gaps()[0].first == "5");
  CHECK(h.gaps()[0].second > 0);  // when transaction 2 arrived
  check_ok(h.server().handle(put_txn("6", txn_body({"$g6"}))));
  check_ok(h.server().handle(put_txn("1", txn_body({"$r1"}))));  // numbering started over
  check_ok(h.server().handle(put_txn("2", txn_body({"$r2"}))));
  check_ok(h.server().handle(put_txn("not-a-number", txn_body({"$x"}))));
  CHECK(h.gaps().size() == 1);
  // The homeserver's clock of "last transaction" is kept in the store for the pass at start.
  CHECK(h.store().get(tyr::engine::Cf::kMeta, "last_txn_ms").has_value());
}

TEST_CASE("appservice: transaction IDs that are not a sequence never read as gaps",
          "[appservice]") {
  SECTION("timestamps, as Dendrite numbers them") {
    Harness h;
    uint64_t t = 1796604771334356300ULL;
    for (int i = 0; i < 20; ++i) {
      t += 1'000'000ULL + static_cast<uint64_t>(i) * 7919ULL;
      check_ok(h.server().handle(put_txn(std::to_string(t), txn_body({"$d" + std::to_string(i)}))));
    }
    CHECK(h.gaps().empty());
  }
  SECTION("increasing but never consecutive numbers") {
    Harness h;
    for (int n : {10, 20, 35, 50}) {
      check_ok(h.server().handle(put_txn(std::to_string(n), txn_body({"$n" + std::to_string(n)}))));
    }
    CHECK(h.gaps().empty());
  }
  SECTION("a sequence once seen stays one: a later jump is a gap") {
    Harness h;
    check_ok(h.server().handle(put_txn("41", txn_body({"$s41"}))));
    check_ok(h.server().handle(put_txn("42", txn_body({"$s42"}))));
    check_ok(h.server().handle(put_txn("44", txn_body({"$s44"}))));
    CHECK(h.gaps().size() == 1);
  }
}

TEST_CASE("appservice: every stored transaction is reported, resends as such", "[appservice]") {
  Harness h;
  check_ok(h.server().handle(put_txn("1", txn_body({"$a1"}))));
  check_ok(h.server().handle(put_txn("3", txn_body({"$a3"}))));  // the queue sent 3 first
  check_ok(h.server().handle(put_txn("2", txn_body({"$a2"}))));  // the recoverer resends 2
  check_ok(h.server().handle(put_txn("3", txn_body({"$a3"}))));  // 3 again, as Tyr stored it
  check_ok(h.server().handle(put_txn("4", txn_body({"$a4"}))));
  check_ok(h.server().handle(put_txn("x", txn_body({"$ax"}))));  // not a number, new
  CHECK(h.server().handle(put_txn("5", "{")).status == 400);     // refused: not reported
  CHECK(h.arrivals() == std::vector<bool>{false, false, true, true, false, false});
}
