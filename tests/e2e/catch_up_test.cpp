// End-to-end: events the homeserver never delivers are read back from the room's history.
//
// Synapse keeps the transactions it could not deliver in its `application_services_txns` table
// and can lose them (docs/soak.md). Here they are lost on purpose: with Tyr stopped, a spam
// message is sent, Synapse stores it as an undelivered transaction, and the test deletes that
// row. The restarted Tyr never receives the message through the appservice API; it must find it
// in the room's history and redact it, once.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/sandbox/synapse_process.hpp"
#include "tests/e2e/harness.hpp"

using namespace tyr;
using namespace tyr::e2e;
namespace fs = std::filesystem;

namespace {

std::string rules_config() { return "rules:\n  dir: rules\n"; }

void copy_rules(const Harness& h) {
  const fs::path dir = h.dir() / "rules";
  fs::create_directories(dir);
  fs::copy_file(fs::path(TYR_FIXTURES_DIR) / "e2e-rules" / "rules.yaml", dir / "rules.yaml",
                fs::copy_options::overwrite_existing);
}

// Waits until Synapse holds `event_id` in an undelivered transaction, then deletes every stored
// transaction: the events in them are never sent. Returns the rows deleted (0: not found).
int drop_stored_transactions(const Harness& h, const std::string& event_id) {
  const fs::path script = h.dir() / "drop_txns.py";
  std::ofstream(script) << R"PY(import sqlite3, sys, time
db, event_id = sys.argv[1], sys.argv[2]
deadline = time.time() + 30
while time.time() < deadline:
    con = sqlite3.connect(db, timeout=10)
    rows = con.execute("SELECT txn_id, event_ids FROM application_services_txns").fetchall()
    if any(event_id in r[1] for r in rows):
        con.execute("DELETE FROM application_services_txns")
        con.commit()
        print(len(rows))
        sys.exit(0)
    con.close()
    time.sleep(0.2)
print(0)
)PY";
  const fs::path out = h.dir() / "drop_txns.out";
  const std::string cmd = "'" + sandbox::default_synapse_python().string() + "' '" + script.string() + "' '" +
                          (h.dir() / "synapse" / "homeserver.db").string() + "' '" + event_id + "' > '" +
                          out.string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) return 0;
  std::ifstream in(out);
  int n = 0;
  in >> n;
  return n;
}

std::optional<nlohmann::json> find_event(Harness& h, const std::string& room, const std::string& event_id) {
  for (const auto& ev : h.messages(room)) {
    if (ev.value("event_id", "") == event_id) return ev;
  }
  return std::nullopt;
}

bool redacted(Harness& h, const std::string& room, const std::string& event_id) {
  auto ev = find_event(h, room, event_id);
  return ev && ev->value("content", nlohmann::json::object()).empty();
}

size_t count_in_log(const Harness& h, const std::string& needle) {
  std::ifstream in(h.dir() / "tyr.log");
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("e2e: a message the homeserver never delivered is found in the room's history and redacted once",
          "[e2e][catch_up]") {
  Harness h(rules_config());
  copy_rules(h);
  auto& sender = h.add_user("sender");
  const std::string room = h.create_room_with_tyr("catchup");
  REQUIRE(sender.join(room));
  h.start_tyr();
  h.protect(room);
  // One live message, so that Tyr has stored a transaction (the point catch-up reads back to).
  const std::string before = h.say(sender, room, "good morning everyone");
  REQUIRE(wait_until([&] { return count_in_log(h, "event " + before) > 0; }, 30s));

  h.stop_tyr();
  const std::string spam = h.say(sender, room, "buy cheap   pills here");
  const std::string ham = h.say(sender, room, "see you all at the meeting");
  REQUIRE(drop_stored_transactions(h, spam) > 0);

  h.start_tyr();
  REQUIRE(wait_until([&] { return redacted(h, room, spam); }, 60s));
  CHECK(count_in_log(h, "no transaction had delivered") >= 1);
  CHECK_FALSE(redacted(h, room, ham));
  CHECK_FALSE(redacted(h, room, before));
  // Handled once: one redaction notice for the spam, however many passes read it.
  auto acting = [&] {
    size_t n = 0;
    for (const auto& body : h.tyr_replies()) {
      if (body.find("Acting: redact") != std::string::npos && body.find(spam) != std::string::npos) ++n;
    }
    return n;
  };
  REQUIRE(wait_until([&] { return acting() >= 1; }, 30s));
  h.say(h.op(), h.management_room(), "!tyr status");
  REQUIRE_FALSE(h.wait_reply("Queues:").empty());
  CHECK(acting() == 1);
  CHECK(count_in_log(h, "event " + spam + " m.room.message") == 1);
}
