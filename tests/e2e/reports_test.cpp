// End-to-end: abuse reports made by users through the homeserver reach the management room and
// lead to action.

#include <catch2/catch.hpp>

#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;

namespace {

void report(engine::HomeserverClient& who, const std::string& room, const std::string& event_id,
            const std::string& reason) {
  engine::HttpRequest req;
  req.method = "POST";
  req.path = "/_matrix/client/v3/rooms/" + engine::HomeserverClient::encode_segment(room) +
             "/report/" + engine::HomeserverClient::encode_segment(event_id);
  req.body = nlohmann::json{{"reason", reason}};
  auto r = who.call(req);
  INFO((r ? std::string("ok") : r.error().to_string()));
  REQUIRE(r);
}

}  // namespace

TEST_CASE(
    "e2e: an abuse report is posted and an operator's answer redacts, and trusted reports "
    "redact by themselves",
    "[e2e][reports]") {
  Harness h(
      "reports:\n  poll_seconds: 1\n  trusted_reporters: [\"@trusted:localhost\"]\n"
      "  trusted_reports_to_redact: 1\n");
  auto& rude = h.add_user("rude");
  auto& trusted = h.add_user("trusted");
  const std::string room = h.create_room_with_tyr("reported");
  REQUIRE(rude.join(room));
  REQUIRE(h.stranger().join(room));
  REQUIRE(trusted.join(room));
  h.start_tyr();
  h.protect(room);

  const std::string first = h.say(rude, room, "you are all idiots");
  report(h.stranger(), room, first, "insults");
  const std::string posted = h.wait_reply("reported " + first);
  REQUIRE_FALSE(posted.empty());
  CHECK(posted.find("@stranger:localhost reported") != std::string::npos);
  CHECK(posted.find(": “insults”") != std::string::npos);  // quoted: someone else's words
  CHECK(posted.find("): “you are all idiots”") != std::string::npos);  // "Message (sent <time>): …"
  CHECK(posted.find("Earlier reports against @rude:localhost: 0.") != std::string::npos);
  const auto id_at = posted.find("Report ") + 7;
  const std::string id = posted.substr(id_at, posted.find(':', id_at) - id_at);
  CHECK_FALSE(h.redacted(room, first));
  h.say(h.op(), h.management_room(), "!tyr report " + id + " redact");
  REQUIRE(wait_until([&] { return h.redacted(room, first); }, 30s));

  const std::string second = h.say(rude, room, "more insults here");
  report(trusted, room, second, "again");
  REQUIRE(wait_until([&] { return h.redacted(room, second); }, 30s));
  const std::string again = h.wait_reply("Trusted reports of this event: 1 of 1. Redacting it.");
  CHECK(again.find("Earlier reports against @rude:localhost: 1.") != std::string::npos);
  CHECK(again.find("Tyr's latest actions about @rude:localhost:") !=
        std::string::npos);  // the first redaction
}
