// End-to-end: the inline veto. Synapse loads the synapse-http-antispam module pointed at Tyr
// (the snippet `tyr synapse-config` prints), and Tyr refuses listed users' joins and invites
// and spam messages before Synapse stores them.

#include <catch2/catch.hpp>

#include <filesystem>

#include <httplib.h>

#include "cli/sandbox/synapse_process.hpp"
#include "engine/veto/veto.hpp"
#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;
namespace fs = std::filesystem;

namespace {

struct VetoSetup {
  uint16_t port = cli::sandbox::free_loopback_port();
  uint16_t admin_port = cli::sandbox::free_loopback_port();
  std::string secret = "e2e-veto-secret-0123456789abcdefgh";
  bool fail_open = true;
  bool with_rules = true;  // rules/ is copied in after the harness starts: not for tyr_first

  std::string tyr_config() const {
    return std::string(with_rules ? "rules:\n  dir: rules\n" : "") +
           "veto:\n  port: " + std::to_string(port) + "\n  secret: " + secret +
           "\n  deadline_ms: 2000\n  fail_open: " + (fail_open ? "true" : "false") +
           "\nadmin:\n  port: " + std::to_string(admin_port) + "\n";
  }
  std::string synapse_yaml() const {
    engine::VetoConfig v;
    v.port = port;
    v.secret = secret;
    v.fail_open = fail_open;
    return engine::veto::synapse_module_yaml(
        v, "http://127.0.0.1:" + std::to_string(port) + "/_tyr/veto");
  }
};

// The value of one sample line of a Prometheus scrape ("name{labels} value"); -1 when absent.
double sample(const std::string& scrape, const std::string& series) {
  const size_t at = scrape.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(scrape.substr(at + series.size() + 2));
}

bool in_timeline(Harness& h, const std::string& room, const std::string& body) {
  for (const auto& ev : h.messages(room)) {
    if (ev.value("type", "") == "m.room.message" && ev["content"].value("body", "") == body)
      return true;
  }
  return false;
}

}  // namespace

TEST_CASE("e2e: the inline veto refuses listed users and spam before Synapse stores them",
          "[e2e][veto]") {
  VetoSetup v;
  Harness h(v.tyr_config(), v.synapse_yaml());
  h.copy_rules();
  auto& listed = h.add_user("listed");
  auto& member = h.add_user("member");
  auto& friendly = h.add_user("friendly");
  const std::string room = h.create_room_with_tyr("vetoed");
  auto pl = h.state(room, "m.room.power_levels");
  pl["invite"] = 0;
  REQUIRE(h.op().send_state(room, "m.room.power_levels", "", pl));
  REQUIRE(member.join(room));
  h.start_tyr();
  h.protect(room);
  h.say(h.op(), h.management_room(), "!tyr lists create vetolist");
  REQUIRE_FALSE(h.wait_reply("Created policy list vetolist: ").empty());
  h.say(h.op(), h.management_room(), "!tyr ban vetolist @listed:localhost spam account");
  REQUIRE_FALSE(h.wait_reply("Banned @listed:localhost (user) in vetolist.").empty());

  // A listed user's join is refused with the error Tyr chose.
  auto join = listed.join(room);
  REQUIRE_FALSE(join);
  CHECK(join.error().code == "M_FORBIDDEN");
  CHECK(join.error().message == "You are banned from this room by its moderation policy.");
  CHECK(h.membership(room, "@listed:localhost").empty());
  CHECK_FALSE(h.wait_reply("Refused the join of @listed:localhost to " + room).empty());

  // An invite of a listed user is refused too; a normal invite passes.
  auto invite = member.invite(room, "@listed:localhost");
  REQUIRE_FALSE(invite);
  CHECK(invite.error().code == "M_FORBIDDEN");
  CHECK_FALSE(h.wait_reply("Refused the invite of @listed:localhost by @member:localhost").empty());
  REQUIRE(member.invite(room, "@friendly:localhost"));
  REQUIRE(friendly.join(room));
  CHECK(h.membership(room, "@friendly:localhost") == "join");

  // Spam is refused and never appears in the timeline; a normal message passes.
  auto spam = member.send_event(room, "m.room.message",
                                {{"msgtype", "m.text"}, {"body", "cheap pills here"}}, "veto-spam");
  REQUIRE_FALSE(spam);
  CHECK(spam.error().code == "M_FORBIDDEN");
  CHECK(spam.error().message == "This message was refused by the server's spam filter.");
  const std::string notice = h.wait_reply("Refused before it was stored: refuse");
  CHECK(notice.find("test.spam-phrase") != std::string::npos);
  auto fine = member.send_event(room, "m.room.message",
                                {{"msgtype", "m.text"}, {"body", "hello there"}}, "veto-fine");
  REQUIRE(fine);
  CHECK(in_timeline(h, room, "hello there"));
  CHECK_FALSE(in_timeline(h, room, "cheap pills here"));

  h.say(h.op(), h.management_room(), "!tyr status");
  const std::string status = h.wait_reply("Inline veto:");
  CHECK(status.find("3 reject") != std::string::npos);

  // The admin listener: health, readiness and a scrape that counts what happened above.
  httplib::Client admin("127.0.0.1", v.admin_port);
  auto healthz = admin.Get("/healthz");
  REQUIRE(healthz);
  CHECK(healthz->status == 200);
  auto readyz = admin.Get("/readyz");
  REQUIRE(readyz);
  CHECK(readyz->status == 200);
  auto scrape = admin.Get("/metrics");
  REQUIRE(scrape);
  CHECK(scrape->status == 200);
  CHECK(scrape->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& text = scrape->body;
  CHECK(sample(text, "tyr_vetoes_total{callback=\"check_event_for_spam\",outcome=\"reject\"}") ==
        1);
  CHECK(sample(text, "tyr_vetoes_total{callback=\"user_may_join_room\",outcome=\"reject\"}") == 1);
  CHECK(sample(text, "tyr_vetoes_total{callback=\"user_may_invite\",outcome=\"reject\"}") == 1);
  CHECK(sample(text, "tyr_vetoes_total{callback=\"check_event_for_spam\",outcome=\"allow\"}") >= 1);
  CHECK(sample(text, "tyr_rule_hits_total{rule=\"test.spam-phrase\",mode=\"enforced\"}") == 1);
  CHECK(sample(text, "tyr_transactions_received_total") > 0);
  CHECK(sample(text, "tyr_events_received_total{type=\"m.room.message\"}") > 0);
  CHECK(sample(text, "tyr_rules_loaded") == 4);
  CHECK(sample(text, "tyr_list_entries{kind=\"user\"}") == 1);
  CHECK(sample(text, "tyr_actions_total{kind=\"notice\",result=\"ok\"}") > 0);
  CHECK(text.find("tyr_homeserver_request_duration_seconds_bucket{endpoint=\"send_event\",le=") !=
        std::string::npos);
  CHECK(sample(text, "tyr_veto_duration_seconds_count{callback=\"check_event_for_spam\"}") >= 2);
  CHECK(text.find("@member") == std::string::npos);  // no user IDs in labels

  // The audit trail, read offline while Tyr runs, and from the management room.
  const std::string trail = command_output(std::string(TYR_BINARY) + " audit --data '" +
                                           h.data_dir().string() + "' --json");
  size_t refusals = 0;
  for (size_t at = 0, nl; at < trail.size(); at = nl + 1) {
    nl = trail.find('\n', at);
    if (nl == std::string::npos) nl = trail.size();
    const auto entry = nlohmann::json::parse(trail.substr(at, nl - at), nullptr, false);
    if (entry.is_discarded() || entry.value("mode", "") != "veto") continue;
    ++refusals;
    CHECK(entry.value("outcome", "") == "refused");
    const std::string action = entry.value("action", "");
    if (action == "refuse_event") {
      CHECK(entry["reason"]["rules"][0] == "test.spam-phrase");
      CHECK(entry.value("user", "") == "@member:localhost");
    } else {
      CHECK((action == "refuse_join" || action == "refuse_invite"));
      CHECK(entry.value("target", "") == "@listed:localhost");
      CHECK(entry["reason"].value("state_key", "").find("@listed:localhost") != std::string::npos);
    }
  }
  CHECK(refusals == 3);
  h.say(h.op(), h.management_room(), "!tyr audit @member:localhost");
  const std::string audit_reply = h.wait_reply("Audit trail for @member:localhost");
  CHECK(audit_reply.find("refuse_event") != std::string::npos);

  // Tyr stopped: fail_open (the default) lets traffic through; the appservice path catches up.
  h.stop_tyr();
  auto while_down = member.send_event(
      room, "m.room.message", {{"msgtype", "m.text"}, {"body", "tyr is away"}}, "veto-down");
  CHECK(while_down);
}

TEST_CASE("e2e: fail_open false makes Synapse refuse messages while Tyr is away", "[e2e][veto]") {
  VetoSetup v;
  v.fail_open = false;
  v.with_rules = false;
  // The module fails closed, so even the harness's own rooms need Tyr up first.
  Harness h(v.tyr_config(), v.synapse_yaml(), /*tyr_first=*/true);
  auto& member = h.add_user("member");
  h.start_tyr();
  const std::string room = h.create_room_with_tyr("closed");
  REQUIRE(member.join(room));
  h.protect(room);
  auto before = member.send_event(
      room, "m.room.message", {{"msgtype", "m.text"}, {"body", "tyr is here"}}, "closed-before");
  REQUIRE(before);

  h.stop_tyr();
  auto away = member.send_event(room, "m.room.message",
                                {{"msgtype", "m.text"}, {"body", "tyr is away"}}, "closed-away");
  REQUIRE_FALSE(away);
  CHECK(away.error().message == "Failed to connect to antispam server");
  CHECK_FALSE(in_timeline(h, room, "tyr is away"));

  h.start_tyr();
  auto back = member.send_event(room, "m.room.message",
                                {{"msgtype", "m.text"}, {"body", "tyr is back"}}, "closed-back");
  CHECK(back);
  CHECK(in_timeline(h, room, "tyr is here"));
  CHECK(in_timeline(h, room, "tyr is back"));
}
