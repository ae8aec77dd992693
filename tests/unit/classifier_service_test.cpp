// engine/classifier/classifier.hpp: the classifier's symbols in a verdict, learning from what
// moderators do, undo, and its examples and models in a real RocksDB store across a restart.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "engine/classifier/classifier.hpp"
#include "engine/classifier/model_dir.hpp"
#include "engine/config/config.hpp"
#include "engine/store/keys.hpp"
#include "engine/store/store.hpp"
#include "tests/unit/temp_dir.hpp"

using namespace tyr;
using namespace tyr::engine;
using namespace tyr::engine::classifier;
using tyr::test::TempDir;

namespace {

const std::vector<std::string> kSpam = {
    "win a free prize now, claim at prize-club.example",      "free prize waiting, claim now",
    "claim your prize today, free entry, prize-club.example", "you won a free prize, claim it now",
    "prize draw winner: claim your free reward now",          "free reward and prize, claim today"};
const std::vector<std::string> kHam = {
    "see you at lunch tomorrow",      "the build is green again",
    "can you review my change today", "thanks for the help with the docs",
    "meeting notes are on the wiki",  "I will be late, the train is stuck"};

constexpr const char* kRoom = "!room:hs";

ClassifierOptions small_options() {
  ClassifierOptions o;
  o.min_spam = 3;
  o.min_ham = 3;
  o.ham_after_ms = 1000;
  o.ham_sample = 1.0;
  return o;
}

// Remembers each text as a message of `sender` at `ts`, then returns their event IDs.
std::vector<std::string> remember_all(Classifier& c, const std::vector<std::string>& texts,
                                      const std::string& prefix, const std::string& sender,
                                      int64_t ts, bool ham_candidate) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < texts.size(); ++i) {
    ids.push_back("$" + prefix + std::to_string(i));
    c.remember({ids.back(), kRoom, sender, ts}, texts[i], ham_candidate);
  }
  return ids;
}

void commit(Store& store, Batch& batch) {
  REQUIRE(store.commit(batch));
  batch = Batch{};
}

// Teaches `c` the corpus: spam through a moderator's redactions, ham by standing unredacted.
void teach(Classifier& c, Store& store) {
  Batch batch;
  auto spam = remember_all(c, kSpam, "s", "@spammer:hs", 1000, true);
  remember_all(c, kHam, "h", "@member:hs", 1000, true);
  for (const auto& id : spam) REQUIRE(c.on_redacted(batch, id, "@mod:hs"));
  CHECK(c.learn_due_ham(batch, 5000) == kHam.size());
  commit(store, batch);
}

}  // namespace

TEST_CASE("classifier: shadow until ready, then a spam symbol that decides the action",
          "[classifier]") {
  TempDir dir;
  Store store(dir.path() / "db");
  Classifier c(small_options());
  REQUIRE(c.load(store));
  EventVerdict v;
  auto out = c.fold(v, kRoom, "claim your free prize now", Thresholds{});
  CHECK_FALSE(out.hit);  // knows nothing yet
  CHECK(v.rules.empty());

  // Two of each: it has an opinion, but only in shadow.
  ClassifierOptions o = small_options();
  Batch batch;
  auto spam = remember_all(c, {kSpam[0], kSpam[1]}, "a", "@spammer:hs", 1000, false);
  auto ham = remember_all(c, {kHam[0], kHam[1]}, "b", "@member:hs", 1000, false);
  for (const auto& id : spam) REQUIRE(c.learn_recent(batch, id, Source::kCommand, true));
  for (const auto& id : ham) REQUIRE(c.learn_recent(batch, id, Source::kCommand, false));
  v = EventVerdict{};
  out = c.fold(v, kRoom, "claim your free prize now", Thresholds{});
  REQUIRE(out.hit);
  CHECK(out.shadow);
  CHECK(out.spam);
  CHECK(v.action == Action::kAllow);
  CHECK(v.score == 0);
  CHECK(v.shadow_action > Action::kAllow);  // what it would have done
  CHECK(v.explanation.find("shadow classifier/SPAM") != std::string::npos);
  (void)o;

  teach(c, store);
  CHECK(c.ready(kRoom));
  v = EventVerdict{};
  v.score = 1;
  v.rules = {"links.web-address"};
  v.scores = {1};
  v.explanation = "score 1 -> allow: links.web-address +1";
  out = c.fold(v, kRoom, "claim your free prize now at prize-club.example", Thresholds{});
  REQUIRE(out.hit);
  CHECK_FALSE(out.shadow);
  CHECK(v.score > 6);
  CHECK(v.action == Action::kRedact);
  CHECK(v.rules.back() == "classifier/SPAM");
  INFO(v.explanation);
  // Explained by the tokens of the message in hand, quoted.
  CHECK(v.explanation.find("classifier/SPAM +") != std::string::npos);
  CHECK(v.explanation.find("“prize”") != std::string::npos);
  CHECK(v.explanation.find("before the classifier: score 1 -> allow") != std::string::npos);
  CHECK(decided_text(v).find("classifier/SPAM") == 0);

  // Ordinary talk gets the ham symbol, which pulls a score down.
  v = EventVerdict{};
  v.score = 3;
  v.action = Action::kNotify;
  out = c.fold(v, kRoom, "can you review the docs for the build today", Thresholds{});
  REQUIRE(out.hit);
  CHECK_FALSE(out.spam);
  CHECK(v.score < 3);
  CHECK(v.action == Action::kAllow);
  CHECK(v.rules.back() == "classifier/HAM");
}

TEST_CASE("classifier: what moderators do is learned once, self-redactions and Tyr's are not",
          "[classifier]") {
  TempDir dir;
  Store store(dir.path() / "db");
  Classifier c(small_options());
  REQUIRE(c.load(store));
  Batch batch;
  auto ids = remember_all(c, {kSpam[0], kSpam[1], kSpam[2], kHam[0]}, "m", "@u:hs", 1000, true);
  CHECK_FALSE(c.on_redacted(batch, ids[0], "@u:hs"));           // the sender's own
  CHECK_FALSE(c.on_redacted(batch, ids[1], "@tyr:hs", false));  // Tyr's
  CHECK(c.on_redacted(batch, ids[2], "@mod:hs"));               // a moderator's
  CHECK_FALSE(c.on_redacted(batch, "$never-seen", "@mod:hs"));  // not remembered
  // Redacted messages are never ham; the one left is.
  CHECK(c.learn_due_ham(batch, 5000) == 1);
  commit(store, batch);
  // The same label twice is refused; the other label takes the first back.
  auto again = c.learn_recent(batch, ids[2], Source::kCommand, true);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == "TYR_ALREADY");
  auto flipped = c.learn_recent(batch, ids[2], Source::kCommand, false);
  REQUIRE(flipped);
  CHECK(flipped->find("no longer spam") != std::string::npos);
  commit(store, batch);
  auto stats = c.stats();
  CHECK(stats[0].find("0 spam and 2 ham") != std::string::npos);
  // Undo, then nothing left to undo.
  REQUIRE(c.unlearn(batch, ids[2], 6000));
  commit(store, batch);
  CHECK(c.stats()[0].find("0 spam and 1 ham") != std::string::npos);
  auto twice = c.unlearn(batch, ids[2], 6000);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().code == "TYR_NOT_LEARNED");
  CHECK(c.learn_recent(batch, "$nope", Source::kCommand, true).error().code == "TYR_NOT_SEEN");
}

TEST_CASE("classifier: a ban with a reason teaches the banned user's recent messages",
          "[classifier]") {
  TempDir dir;
  Store store(dir.path() / "db");
  Classifier c(small_options());
  REQUIRE(c.load(store));
  Batch batch;
  remember_all(c, {kSpam[0], kSpam[1]}, "b", "@bad:hs", 1000, true);
  remember_all(c, {kHam[0]}, "g", "@good:hs", 1000, true);
  CHECK(c.on_banned(batch, kRoom, "@bad:hs") == 2);
  CHECK(c.on_banned(batch, "!other:hs", "@good:hs") == 0);
  CHECK(c.learn_due_ham(batch, 5000) == 1);  // the banned user's messages are not ham
}

TEST_CASE("classifier: ham is sampled and capped per room per hour", "[classifier]") {
  TempDir dir;
  Store store(dir.path() / "db");
  ClassifierOptions o = small_options();
  o.ham_per_room_hour = 2;
  Classifier c(o);
  REQUIRE(c.load(store));
  Batch batch;
  remember_all(c, kHam, "h", "@member:hs", 1000, true);
  CHECK(c.learn_due_ham(batch, 500) == 0);  // not yet
  CHECK(c.learn_due_ham(batch, 5000) == 2);

  o.ham_sample = 0.5;
  o.ham_per_room_hour = 1000;
  Classifier sampled(o);
  REQUIRE(sampled.load(store));
  std::vector<std::string> many;
  for (int i = 0; i < 400; ++i) many.push_back("message number " + std::to_string(i));
  remember_all(sampled, many, "x", "@member:hs", 1000, true);
  const size_t learned = sampled.learn_due_ham(batch, 5000);
  CHECK(learned > 150);
  CHECK(learned < 250);
}

TEST_CASE("classifier: learning survives a crash before the model is saved, and undo after it",
          "[classifier]") {
  TempDir dir;
  std::vector<std::string> stats_before;
  {
    Store store(dir.path() / "db");
    Classifier c(small_options());
    REQUIRE(c.load(store));
    teach(c, store);
    stats_before = c.stats();
    // No flush: the process dies with only the example records written.
  }
  Store store(dir.path() / "db");
  Classifier c(small_options());
  REQUIRE(c.load(store));
  CHECK(c.stats()[0] == stats_before[0]);
  CHECK(c.ready(kRoom));
  // Saved, then more learning, then a restart: the model and the later examples add up.
  Batch batch;
  c.flush(batch, 1'000'000, /*force=*/true);
  commit(store, batch);
  REQUIRE(c.unlearn(batch, "$s0", 1'000'100));
  commit(store, batch);
  Classifier again(small_options());
  REQUIRE(again.load(store));
  CHECK(again.stats()[0].find(std::to_string(kSpam.size() - 1) + " spam and " +
                              std::to_string(kHam.size()) + " ham") != std::string::npos);
  // The example records hold hashes, never the text.
  bool text_found = false;
  store.scan(Cf::kState, "classifier/", [&](std::string_view, std::string_view v) {
    if (v.find("prize") != std::string_view::npos) text_found = true;
  });
  CHECK_FALSE(text_found);
}

TEST_CASE("classifier: example records past max_examples are pruned once saved", "[classifier]") {
  TempDir dir;
  Store store(dir.path() / "db");
  ClassifierOptions o = small_options();
  o.max_examples = 100;
  Classifier c(o);
  REQUIRE(c.load(store));
  Batch batch;
  std::vector<std::string> texts;
  for (int i = 0; i < 150; ++i) texts.push_back("ordinary words number " + std::to_string(i));
  auto ids = remember_all(c, texts, "p", "@member:hs", 1000, false);
  for (const auto& id : ids) REQUIRE(c.learn_recent(batch, id, Source::kCommand, false));
  commit(store, batch);
  c.flush(batch, 1'000'000, /*force=*/true);
  commit(store, batch);
  size_t records = 0;
  store.scan(Cf::kState, state_keys::kClassifierExample,
             [&](std::string_view, std::string_view) { ++records; });
  CHECK(records == 100);
  CHECK_FALSE(store.get(Cf::kState, std::string(state_keys::kClassifierId) + ids[0]));
  CHECK(store.get(Cf::kState, std::string(state_keys::kClassifierId) + ids[149]));
  // The pruned examples' learning stays in the saved model.
  Classifier again(o);
  REQUIRE(again.load(store));
  CHECK(again.stats()[0].find("0 spam and 150 ham") != std::string::npos);
}

TEST_CASE("classifier: the config section, with errors at file:line:col", "[classifier][config]") {
  const std::string base =
      "homeserver:\n  url: \"http://127.0.0.1:8008\"\n  server_name: localhost\n"
      "appservice:\n  as_token: as_secret_for_tests_0123456789abcd\n"
      "  hs_token: hs_secret_for_tests_0123456789abcd\n"
      "management:\n  room: \"#tyr-admin:localhost\"\n  operators: [\"@alice:localhost\"]\n"
      "data_dir: /tmp/tyr-classifier-config\n";
  auto cfg = load_config_string(base +
                                    "classifier:\n  scope: room\n  min_spam: 5\n  spam_score: "
                                    "6.5\n  ham_after_seconds: 60\n  ham_sample: 0.5\n",
                                "tyr.yaml");
  CHECK(cfg.classifier.per_room);
  CHECK(cfg.classifier.min_spam == 5);
  CHECK(cfg.classifier.spam_score == 6.5);
  CHECK(cfg.classifier.ham_after_ms == 60'000);
  CHECK(cfg.classifier.ham_sample == 0.5);
  CHECK_THROWS_WITH(
      load_config_string(base + "classifier:\n  ham_sample: 2\n", "tyr.yaml"),
      Catch::Contains("tyr.yaml:12:15: key 'classifier.ham_sample': must be between"));
  CHECK_THROWS_WITH(load_config_string(base + "classifier:\n  scope: city\n", "tyr.yaml"),
                    Catch::Contains("key 'classifier.scope': expected 'global' or 'room'"));
  CHECK_THROWS_WITH(load_config_string(base + "classifier:\n  spam_score: '7'\n", "tyr.yaml"),
                    Catch::Contains("key 'classifier.spam_score': expected a number"));
  CHECK_THROWS_WITH(load_config_string(base + "classifier:\n  colour: red\n", "tyr.yaml"),
                    Catch::Contains("colour"));
}

TEST_CASE("classifier: a model directory for the offline tools", "[classifier]") {
  TempDir dir;
  CHECK_FALSE(load_model_dir(dir.path() / "none"));
  REQUIRE(load_model_dir(dir.path() / "none", /*missing_ok=*/true));
  Model m;
  Tokenizer tok;
  TokenList tokens;
  tok.tokenize("free prize", tokens);
  m.learn(tokens.hashes(), true);
  REQUIRE(save_model_dir(dir.path() / "m", m));
  auto back = load_model_dir(dir.path() / "m");
  REQUIRE(back);
  CHECK(back->spam_count() == 1);
}
