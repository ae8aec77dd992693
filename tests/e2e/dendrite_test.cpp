// End-to-end: Tyr attached to Dendrite instead of Synapse (docs/homeservers.md). Dendrite numbers
// its appservice transactions with nanosecond timestamps, has no room version 12, serves no
// appservice ping, and answers Synapse's admin API only in part; the core must work regardless:
// commands, protecting rooms, ban lists, server ACLs, rules, restarts and abuse reports.

#include <catch2/catch.hpp>

#include <httplib.h>

#include <csignal>
#include <sstream>

#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;

namespace {

HarnessOptions on_dendrite(std::string extra_config = {}) {
  HarnessOptions o;
  o.extra_config = std::move(extra_config);
  o.homeserver = Homeserver::dendrite;
  return o;
}

// The sum of a metric's samples whose labels contain every one of `labels` (e.g.
// `kind="catch_up"`), read from Tyr's /metrics.
double metric(uint16_t admin_port, const std::string& name,
              const std::vector<std::string>& labels = {}) {
  httplib::Client admin("127.0.0.1", admin_port);
  auto res = admin.Get("/metrics");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  double sum = 0;
  std::istringstream in(res->body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0 ||
        (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ')) {
      continue;
    }
    bool all = true;
    for (const auto& l : labels) all = all && line.find(l) != std::string::npos;
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// What ordinary traffic must leave alone: reads of room history, list reloads, catch-up passes
// and transaction gaps.
struct Quiet {
  double history_reads, list_reloads, catch_up_passes, gaps, recovered;
};

Quiet quiet_counters(uint16_t port) {
  return {metric(port, "tyr_homeserver_request_duration_seconds_count", {"endpoint=\"messages\""}),
          metric(port, "tyr_actions_total", {"kind=\"watch_list\""}),
          metric(port, "tyr_actions_total", {"kind=\"catch_up\""}),
          metric(port, "tyr_transaction_gaps_total"), metric(port, "tyr_events_recovered_total")};
}

}  // namespace

TEST_CASE(
    "e2e: Dendrite: Tyr answers, protects a room, bans from a list on join and among members, "
    "unbans, sets the server ACL, and 100 messages read no history",
    "[e2e][dendrite]") {
  const uint16_t admin_port = cli::sandbox::free_loopback_port();
  // Catch-up only at start, so that any later pass could only come from the traffic below.
  Harness h(on_dendrite("admin:\n  port: " + std::to_string(admin_port) +
                        "\ncatch_up:\n  interval_seconds: 0\n  follow_up_seconds: []\n"));
  auto& spammer = h.add_user("spammer");
  auto& squatter = h.add_user("squatter");
  const std::string room = h.create_room_with_tyr("lobby");
  REQUIRE(squatter.join(room));
  REQUIRE(h.stranger().join(room));
  const std::string list = h.make_list_room("community-bans");
  h.put_rule(list, "m.policy.rule.user", "rule:@spammer:localhost",
             {{"entity", "@spammer:localhost"}, {"recommendation", "m.ban"}, {"reason", "spam"}});

  h.start_tyr();  // answers `!tyr ping`
  CHECK(read_text(h.dir() / "tyr.log").find("homeserver: Dendrite 0.13.8") != std::string::npos);
  h.say(h.op(), h.management_room(), "!tyr status");
  const std::string status = h.wait_reply("Protected rooms:");
  INFO(h.tyr_log_tail());
  REQUIRE_FALSE(status.empty());
  h.protect(room);
  h.say(h.op(), h.management_room(), "!tyr lists watch #community-bans:localhost");
  REQUIRE_FALSE(h.wait_reply("Watching " + list).empty());

  // A rule's target joining is banned with the rule's reason.
  REQUIRE(spammer.join(room));
  REQUIRE(wait_until([&] { return h.membership(room, "@spammer:localhost") == "ban"; }, 30s));
  CHECK(h.state(room, "m.room.member", "@spammer:localhost").value("reason", "") == "spam");
  // A new rule against a member already in the room bans them there.
  h.put_rule(list, "m.policy.rule.user", "rule:@squatter:localhost",
             {{"entity", "@squatter:localhost"}, {"recommendation", "m.ban"}, {"reason", "sweep"}});
  REQUIRE(wait_until([&] { return h.membership(room, "@squatter:localhost") == "ban"; }, 30s));
  // Lifting a rule lifts the ban Tyr made because of it.
  h.put_rule(list, "m.policy.rule.user", "rule:@spammer:localhost", nlohmann::json::object());
  REQUIRE(wait_until([&] { return h.membership(room, "@spammer:localhost") == "leave"; }, 30s));
  CHECK_FALSE(h.wait_reply("Unbanned @spammer:localhost").empty());
  // A server rule becomes the room's m.room.server_acl.
  h.put_rule(list, "m.policy.rule.server", "rule:evil.example",
             {{"entity", "evil.example"}, {"recommendation", "m.ban"}, {"reason", "abuse"}});
  REQUIRE(wait_until(
      [&] {
        return h.state(room, "m.room.server_acl").value("deny", nlohmann::json()).size() == 1;
      },
      30s));
  const auto acl = h.state(room, "m.room.server_acl");
  CHECK(acl["deny"] == nlohmann::json({"evil.example"}));
  CHECK(acl["allow"] == nlohmann::json({"*"}));
  CHECK(h.membership(room, h.operator_user()) == "join");

  // The start's catch-up pass is over once a command queued after it is answered.
  REQUIRE(wait_until([&] { return quiet_counters(admin_port).catch_up_passes >= 1; }, 30s));
  h.say(h.op(), h.management_room(), "!tyr ping before-traffic");
  REQUIRE_FALSE(h.wait_reply("pong before-traffic").empty());
  const Quiet before = quiet_counters(admin_port);
  // The counters are the right ones: the watch loaded the list, the start's pass read history.
  REQUIRE(before.list_reloads >= 1);
  REQUIRE(before.history_reads >= 1);
  const double received =
      metric(admin_port, "tyr_events_received_total", {"type=\"m.room.message\""});

  // Dendrite's transaction IDs are timestamps, never consecutive: no gap may be read into them.
  for (int i = 0; i < 100; ++i) h.say(h.stranger(), room, "ordinary message " + std::to_string(i));
  REQUIRE(wait_until(
      [&] {
        return metric(admin_port, "tyr_events_received_total", {"type=\"m.room.message\""}) >=
               received + 100;
      },
      60s));
  h.say(h.op(), h.management_room(), "!tyr ping after-traffic");
  REQUIRE_FALSE(h.wait_reply("pong after-traffic").empty());
  // Longer than catch_up.settle_ms (2 s): a pass the traffic had queued would have run.
  CHECK_FALSE(wait_until(
      [&] { return quiet_counters(admin_port).catch_up_passes != before.catch_up_passes; }, 3s));
  const Quiet after = quiet_counters(admin_port);
  CHECK(after.history_reads == before.history_reads);
  CHECK(after.list_reloads == before.list_reloads);
  CHECK(after.catch_up_passes == before.catch_up_passes);
  CHECK(after.gaps == before.gaps);
  CHECK(after.recovered == before.recovered);
  CHECK(h.membership(room, h.stranger_user()) == "join");
}

TEST_CASE(
    "e2e: Dendrite: rules redact spam, and what is said while Tyr is killed is handled once after "
    "its restart",
    "[e2e][dendrite]") {
  Harness h(on_dendrite("rules:\n  dir: rules\n"));
  h.copy_rules();
  auto& sender = h.add_user("sender");
  const std::string room = h.create_room_with_tyr("scored");
  REQUIRE(sender.join(room));
  h.start_tyr();
  h.protect(room);

  const std::string spam = h.say(sender, room, "buy cheap   pills here");
  REQUIRE(wait_until([&] { return h.redacted(room, spam); }, 30s));
  const std::string why = h.wait_reply("Acting: redact (score 6.0) for @sender:localhost");
  REQUIRE_FALSE(why.empty());
  CHECK(why.find("test.spam-phrase") != std::string::npos);

  h.kill_tyr(SIGKILL);
  const std::string late_spam = h.say(sender, room, "more cheap pills for you");
  const std::string ham = h.say(sender, room, "see you all at the meeting");
  h.start_tyr();
  REQUIRE(wait_until([&] { return h.redacted(room, late_spam); }, 60s));
  CHECK_FALSE(h.redacted(room, ham));
  auto acting = [&] {
    size_t n = 0;
    for (const auto& body : h.tyr_replies()) {
      if (body.find("Acting: redact") != std::string::npos &&
          body.find(late_spam) != std::string::npos) {
        ++n;
      }
    }
    return n;
  };
  REQUIRE(wait_until([&] { return acting() >= 1; }, 30s));
  h.say(h.op(), h.management_room(), "!tyr ping after-restart");
  REQUIRE_FALSE(h.wait_reply("pong after-restart").empty());
  CHECK(acting() == 1);
}

TEST_CASE("e2e: Dendrite: an abuse report read from Dendrite's admin API is posted and answered",
          "[e2e][dendrite]") {
  Harness h(on_dendrite("reports:\n  poll_seconds: 1\n"));
  auto& rude = h.add_user("rude");
  const std::string room = h.create_room_with_tyr("reported");
  REQUIRE(rude.join(room));
  REQUIRE(h.stranger().join(room));
  h.start_tyr();
  h.protect(room);

  const std::string insult = h.say(rude, room, "you are all idiots");
  engine::HttpRequest req;
  req.method = "POST";
  req.path = "/_matrix/client/v3/rooms/" + engine::HomeserverClient::encode_segment(room) +
             "/report/" + engine::HomeserverClient::encode_segment(insult);
  req.body = nlohmann::json{{"reason", "insults"}};
  auto reported = h.stranger().call(req);
  INFO((reported ? std::string("ok") : reported.error().to_string()));
  REQUIRE(reported);

  const std::string posted = h.wait_reply("reported " + insult);
  INFO(h.tyr_log_tail());
  REQUIRE_FALSE(posted.empty());
  CHECK(posted.find("@stranger:localhost reported") != std::string::npos);
  CHECK(posted.find(": “insults”") != std::string::npos);
  const auto id_at = posted.find("Report ") + 7;
  const std::string id = posted.substr(id_at, posted.find(':', id_at) - id_at);
  h.say(h.op(), h.management_room(), "!tyr report " + id + " redact");
  REQUIRE(wait_until([&] { return h.redacted(room, insult); }, 30s));
}
