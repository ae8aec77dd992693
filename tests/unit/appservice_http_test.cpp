// AppserviceServer over real HTTP through start(): auth failures, storage before the 200,
// body limits, routes, and stop.

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
// Real HTTP through start()

TEST_CASE("appservice: over HTTP, auth failures carry status and errcode", "[appservice]") {
  Harness h;
  auto client = h.start_http();
  const std::string path = "/_matrix/app/v1/transactions/1";
  const std::string body = txn_body({"$a"});

  check_error(client.Put(path.c_str(), body, "application/json"), 401, "M_MISSING_TOKEN");
  check_error(
      client.Put(path.c_str(), {{"Authorization", "Bearer wrong"}}, body, "application/json"), 403,
      "M_FORBIDDEN");
  check_error(client.Put((path + "?access_token=wrong").c_str(), {{"Authorization", kBearer}}, body,
                         "application/json"),
              403, "M_FORBIDDEN");
  check_error(client.Put((path + "?access_token=secret-hs").c_str(),
                         {{"Authorization", "Bearer wrong"}}, body, "application/json"),
              403, "M_FORBIDDEN");
  CHECK(h.store().inbox_depth() == 0);

  check_ok(client.Put((path + "?access_token=secret-hs").c_str(), body, "application/json"));
  CHECK(inbox_ids(h.store()) == Strings{"$a"});
}

TEST_CASE("appservice: over HTTP, events are stored before the 200 is seen", "[appservice]") {
  Harness h;
  auto client = h.start_http();
  const httplib::Headers auth = {{"Authorization", kBearer}};

  auto res = client.Put("/_matrix/app/v1/transactions/1", auth, txn_body({"$a", "$b"}),
                        "application/json");
  // Read the store before anything else: the answer must mean the events are durable.
  const auto stored = inbox_ids(h.store());
  check_ok(res);
  CHECK(stored == Strings{"$a", "$b"});
  CHECK(h.accepted_calls() == 1);

  SECTION("a retry is 200 with no new inbox entries") {
    check_ok(client.Put("/_matrix/app/v1/transactions/1", auth, txn_body({"$a", "$b"}),
                        "application/json"));
    CHECK(inbox_ids(h.store()) == Strings{"$a", "$b"});
    CHECK(h.accepted_calls() == 1);
  }
  SECTION("an entry without event_id is skipped") {
    json events = json::array(
        {json::parse(event("$c")), {{"type", "m.room.message"}}, json::parse(event("$d"))});
    check_ok(client.Put("/_matrix/app/v1/transactions/2", auth, json{{"events", events}}.dump(),
                        "application/json"));
    CHECK(inbox_ids(h.store()) == Strings{"$a", "$b", "$c", "$d"});
    CHECK(h.accepted_calls() == 2);
  }
  SECTION("malformed bodies are 400 and store nothing") {
    check_error(client.Put("/_matrix/app/v1/transactions/2", auth, "{", "application/json"), 400,
                "M_NOT_JSON");
    check_error(client.Put("/_matrix/app/v1/transactions/2", auth, "[1]", "application/json"), 400,
                "M_NOT_JSON");
    check_error(client.Put("/_matrix/app/v1/transactions/2", auth, "{}", "application/json"), 400,
                "M_BAD_JSON");
    check_error(
        client.Put("/_matrix/app/v1/transactions/2", auth, R"({"events":{}})", "application/json"),
        400, "M_BAD_JSON");
    CHECK(h.store().inbox_depth() == 2);
  }
}

TEST_CASE("appservice: over HTTP, a body over max_body_bytes is 413 M_TOO_LARGE", "[appservice]") {
  Harness h;
  auto client = h.start_http();
  // A valid transaction, only too big: one event with a long body.
  json ev = json::parse(event("$big"));
  ev["content"]["body"] = std::string(kMaxBody, 'x');
  const std::string body = json{{"events", json::array({ev})}}.dump();
  REQUIRE(body.size() > kMaxBody);

  check_error(client.Put("/_matrix/app/v1/transactions/1", {{"Authorization", kBearer}}, body,
                         "application/json"),
              413, "M_TOO_LARGE");
  CHECK(h.store().inbox_depth() == 0);
  CHECK(h.accepted_calls() == 0);

  // A body that fits is still served.
  check_ok(client.Put("/_matrix/app/v1/transactions/2", {{"Authorization", kBearer}},
                      txn_body({"$small"}), "application/json"));
  CHECK(inbox_ids(h.store()) == Strings{"$small"});
}

TEST_CASE("appservice: over HTTP, a body without the hs_token is refused before it is read",
          "[appservice]") {
  // Earlier listeners read a chunked body whole, without a limit, before checking the token:
  // 100 MB took RSS from 20 to 220 MB.
  Harness h;
  h.start_http();
  const uint64_t failures_before = h.server().stats().auth_failures;
  tyr::test::RawConn c(h.server().port());
  REQUIRE(
      c.send("PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: x\r\n"
             "Transfer-Encoding: chunked\r\n\r\n"));
  const std::string answer = c.read_response(std::chrono::seconds(2));
  CHECK(tyr::test::status_of(answer) == 401);
  CHECK(answer.find("M_MISSING_TOKEN") != std::string::npos);
  bool refused = false;
  const std::string mb(1 << 20, 'x');
  for (int i = 0; i < 100 && !refused; ++i) {
    refused = !c.send("100000\r\n" + mb + "\r\n", std::chrono::milliseconds(500));
  }
  CHECK(refused);
  CHECK(h.server().stats().auth_failures == failures_before + 1);
  CHECK(h.store().inbox_depth() == 0);

  SECTION("with the token, a chunked body is counted against max_body_bytes") {
    tyr::test::RawConn t(h.server().port());
    REQUIRE(t.send(std::string("PUT /_matrix/app/v1/transactions/2 HTTP/1.1\r\nHost: x\r\n") +
                   "Authorization: " + kBearer + "\r\nTransfer-Encoding: chunked\r\n\r\n"));
    t.send("1000\r\n" + std::string(4096, 'x') + "\r\n1\r\nx\r\n0\r\n\r\n");
    const std::string r = t.read_response(std::chrono::seconds(2));
    CHECK(tyr::test::status_of(r) == 413);
    CHECK(r.find("M_TOO_LARGE") != std::string::npos);
  }
}

TEST_CASE("appservice: over HTTP, ping, queries and unknown routes", "[appservice]") {
  Harness h(Provision::kYes);
  auto client = h.start_http();
  const httplib::Headers auth = {{"Authorization", kBearer}};

  check_ok(client.Post("/_matrix/app/v1/ping", auth, "{}", "application/json"));
  check_ok(
      client.Post("/_matrix/app/v1/ping", auth, R"({"transaction_id":"t1"})", "application/json"));

  // Synapse percent-encodes the path segment; the server decodes it.
  check_ok(client.Get("/_matrix/app/v1/users/%40_tyr_x%3Aexample.org", auth));
  check_error(client.Get("/_matrix/app/v1/users/@alice:example.org", auth), 404, "M_NOT_FOUND");
  check_error(client.Get("/_matrix/app/v1/users/%40_tyr_x%3Aother.org", auth), 404, "M_NOT_FOUND");
  CHECK(h.provisioned() == Strings{"@_tyr_x:example.org"});

  check_error(client.Get("/_matrix/app/v1/rooms/%23a%3Aexample.org", auth), 404, "M_NOT_FOUND");
  check_error(client.Get("/_matrix/app/v1/thirdparty/protocol/x", auth), 404, "M_UNRECOGNIZED");
  check_error(client.Get("/foo", auth), 404, "M_UNRECOGNIZED");
  check_error(client.Get("/_matrix/app/v1/transactions/1", auth), 405, "M_UNRECOGNIZED");
  check_error(client.Delete("/_matrix/app/v1/transactions/1", auth), 405, "M_UNRECOGNIZED");
  CHECK(h.store().inbox_depth() == 0);
}

TEST_CASE("appservice: stop ends the HTTP server and is idempotent", "[appservice]") {
  Harness h;
  auto client = h.start_http();
  h.server().stop();
  h.server().stop();
  client.set_connection_timeout(std::chrono::seconds(1));
  auto res =
      client.Post("/_matrix/app/v1/ping", {{"Authorization", kBearer}}, "{}", "application/json");
  CHECK_FALSE(res);
}
