// `policyserver enable|disable|status [room]` against a fake host: the m.room.policy actions
// it queues, its status, and what it says when the policy server is not configured.

#include <catch2/catch.hpp>

#include "commands_fixture.hpp"

using namespace tyr::engine;
using tyr::test::FakeHost;

namespace {

commands::PolicyServerView view() {
  commands::PolicyServerView v;
  v.server_name = "hs";
  v.public_key = "PUBKEY";
  v.outcomes = {{"signed", 7}, {"refused", 2}, {"not_found", 0}};
  v.rooms["!r1:hs"] = {5, 2};
  return v;
}

}  // namespace

TEST_CASE("commands: policyserver says how to turn it on when it is off", "[commands]") {
  FakeHost host;
  host.protect("!r1:hs");
  CHECK(host.reply("!tyr policyserver status")
            .find("The policy server is off. Add a "
                  "`policy_server:` section") == 0);
  CHECK(host.reply("!tyr policyserver") == "Usage: !tyr policyserver enable|disable|status [room]");
  CHECK(host.reply("!tyr policyserver launch") ==
        "Usage: !tyr policyserver enable|disable|status [room]");
}

TEST_CASE("commands: policyserver enable names Tyr in m.room.policy of each room", "[commands]") {
  FakeHost host;
  host.policy_view = view();
  host.protect("!r1:hs", "#one:hs");
  host.protect("!r2:hs");
  auto one = host.run("!tyr policyserver enable #one:hs");
  REQUIRE(one.size() == 1);
  CHECK(one[0].action == nlohmann::json{{"kind", "set_policy_server"},
                                        {"room", "!r1:hs"},
                                        {"via", "hs"},
                                        {"public_key", "PUBKEY"},
                                        {"reply_to", host.last_event["event_id"]}});
  CHECK(one[0].priority == Priority::kControl);
  auto all = host.run("!tyr policyserver enable");
  REQUIRE(all.size() == 2);
  CHECK(all[1].action["room"] == "!r2:hs");
  auto off = host.run("!tyr policyserver disable !r2:hs");
  REQUIRE(off.size() == 1);
  CHECK(off[0].action == nlohmann::json{{"kind", "set_policy_server"},
                                        {"room", "!r2:hs"},
                                        {"disable", true},
                                        {"reply_to", host.last_event["event_id"]}});
  CHECK(host.reply("!tyr policyserver enable !other:hs") ==
        "!other:hs is not a room Tyr protects (by room ID, or the alias it was added with). "
        "`!tyr rooms` lists them.");
}

TEST_CASE("commands: policyserver status shows the key and what was signed and refused",
          "[commands]") {
  FakeHost host;
  host.policy_view = view();
  host.protect("!r1:hs");
  host.protect("!r2:hs");
  CHECK(host.reply("!tyr policyserver status") ==
        "Policy server for hs (ed25519:policy_server PUBKEY).\n"
        "Requests: 7 signed, 2 refused.\n"
        "  !r1:hs: 5 signed, 2 refused\n"
        "  !r2:hs: 0 signed, 0 refused");
  CHECK(host.reply("!tyr policyserver status !r2:hs") ==
        "Policy server for hs (ed25519:policy_server PUBKEY).\n"
        "Requests: 7 signed, 2 refused.\n"
        "  !r2:hs: 0 signed, 0 refused");
}
