// End-to-end with two homeservers (docs/testing-federation.md): A behind nginx, where Tyr is
// attached, and B federating with it over TLS.

#include <catch2/catch.hpp>

#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <mutex>

#include "engine/http/server.hpp"
#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;

namespace {

HarnessOptions federated() {
  HarnessOptions o;
  o.federation = true;
  return o;
}

bool has_body(const std::vector<nlohmann::json>& events, const std::string& body) {
  return std::any_of(events.begin(), events.end(), [&](const nlohmann::json& ev) {
    return ev.contains("content") && ev["content"].value("body", "") == body;
  });
}

// How often A's log says it dropped a transaction's PDUs for `room` because of its server ACL
// (synapse/federation/federation_server.py, Synapse 1.163).
size_t acl_drops(const Harness& h, const std::string& room) {
  std::ifstream in(h.dir() / "synapse" / "homeserver.log");
  const std::string needle = "Ignoring PDUs for room " + room + " from banned server";
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

std::string diagnostics(Harness& h) {
  return "tyr:\n" + h.tyr_log_tail(30) + "nginx:\n" + h.nginx_log(30) + "B:\n" +
         h.federation().remote_log(30);
}

}  // namespace

TEST_CASE("e2e: a member from a second homeserver chats both ways in a protected room",
          "[e2e][federation]") {
  Harness h(federated());
  const std::string room = h.create_room_with_tyr("fed-lobby");
  h.start_tyr();
  h.protect(room);

  auto& bob = h.remote_user("bob");
  const std::string bob_id = h.remote_user_id("bob");
  auto joined = bob.join("#fed-lobby:" + h.server_name());
  INFO((joined ? *joined : joined.error().to_string()) << "\n" << diagnostics(h));
  REQUIRE(joined);
  CHECK(*joined == room);
  REQUIRE(wait_until([&] { return h.membership(room, bob_id) == "join"; }, 30s));

  h.say(bob, room, "hello from B");
  CHECK(wait_until([&] { return has_body(h.messages(room), "hello from B"); }, 30s));
  h.say(h.op(), room, "hello from A");
  CHECK(wait_until([&] { return has_body(h.messages(room, bob), "hello from A"); }, 30s));

  // Tyr saw the remote member as any other: it answers a command about them.
  h.say(h.op(), h.management_room(), "!tyr ping after-remote-chat");
  CHECK_FALSE(h.wait_reply("pong after-remote-chat").empty());
  CHECK(h.tyr_running());
}

TEST_CASE("e2e: nginx sends /_matrix/policy/ on A's federation port to the policy port",
          "[e2e][federation]") {
  Harness h(federated());

  std::mutex mu;
  std::vector<engine::http::Request> seen;
  engine::http::Options o;
  o.name = "policy-stub";
  o.port = h.policy_port();
  o.body_limit = [](std::string_view, std::string_view) { return size_t{1} << 20; };
  o.handler = [&](engine::http::Request& req) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(req);
    engine::http::Response r;
    r.body = nlohmann::json{{h.server_name(), {{"ed25519:policy_server", "c3R1Yg"}}}}.dump();
    return r;
  };
  auto stub = std::make_unique<engine::http::Server>(std::move(o));
  REQUIRE(stub->start());

  // What a remote homeserver does: HTTPS to A's server name, certificate unchecked.
  httplib::SSLClient client("127.0.0.1", h.federation_port());
  client.enable_server_certificate_verification(false);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(10));
  const std::string auth = "X-Matrix origin=\"" + h.remote_server_name() + "\",destination=\"" +
                           h.server_name() + "\",key=\"ed25519:a_test\",sig=\"c2ln\"";
  const nlohmann::json pdu = {{"type", "m.room.message"},
                              {"room_id", "!r:" + h.server_name()},
                              {"sender", h.remote_user_id("bob")},
                              {"content", {{"body", "sign me"}}}};
  auto res = client.Post("/_matrix/policy/v1/sign", {{"Authorization", auth}}, pdu.dump(),
                         "application/json");
  INFO(h.nginx_log());
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(nlohmann::json::parse(res->body)[h.server_name()].contains("ed25519:policy_server"));
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].method == "POST");
    CHECK(seen[0].path == "/_matrix/policy/v1/sign");
    CHECK(seen[0].authorization == auth);
    CHECK(nlohmann::json::parse(seen[0].body) == pdu);
    CHECK(seen[0].remote.find("127.0.0.1") != std::string::npos);
  }

  // Everything else on that port is A's federation API: A's own signing keys.
  auto keys = client.Get("/_matrix/key/v2/server");
  REQUIRE(keys);
  CHECK(keys->status == 200);
  CHECK(nlohmann::json::parse(keys->body).value("server_name", "") == h.server_name());

  // No policy listener: nginx answers 502 (which Synapse treats as the policy server down).
  stub->stop();
  auto down = client.Post("/_matrix/policy/v1/sign", pdu.dump(), "application/json");
  REQUIRE(down);
  CHECK(down->status == 502);
  CHECK(h.nginx_log().find("\"POST /_matrix/policy/v1/sign HTTP/1.1\" 200 -> 127.0.0.1:" +
                           std::to_string(h.policy_port())) != std::string::npos);
}

TEST_CASE("e2e: a server rule bans the remote server's members and its ACL keeps B out",
          "[e2e][federation]") {
  Harness h(federated());
  const std::string room = h.create_room_with_tyr("fed-acl");
  auto list = h.op().create_room(
      {{"preset", "public_chat"}, {"room_alias_name", "fed-bans"}, {"room_version", "12"}});
  REQUIRE(list);
  h.start_tyr();
  h.protect(room);
  h.say(h.op(), h.management_room(), "!tyr lists watch " + *list);
  REQUIRE_FALSE(h.wait_reply("Watching " + *list).empty());

  // carol is an ordinary member from B. bob, from B too, holds as much power as Tyr, so Tyr
  // cannot ban him: only the ACL stands between his messages and A.
  auto& carol = h.remote_user("carol");
  auto& bob = h.remote_user("bob");
  const std::string carol_id = h.remote_user_id("carol"), bob_id = h.remote_user_id("bob");
  const std::string alias = "#fed-acl:" + h.server_name();
  REQUIRE(carol.join(alias));
  REQUIRE(bob.join(alias));
  REQUIRE(wait_until([&] { return h.membership(room, bob_id) == "join"; }, 30s));
  auto power = h.state(room, "m.room.power_levels");
  power["users"][bob_id] = 100;
  REQUIRE(h.op().send_state(room, "m.room.power_levels", "", power));
  h.say(bob, room, "before the rule");
  REQUIRE(wait_until([&] { return has_body(h.messages(room), "before the rule"); }, 30s));

  auto rule = h.op().send_state(
      *list, "m.policy.rule.server", "rule:" + h.remote_host(),
      {{"entity", h.remote_host()}, {"recommendation", "m.ban"}, {"reason", "remote abuse"}});
  REQUIRE(rule);
  INFO(diagnostics(h));
  REQUIRE(wait_until([&] { return h.membership(room, carol_id) == "ban"; }, 30s));
  CHECK(h.state(room, "m.room.member", carol_id).value("reason", "") == "remote abuse");
  REQUIRE(wait_until(
      [&] {
        auto acl = h.state(room, "m.room.server_acl");
        return acl.value("deny", nlohmann::json::array()) == nlohmann::json({h.remote_host()});
      },
      30s));
  CHECK(h.state(room, "m.room.server_acl")["allow"] == nlohmann::json({"*"}));
  CHECK(h.membership(room, bob_id) == "join");

  // bob's server still takes his message (an ACL binds only the servers that apply it), but A
  // drops it: wait for A to say so, then it must not be in A's timeline.
  const size_t drops_before = acl_drops(h, room);
  h.say(bob, room, "after the acl");
  REQUIRE(wait_until([&] { return acl_drops(h, room) > drops_before; }, 30s));
  CHECK_FALSE(has_body(h.messages(room), "after the acl"));
  CHECK(has_body(h.messages(room, bob), "after the acl"));

  // B is still in the room through bob, so it lets dave join without asking A (no make_join);
  // A drops that join as well, and dave never becomes a member there.
  auto& dave = h.remote_user("dave");
  const size_t drops_before_join = acl_drops(h, room);
  REQUIRE(dave.join(alias));
  REQUIRE(wait_until([&] { return acl_drops(h, room) > drops_before_join; }, 30s));
  CHECK(h.membership(room, h.remote_user_id("dave")).empty());
}
