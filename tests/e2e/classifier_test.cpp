// End-to-end: the classifier learns from a moderator's redactions in a protected room of a real
// Synapse, then redacts a new message of the same campaign on its own, and `learn ham` lowers
// the score of what a moderator says was wrongly taken for spam.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;

namespace {

// Shadow until 10 of each; ham after 2 s unredacted (every message sampled): the test's time
// scale, not the defaults'.
std::string classifier_config() {
  return "classifier:\n"
         "  min_spam: 10\n"
         "  min_ham: 10\n"
         "  ham_after_seconds: 1\n"
         "  ham_sample: 1.0\n"
         "  ham_per_room_hour: 1000\n";
}

// Sends a command and returns Tyr's next reply containing `needle` (empty on timeout).
std::string ask(Harness& h, const std::string& command, const std::string& needle) {
  auto matching = [&] {
    std::vector<std::string> out;
    for (const auto& r : h.tyr_replies()) {
      if (r.find(needle) != std::string::npos) out.push_back(r);
    }
    return out;
  };
  const size_t before = matching().size();
  h.say(h.op(), h.management_room(), command);
  std::string reply;
  wait_until(
      [&] {
        const auto now = matching();
        if (now.size() > before) reply = now.back();
        return !reply.empty();
      },
      30s);
  return reply;
}

// One campaign: a wallet "airdrop" in many wordings.
const std::vector<std::string> kCampaign = {
    "Claim your free USDT airdrop now, connect your wallet at airdrop-bonus.xyz",
    "Limited slots left! Free crypto airdrop: connect wallet, receive 500 USDT bonus",
    "airdrop-bonus.xyz is giving away USDT today, claim before the slots run out",
    "Connect your wallet to claim the bonus airdrop, 500 USDT guaranteed",
    "FREE USDT: the airdrop is live, claim now at airdrop-bonus.xyz",
    "Don't miss the airdrop, connect wallet and receive your crypto bonus now",
    "Verified airdrop: claim 500 USDT, limited slots, connect your wallet",
    "Receive free crypto today! Claim the USDT bonus at airdrop-bonus.xyz",
    "Airdrop ending soon, connect your wallet now and claim free USDT",
    "Bonus USDT for everyone who connects a wallet, claim the airdrop now",
    "Get 500 USDT free, the airdrop is open, claim at airdrop-bonus.xyz",
    "Your wallet is eligible for the crypto airdrop, claim the bonus now",
    "Last slots for the free USDT airdrop, connect wallet to receive",
    "Claim now: airdrop bonus of 500 USDT, connect your wallet today",
    "Official airdrop-bonus.xyz giveaway, free USDT, limited slots",
    "Connect wallet, claim airdrop, receive USDT bonus, no fees",
    "Crypto airdrop live now, claim your free bonus USDT today",
    "airdrop-bonus.xyz: connect your wallet and claim 500 free USDT",
    "Hurry, free USDT airdrop, claim the bonus before slots run out",
    "Receive your USDT airdrop bonus now, just connect your wallet"};

const std::vector<std::string> kChat = {
    "morning all, did anyone get the build working on arm64?",
    "I think the flaky test is the one with the timeout in it",
    "lunch at the usual place around noon?",
    "the release notes are up on the wiki now",
    "can someone review my pull request when they get a minute",
    "thanks, that fixed it for me",
    "meeting moved to 3pm, same room as last week",
    "has anyone seen the new design for the settings page",
    "I'll be out tomorrow, back on Thursday",
    "the docs say to restart the service after changing the config",
    "does the bridge still drop messages after a reconnect?",
    "happy birthday Sam! cake in the kitchen",
    "I'm reading the logs now, looks like a DNS problem",
    "good point, let's discuss it at the standup",
    "the train was late again this morning",
    "who is on call this weekend?",
    "nice work on the migration, it went smoothly",
    "I updated the ticket with the stack trace",
    "anyone up for a game of chess later",
    "the new laptop finally arrived, setting it up now"};

}  // namespace

TEST_CASE("e2e: the classifier learns from a moderator's redactions and redacts the next one",
          "[e2e][classifier]") {
  Harness h(classifier_config());
  auto& spammer = h.add_user("spammer");
  auto& member = h.add_user("member");
  const std::string room = h.create_room_with_tyr("learned");
  REQUIRE(spammer.join(room));
  REQUIRE(member.join(room));
  h.start_tyr();
  h.protect(room);

  // Ordinary conversation, which stands unredacted and becomes ham.
  for (const auto& text : kChat) h.say(member, room, text);
  // The campaign, each message redacted by hand by the room's moderator.
  std::vector<std::string> spam;
  for (const auto& text : kCampaign) spam.push_back(h.say(spammer, room, text));
  int n = 0;
  for (const auto& id : spam) {
    REQUIRE(h.op().redact(room, id, "classifier-e2e-" + std::to_string(n++), "spam"));
  }
  // Learned: 20 spam from the redactions, the chat as ham once it stood a second (ticks run
  // every 5 s).
  std::string stats;
  const bool ready = wait_until(
      [&] {
        stats = ask(h, "!tyr learn stats", "Classifier");
        std::this_thread::sleep_for(1s);
        return stats.find("Classifier: 20 spam") != std::string::npos &&
               stats.find("enforcing") != std::string::npos;
      },
      60s);
  INFO(stats);
  REQUIRE(ready);

  // A new message of the same campaign, in words no redacted message used in this order.
  const std::string fresh =
      h.say(spammer, room, "Wallet holders: your free USDT bonus airdrop is waiting, claim it");
  REQUIRE(wait_until([&] { return h.redacted(room, fresh); }, 30s));
  const std::string why = h.wait_reply("for @spammer:localhost");
  CHECK(why.find("classifier/SPAM") != std::string::npos);
  INFO(why);

  // Ordinary talk is left alone.
  const std::string ordinary =
      h.say(member, room, "I pushed the fix for the login bug, can someone review it?");
  const std::string marker = h.say(member, room, "ok, going for coffee");
  (void)marker;
  std::this_thread::sleep_for(3s);
  CHECK_FALSE(h.redacted(room, ordinary));

  // A moderator says a message was not spam: the next one like it scores lower.
  const std::string wallet_question =
      h.say(member, room, "anyone know why my wallet won't connect to claim the usdt airdrop?");
  REQUIRE(wait_until([&] { return h.redacted(room, wallet_question); }, 30s));
  const std::string probe =
      "does anyone know why the wallet will not connect to claim my usdt airdrop";
  auto score_of = [&](const std::string& reply) {
    const size_t at = reply.find("score ");
    return at == std::string::npos ? -1.0 : std::atof(reply.c_str() + at + 6);
  };
  const std::string before = ask(h, "!tyr rules test " + probe, "Verdict:");
  if (before.empty()) {
    for (const auto& r : h.tyr_replies()) UNSCOPED_INFO(r);
    UNSCOPED_INFO(h.tyr_log_tail(30));
  }
  REQUIRE_FALSE(before.empty());
  const std::string learned = ask(h, "!tyr learn ham " + wallet_question, "Classifier");
  INFO(learned);
  REQUIRE(learned.find("learned " + wallet_question + " as ham") != std::string::npos);
  const std::string after = ask(h, "!tyr rules test " + probe, "Verdict:");
  INFO("before: " << before << "\nafter: " << after);
  CHECK(score_of(after) < score_of(before));

  // And it can be taken back.
  CHECK(ask(h, "!tyr learn undo " + wallet_question, "Classifier")
            .find("took back " + wallet_question) != std::string::npos);
}
