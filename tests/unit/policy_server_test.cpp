// The policy server's request handling (engine/policyserver): X-Matrix checked against the
// calling server's keys (served by a fake HTTP getter), PDUs judged by a recording backend,
// signatures that verify with Tyr's policy key, refusals, remembered verdicts, and its key file.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>

#include "engine/config/config.hpp"
#include "engine/core/clock.hpp"
#include "engine/federation/base64.hpp"
#include "engine/federation/event_crypto.hpp"
#include "engine/federation/room_version.hpp"
#include "engine/federation/x_matrix.hpp"
#include "engine/policyserver/policy_server.hpp"
#include "temp_dir.hpp"

using namespace tyr;
using namespace tyr::engine;
using policyserver::Outcome;

namespace {

constexpr char kRoom[] = "!protected:tyr.test";
constexpr char kUs[] = "tyr.test:8448";
constexpr char kOrigin[] = "remote.test:8448";

struct FakeBackend : policyserver::Backend {
  bool ready = true;
  policyserver::Judgement verdict;
  int judged = 0;
  std::string last_origin;
  nlohmann::json last_event;
  std::string version = "10";
  bool policy_ready() const override { return ready; }
  bool protects_room(const std::string& room) const override { return room == kRoom; }
  Result<std::string> room_version(const std::string&) override { return version; }
  policyserver::Judgement judge_event(const nlohmann::json& event, const std::string& origin,
                                      std::chrono::milliseconds) override {
    ++judged;
    last_event = event;
    last_origin = origin;
    return verdict;
  }
};

federation::SigningKey make_key(std::string_view version, char fill) {
  return federation::SigningKey::from_seed(std::string(32, fill), version).value();
}

// The remote server: its key, and the /_matrix/key/v2/server answer it publishes.
struct Remote {
  federation::SigningKey key = make_key("k1", 'r');
  std::atomic<int> fetched{0};
  bool down = false;

  policyserver::HttpGet getter() {
    return [this](const std::string& url, size_t) -> Result<std::string> {
      ++fetched;
      if (down) return Error{"TYR_NETWORK", "connection refused"};
      if (url != "https://remote.test:8448/_matrix/key/v2/server")
        return Error{"HTTP", "unexpected URL " + url, 404};
      nlohmann::json keys = {
          {"server_name", kOrigin},
          {"valid_until_ts", now_ms() + 3'600'000},
          {"verify_keys", {{key.key_id(), {{"key", federation::base64_encode(key.public_key())}}}}},
          {"old_verify_keys", nlohmann::json::object()}};
      return federation::sign_json(keys, kOrigin, key).value().dump();
    };
  }

  // A PDU from @spammer:remote.test with its content hash and origin signature.
  nlohmann::json pdu(const std::string& body) const {
    nlohmann::json p = {{"room_id", kRoom},
                        {"sender", "@someone:remote.test"},
                        {"type", "m.room.message"},
                        {"content", {{"msgtype", "m.text"}, {"body", body}}},
                        {"origin_server_ts", 1'700'000'000'000},
                        {"depth", 12},
                        {"prev_events", {"$prev"}},
                        {"auth_events", {"$create", "$power", "$member"}},
                        {"unsigned", {{"age_ts", 1'700'000'000'000}}}};
    p["hashes"] = {{"sha256", federation::base64_encode(federation::content_hash(p).value())}};
    const auto* rv = federation::find_room_version("10");
    p["signatures"] = {
        {"remote.test",
         {{key.key_id(), federation::sign_event(p, *rv, "remote.test", key).value()}}}};
    return p;
  }

  std::string auth(const nlohmann::json& body, std::string_view uri = policyserver::kSignPath,
                   std::string_view destination = kUs) const {
    return federation::x_matrix_header("POST", uri, kOrigin, destination, body, key).value();
  }
};

PolicyServerConfig config() {
  PolicyServerConfig c;
  c.enabled = true;
  c.server_name = kUs;
  return c;
}

struct Rig {
  PolicyServerConfig cfg = config();
  FakeBackend backend;
  Remote remote;
  policyserver::ServerKeyCache keys{policyserver::KeyFetchOptions{}, remote.getter()};
  policyserver::Server server{cfg, make_key("policy_server", 'p'), backend, keys};

  policyserver::Response sign(const nlohmann::json& pdu) {
    return server.handle("POST", policyserver::kSignPath, remote.auth(pdu), pdu.dump());
  }
};

std::string errcode(const policyserver::Response& r) {
  return nlohmann::json::parse(r.body).value("errcode", "");
}

}  // namespace

TEST_CASE("policy server: signs an acceptable event with its policy key", "[policyserver]") {
  Rig rig;
  const auto pdu = rig.remote.pdu("hello there");
  auto r = rig.sign(pdu);
  REQUIRE(r.status == 200);
  const auto body = nlohmann::json::parse(r.body);
  REQUIRE(body.contains(kUs));
  const std::string sig = body[kUs]["ed25519:policy_server"].get<std::string>();
  // The signature is what Synapse checks: the redacted event, by the key in m.room.policy.
  nlohmann::json signed_pdu = pdu;
  signed_pdu["signatures"][kUs]["ed25519:policy_server"] = sig;
  const auto* rv = federation::find_room_version("10");
  CHECK(federation::verify_event_signature(signed_pdu, *rv, kUs, "ed25519:policy_server",
                                           rig.server.key().public_key()));
  CHECK(rig.backend.judged == 1);
  CHECK(rig.backend.last_origin == kOrigin);
  CHECK(rig.backend.last_event["sender"] == "@someone:remote.test");
  CHECK(rig.backend.last_event["content"]["body"] == "hello there");
  CHECK(rig.backend.last_event["event_id"].get<std::string>().rfind("$", 0) == 0);
  CHECK(rig.server.stats().count(Outcome::kSigned) == 1);
  CHECK(rig.server.room_counts()[kRoom].signed_events == 1);
}

TEST_CASE("policy server: a refused event gets M_FORBIDDEN and the same answer on a retry",
          "[policyserver]") {
  Rig rig;
  rig.backend.verdict = {true, false, "This message was refused by the server's spam filter."};
  const auto pdu = rig.remote.pdu("buy cheap pills");
  auto r = rig.sign(pdu);
  CHECK(r.status == 400);
  CHECK(errcode(r) == "M_FORBIDDEN");
  CHECK(nlohmann::json::parse(r.body)["error"] ==
        "This message was refused by the server's spam filter.");
  // A retry is answered from memory: the scorer (and its rate counters) see the event once.
  rig.backend.verdict = {};
  auto again = rig.sign(pdu);
  CHECK(again.status == 400);
  CHECK(rig.backend.judged == 1);
  CHECK(rig.server.stats().count(Outcome::kRefused) == 2);
  CHECK(rig.server.room_counts()[kRoom].refused_events == 2);
}

TEST_CASE("policy server: rooms it does not protect are 404 M_NOT_FOUND", "[policyserver]") {
  Rig rig;
  auto pdu = rig.remote.pdu("hi");
  pdu["room_id"] = "!elsewhere:tyr.test";
  auto r = rig.sign(pdu);
  CHECK(r.status == 404);
  CHECK(errcode(r) == "M_NOT_FOUND");
  CHECK(rig.backend.judged == 0);
  CHECK(rig.remote.fetched == 0);  // no key fetch for a room it does not police
}

TEST_CASE("policy server: requests whose X-Matrix does not verify are 401", "[policyserver]") {
  Rig rig;
  const auto pdu = rig.remote.pdu("hi");
  SECTION("no header") {
    auto r = rig.server.handle("POST", policyserver::kSignPath, "", pdu.dump());
    CHECK(r.status == 401);
    CHECK(errcode(r) == "M_UNAUTHORIZED");
  }
  SECTION("signed for another body") {
    auto other = rig.remote.pdu("something else");
    auto r = rig.server.handle("POST", policyserver::kSignPath, rig.remote.auth(other), pdu.dump());
    CHECK(r.status == 401);
  }
  SECTION("signed by a key the server does not publish") {
    auto imposter = make_key("k1", 'x');
    auto header =
        federation::x_matrix_header("POST", policyserver::kSignPath, kOrigin, kUs, pdu, imposter)
            .value();
    auto r = rig.server.handle("POST", policyserver::kSignPath, header, pdu.dump());
    CHECK(r.status == 401);
  }
  SECTION("meant for another server") {
    auto r =
        rig.server.handle("POST", policyserver::kSignPath,
                          rig.remote.auth(pdu, policyserver::kSignPath, "other.test"), pdu.dump());
    CHECK(r.status == 401);
    CHECK(nlohmann::json::parse(r.body)["error"].get<std::string>().find("other.test") !=
          std::string::npos);
  }
  SECTION("the calling server's keys cannot be fetched: refused, and not refetched at once") {
    rig.remote.down = true;
    CHECK(rig.sign(pdu).status == 401);
    CHECK(rig.sign(pdu).status == 401);
    CHECK(rig.remote.fetched == 1);
  }
  CHECK(rig.backend.judged == 0);
  CHECK(rig.server.stats().count(Outcome::kSigned) == 0);
}

TEST_CASE("policy server: the calling server's keys are fetched once", "[policyserver]") {
  Rig rig;
  for (int i = 0; i < 5; ++i)
    CHECK(rig.sign(rig.remote.pdu("message " + std::to_string(i))).status == 200);
  CHECK(rig.remote.fetched == 1);
  CHECK(rig.keys.fetches() == 1);
}

TEST_CASE("policy server: malformed requests are refused with what was wrong", "[policyserver]") {
  Rig rig;
  auto pdu = rig.remote.pdu("hi");
  SECTION("content that does not match its hash") {
    auto tampered = pdu;
    tampered["content"]["body"] = "buy cheap pills";
    auto r = rig.sign(tampered);
    CHECK(r.status == 400);
    CHECK(errcode(r) == "M_FORBIDDEN");
  }
  SECTION("not a PDU") {
    const std::string body = R"({"room_id": 5})";
    auto r = rig.server.handle("POST", policyserver::kSignPath,
                               rig.remote.auth(nlohmann::json::parse(body)), body);
    CHECK(r.status == 400);
    CHECK(errcode(r) == "M_BAD_JSON");
  }
  SECTION("other paths and methods") {
    CHECK(rig.server.handle("POST", "/_matrix/policy/v2/sign", rig.remote.auth(pdu), pdu.dump())
              .status == 404);
    CHECK(rig.server.handle("GET", policyserver::kSignPath, rig.remote.auth(pdu), "").status ==
          405);
  }
  SECTION("a room version Tyr does not know") {
    rig.backend.version = "org.example.custom";
    auto r = rig.sign(pdu);
    CHECK(r.status == 400);
    CHECK(errcode(r) == "M_UNSUPPORTED_ROOM_VERSION");
  }
  CHECK(rig.backend.judged == 0);
}

TEST_CASE("policy server: the unstable path is served too", "[policyserver]") {
  Rig rig;
  const auto pdu = rig.remote.pdu("hi");
  auto r = rig.server.handle("POST", policyserver::kUnstableSignPath,
                             rig.remote.auth(pdu, policyserver::kUnstableSignPath), pdu.dump());
  CHECK(r.status == 200);
}

TEST_CASE("policy server: while loading and past the deadline it does what the config says",
          "[policyserver]") {
  Rig rig;
  SECTION("loading: signs by default, without judging") {
    rig.backend.ready = false;
    CHECK(rig.sign(rig.remote.pdu("hi")).status == 200);
    CHECK(rig.backend.judged == 0);
    CHECK(rig.server.stats().count(Outcome::kSignedLoading) == 1);
  }
  SECTION("loading, configured to refuse") {
    rig.backend.ready = false;
    rig.cfg.sign_while_loading = false;
    auto r = rig.sign(rig.remote.pdu("hi"));
    CHECK(r.status == 400);
    CHECK(rig.server.stats().count(Outcome::kRefusedLoading) == 1);
    // Not remembered: once loaded, the same event is judged.
    rig.backend.ready = true;
    CHECK(rig.sign(rig.remote.pdu("hi")).status == 200);
    CHECK(rig.backend.judged == 1);
  }
  SECTION("timeout: signs by default") {
    rig.backend.verdict = {false, true, {}};
    CHECK(rig.sign(rig.remote.pdu("hi")).status == 200);
    CHECK(rig.server.stats().count(Outcome::kSignedTimeout) == 1);
  }
  SECTION("timeout, configured to refuse") {
    rig.backend.verdict = {false, true, {}};
    rig.cfg.sign_on_timeout = false;
    CHECK(rig.sign(rig.remote.pdu("hi")).status == 400);
    CHECK(rig.server.stats().count(Outcome::kRefusedTimeout) == 1);
  }
}

TEST_CASE("policy server: the m.room.policy event itself is always signed", "[policyserver]") {
  Rig rig;
  rig.backend.verdict = {true, false, "no"};
  nlohmann::json p = rig.remote.pdu("x");
  p.erase("signatures");
  p["type"] = "m.room.policy";
  p["state_key"] = "";
  p["content"] = nlohmann::json::object();
  p["hashes"] = {{"sha256", federation::base64_encode(federation::content_hash(p).value())}};
  CHECK(rig.sign(p).status == 200);
  CHECK(rig.backend.judged == 0);
}

TEST_CASE("policy server: the key is made once, private, and read back", "[policyserver]") {
  tyr::test::TempDir dir;
  const auto path = dir.path() / "keys" / "policy_server.key";
  auto first = policyserver::load_or_create_key(path);
  REQUIRE(first);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);
  auto second = policyserver::load_or_create_key(path);
  REQUIRE(second);
  CHECK(second->public_key() == first->public_key());
  CHECK(second->key_id() == "ed25519:policy_server");
  const auto content = policyserver::policy_event_content("tyr.test", second.value());
  CHECK(content["via"] == "tyr.test");
  CHECK(content["public_keys"]["ed25519"] == federation::base64_encode(first->public_key()));
}

TEST_CASE("policy server: a key file of another version is refused with its path",
          "[policyserver]") {
  tyr::test::TempDir dir(/*create=*/true);
  const auto path = dir.path() / "policy_server.key";
  {
    std::ofstream out(path);
    out << federation::format_signing_key_file(make_key("a_b", 'z'));
  }
  auto key = policyserver::load_or_create_key(path);
  REQUIRE_FALSE(key);
  CHECK(key.error().message.find(path.string()) != std::string::npos);
  CHECK(key.error().message.find("policy_server") != std::string::npos);
}
