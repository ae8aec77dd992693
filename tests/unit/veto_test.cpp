// The inline veto's request parsing, authentication and answers (engine/veto), with a recording
// backend; and its config section.

#include <catch2/catch.hpp>

#include <atomic>

#include "engine/config/config.hpp"
#include "engine/veto/veto.hpp"

using namespace tyr::engine;
using veto::Callback;
using veto::Outcome;

namespace {

struct FakeBackend : veto::Backend {
  bool ready = true;
  veto::Decision membership;
  veto::Decision event;
  std::vector<veto::Request> seen;
  std::chrono::milliseconds last_deadline{0};
  bool veto_ready() const override { return ready; }
  veto::Decision decide_membership(const veto::Request& r) override {
    seen.push_back(r);
    return membership;
  }
  veto::Decision decide_event(const veto::Request& r, std::chrono::milliseconds deadline) override {
    seen.push_back(r);
    last_deadline = deadline;
    return event;
  }
};

VetoConfig config() {
  VetoConfig c;
  c.enabled = true;
  c.secret = "0123456789abcdef-secret";
  c.deadline = std::chrono::milliseconds(123);
  return c;
}

const std::string kAuth = "Bearer 0123456789abcdef-secret";

}  // namespace

TEST_CASE("veto: requests parse with Synapse's and the module's field names", "[veto]") {
  auto join = veto::parse_request("user_may_join_room",
                                  R"({"user":"@a:x","room":"!r:x","is_invited":true})");
  REQUIRE(join);
  CHECK(join->callback == Callback::kUserMayJoinRoom);
  CHECK(join->user == "@a:x");
  CHECK(join->room == "!r:x");
  CHECK(join->is_invited);
  auto join2 = veto::parse_request("user_may_join_room",
                                   R"({"user_id":"@a:x","room_id":"!r:x","is_invited":false})");
  REQUIRE(join2);
  CHECK(join2->user == "@a:x");

  auto invite = veto::parse_request("user_may_invite",
                                    R"({"inviter":"@a:x","invitee":"@b:y","room_id":"!r:x"})");
  REQUIRE(invite);
  CHECK(invite->inviter == "@a:x");
  CHECK(invite->user == "@b:y");

  auto ev = veto::parse_request(
      "check_event_for_spam",
      R"({"event":{"event_id":"$e","room_id":"!r:x","sender":"@a:x","type":"m.room.message","content":{"body":"hi"}}})");
  REQUIRE(ev);
  CHECK(ev->user == "@a:x");
  CHECK(ev->event["content"]["body"] == "hi");

  CHECK(veto::parse_request("check_username_for_spam", R"({"user_profile":{}})")->callback ==
        Callback::kOther);
}

TEST_CASE("veto: malformed requests are refused with the field named", "[veto]") {
  CHECK(veto::parse_request("user_may_join_room", "not json").error().message ==
        "user_may_join_room: body is not JSON");
  CHECK(veto::parse_request("user_may_join_room", "[1]").error().message ==
        "user_may_join_room: body must be a JSON object");
  CHECK(veto::parse_request("user_may_join_room", R"({"room":"!r:x"})").error().message ==
        "user_may_join_room: missing field 'user'");
  CHECK(veto::parse_request("user_may_join_room", R"({"user":"alice","room":"!r:x"})")
            .error()
            .message == "user_may_join_room: field 'user' must be a user ID");
  CHECK(veto::parse_request("user_may_join_room", R"({"user":"@a:x","room":"#alias:x"})")
            .error()
            .message == "user_may_join_room: field 'room' must be a room ID");
  CHECK(veto::parse_request("user_may_join_room",
                            R"({"user":"@a:x","room":"!r:x","is_invited":"yes"})")
            .error()
            .message == "user_may_join_room: field 'is_invited' must be true or false");
  CHECK(veto::parse_request("check_event_for_spam",
                            R"({"event":{"event_id":"$e","room_id":"!r:x","type":"t"}})")
            .error()
            .message == "check_event_for_spam: field 'event.sender' must be a string");
  CHECK(veto::parse_request("check_event_for_spam", R"({"event":[]})").error().message ==
        "check_event_for_spam: field 'event' must be an object");
}

TEST_CASE("veto: the server checks the secret and answers allow, reject and errors", "[veto]") {
  const VetoConfig cfg = config();
  FakeBackend backend;
  veto::Server server(cfg, backend);
  const std::string join = R"({"user":"@a:x","room":"!r:x","is_invited":false})";

  CHECK(server.handle("POST", "/_tyr/veto/user_may_join_room", "", join).status == 401);
  CHECK(server.handle("POST", "/_tyr/veto/user_may_join_room", "Bearer wrong-secret-0123456", join)
            .status == 403);
  CHECK(server.stats().auth_failures == 2);
  CHECK(backend.seen.empty());
  CHECK(server.handle("GET", "/_tyr/veto/user_may_join_room", kAuth, join).status == 405);
  CHECK(server.handle("POST", "/elsewhere", kAuth, join).status == 404);
  auto bad = server.handle("POST", "/_tyr/veto/user_may_join_room", kAuth, "{");
  CHECK(bad.status == 400);
  CHECK(bad.body == R"({"errcode":"M_NOT_JSON","error":"user_may_join_room: body is not JSON"})");
  CHECK(
      server
          .handle("POST", "/_tyr/veto/user_may_join_room", kAuth, std::string(2 * 1024 * 1024, ' '))
          .status == 413);

  auto allowed = server.handle("POST", "/_tyr/veto/user_may_join_room", kAuth, join);
  CHECK(allowed.status == 200);
  CHECK(allowed.body == "{}");
  backend.membership = {Outcome::kReject, "M_FORBIDDEN", "You are banned"};
  auto refused = server.handle("POST", "/_tyr/veto/user_may_join_room", kAuth, join);
  CHECK(refused.status == 403);
  CHECK(refused.body == R"({"errcode":"M_FORBIDDEN","error":"You are banned"})");
  CHECK(server.stats().count(Callback::kUserMayJoinRoom, Outcome::kAllow) == 1);
  CHECK(server.stats().count(Callback::kUserMayJoinRoom, Outcome::kReject) == 1);

  // Events get the configured deadline; a rejection of should_drop_federated_event is a drop.
  const std::string ev =
      R"({"event":{"event_id":"$e","room_id":"!r:x","sender":"@a:x","type":"m.room.message","content":{}}})";
  backend.event = {Outcome::kReject, "M_FORBIDDEN", "spam"};
  CHECK(server.handle("POST", "/_tyr/veto/check_event_for_spam", kAuth, ev).status == 403);
  CHECK(backend.last_deadline == std::chrono::milliseconds(123));
  CHECK(server.handle("POST", "/_tyr/veto/should_drop_federated_event", kAuth, ev).status == 403);
  CHECK(server.stats().count(Callback::kShouldDropFederatedEvent, Outcome::kDrop) == 1);
  backend.event = {Outcome::kTimeout, {}, {}};
  CHECK(server.handle("POST", "/_tyr/veto/check_event_for_spam", kAuth, ev).status == 200);
  CHECK(server.stats().count(Callback::kCheckEventForSpam, Outcome::kTimeout) == 1);

  // Not ready: allowed without asking the backend. Ping answers the module's do_ping.
  backend.ready = false;
  const size_t asked = backend.seen.size();
  CHECK(server.handle("POST", "/_tyr/veto/check_event_for_spam", kAuth, ev).status == 200);
  CHECK(backend.seen.size() == asked);
  CHECK(server.stats().count(Callback::kCheckEventForSpam, Outcome::kNotReady) == 1);
  auto ping = server.handle("POST", "/_tyr/veto/ping", kAuth, R"({"id":"abc"})");
  CHECK(ping.status == 200);
  CHECK(ping.body == R"({"id":"abc","status":"ok"})");
  // Callbacks Tyr does not judge are allowed.
  CHECK(server.handle("POST", "/_tyr/veto/user_may_create_room", kAuth, R"({"user_id":"@a:x"})")
            .status == 200);
}

TEST_CASE("veto: the module snippet names the URL, secret, callbacks and fail-open policy",
          "[veto]") {
  VetoConfig cfg = config();
  cfg.fail_open = false;
  const std::string y = veto::synapse_module_yaml(cfg, "http://127.0.0.1:9001/_tyr/veto");
  CHECK(y.find("module: synapse_http_antispam.HTTPAntispam") != std::string::npos);
  CHECK(y.find("base_url: http://127.0.0.1:9001/_tyr/veto\n") != std::string::npos);
  CHECK(y.find("authorization: 0123456789abcdef-secret\n") != std::string::npos);
  CHECK(y.find("        user_may_invite: false\n") != std::string::npos);
}

TEST_CASE("veto: config section errors say what and where", "[veto][config]") {
  const std::string base = R"(homeserver:
  url: "http://127.0.0.1:8008"
  server_name: localhost
appservice:
  as_token: as_token_for_tests_0123456789abcdef
  hs_token: hs_token_for_tests_0123456789abcdef
management:
  room: "#m:localhost"
  operators: ["@op:localhost"]
data_dir: ./data
)";
  auto err = [&](const std::string& extra) {
    try {
      load_config_string(base + extra, "t.yaml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(err("veto:\n  port: 9001\n") ==
        "t.yaml:12:3: key 'veto': needs 'secret' or 'secret_path' (the module's Bearer secret)");
  CHECK(err("veto:\n  secret: short\n") ==
        "t.yaml:12:11: key 'veto.secret': must be at least 32 characters");
  CHECK(err("veto:\n  secret: 0123456789abcdefghijklmnopqrstuvwxyz\n  scope: all\n") ==
        "t.yaml:13:10: key 'veto.scope': expected 'protected_rooms' or 'server'");
  CHECK(err("veto:\n  secret: 0123456789abcdefghijklmnopqrstuvwxyz\n  deadline_ms: 0\n") ==
        "t.yaml:13:16: key 'veto.deadline_ms': must be between 1 and 10000");
  const Config c = load_config_string(base +
                                          "veto:\n  secret: 0123456789abcdefghijklmnopqrstuvwxyz\n "
                                          " scope: server\nadmin:\n  port: 9100\n",
                                      "t.yaml");
  CHECK(c.veto.enabled);
  CHECK(c.veto.whole_server);
  CHECK(c.veto.deadline == std::chrono::milliseconds(250));
  CHECK(c.admin.enabled);
  CHECK(c.admin.port == 9100);
  CHECK(c.admin.bind_address == "127.0.0.1");
}

TEST_CASE("veto: a callback name or ping id that is not UTF-8 gets a JSON answer (fuzz regression)",
          "[veto]") {
  const VetoConfig cfg = config();
  FakeBackend backend;
  veto::Server server(cfg, backend);
  auto bad = server.handle("POST", "/_tyr/veto/us\xb5r_may_invite", kAuth, "[");
  CHECK(bad.status == 400);
  CHECK(nlohmann::json::parse(bad.body, nullptr, false).is_object());
  auto ping = server.handle("POST", "/_tyr/veto/ping", kAuth, "{\"id\":\"\\udc00\"}");
  CHECK(nlohmann::json::parse(ping.body, nullptr, false).is_object());
}
