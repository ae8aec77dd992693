// `!tyr protections …` as the protection suite answers it (plugins/protection_commands.cpp): the
// replies a moderator reads, with what changed from what.

#include <catch2/catch.hpp>

#include "plugins/protection_host.hpp"

using tyr::plugins::ProtectionSuiteHost;
using Args = std::vector<std::string>;

TEST_CASE("protection commands: enable, shadow and disable say what changed", "[protection]") {
  ProtectionSuiteHost host;
  CHECK(host.command({"enable", "flooding"}) ==
        std::pair<std::string, bool>{"Protection flooding is now on (acting) everywhere (was off).",
                                     true});
  CHECK(host.command({"enable", "flooding"}) ==
        std::pair<std::string, bool>{"Protection flooding was already on (acting) everywhere.",
                                     false});
  CHECK(host.command({"shadow", "flooding", "!r:hs"}).first ==
        "Protection flooding is now shadow (reporting only) in !r:hs (was on (acting)).");
  CHECK(host.command({"enable", "nope"}).first.find("nope") != std::string::npos);
  CHECK(host.command({"enable", "flooding", "not-a-room"}).first ==
        "Usage: protections enable <name> [room]");
  CHECK(host.command({"frobnicate"}).first.rfind("Unknown protections command 'frobnicate'", 0) ==
        0);
}

TEST_CASE("protection commands: config takes list values as words or commas and shows the old one",
          "[protection]") {
  ProtectionSuiteHost host;
  auto [text, changed] =
      host.command({"config", "link_spam", "blocked_domains", "Evil.example", "bad.example"});
  CHECK(changed);
  CHECK(
      text ==
      "Protection link_spam everywhere: blocked_domains = evil.example, bad.example (was (none)).");
  CHECK(host.command({"config", "link_spam", "blocked_domains", "a.example,b.example", "!r:hs"})
            .first ==
        "Protection link_spam in !r:hs: blocked_domains = a.example, b.example (was evil.example, "
        "bad.example).");
  CHECK(host.command({"config", "flooding", "max_messages", "5"}).first ==
        "Protection flooding everywhere: max_messages = 5 (was 10).");
  // A single-valued key given several words is refused, not split into a room.
  auto [refused, changed2] = host.command({"config", "flooding", "max_messages", "5", "6"});
  CHECK_FALSE(changed2);
  CHECK(refused ==
        "protection flooding: key 'max_messages' takes one value (an integer between 1 and 1000), "
        "not 2 words; quote a text with spaces: \"like this\".");
  CHECK(host.command({"config", "flooding", "max_messages", "0"}).second == false);
}

TEST_CASE("protection commands: show prints every setting in effect with its default",
          "[protection]") {
  ProtectionSuiteHost host;
  host.command({"shadow", "flooding"});
  host.command({"config", "flooding", "max_messages", "5", "!r:hs"});
  const std::string shown = host.command({"show", "flooding", "!r:hs"}).first;
  CHECK(shown ==
        "Protection flooding in !r:hs: shadow (reporting only)\n"
        "  max_messages = 5 (default 10) — Messages one user may send in one room within the "
        "window; each further one hits FLOOD.\n"
        "  window_seconds = 10 (default) — Length of the sliding window.\n"
        "  kick = false (default) — Also ask to kick the user at the first FLOOD hit.");
  CHECK(host.command({"show", "flooding"}).first.find("max_messages = 10 (default)") !=
        std::string::npos);
  CHECK(host.command({"show"}).first == "Usage: protections show <name> [room]");
}
