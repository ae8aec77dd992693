// engine/classifier: the tokenizer's features, the model's learning, bounds and stored form.

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/classifier/model.hpp"
#include "engine/classifier/tokenizer.hpp"
#include "engine/core/text.hpp"

using namespace tyr::engine::classifier;

namespace {

std::set<std::string> names(std::string_view text, size_t pair_window = 0) {
  Tokenizer tok(pair_window);
  TokenList tokens;
  tok.tokenize(text, tokens);
  std::set<std::string> out;
  for (FeatureHash h : tokens.hashes()) out.insert(tokens.describe(h, text));
  return out;
}

std::vector<FeatureHash> features(std::string_view text) {
  Tokenizer tok;
  TokenList tokens;
  tok.tokenize(text, tokens);
  return {tokens.hashes().begin(), tokens.hashes().end()};
}

// Whether a cut at s[i] leaves every well-formed code point whole (a stray continuation byte
// is no code point and may be cut before).
bool boundary(std::string_view s, size_t i) {
  for (size_t k = i >= 3 ? i - 3 : 0; k < i; ++k) {
    if (tyr::utf8_sequence_length(s, k) > i - k) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("classifier tokenizer: words are lower-cased, also outside ASCII", "[classifier]") {
  CHECK(features("PRIZE") == features("prize"));
  CHECK(features("Prize!") == features("prize"));
  const auto u = names("ÉTÉ Привет ΣΟΦΙΑ");
  CHECK(u.count("été"));
  CHECK(u.count("привет"));
  CHECK(u.count("σοφια"));
  const auto n = names("Don’t WIN a Prize, 日本");
  CHECK(n.count("don't"));
  CHECK(n.count("win"));
  CHECK(n.count("prize"));
  CHECK(n.count("日"));
  CHECK(n.count("本"));
  CHECK(n.count("capitals 20-40%"));
  CHECK(n.count("0 links"));
  CHECK(n.count("length 16-31"));
  // Pairs only when asked for: OSB with the distance in the hash.
  CHECK_FALSE(n.count("win a"));
  const auto p = names("claim your free prize right now", 4);
  CHECK(p.count("claim your"));
  CHECK(p.count("claim … prize"));
  CHECK(p.count("claim … right"));
  CHECK_FALSE(p.count("claim … now"));  // five words apart
}

TEST_CASE("classifier tokenizer: hostile UTF-8 never splits a code point", "[classifier]") {
  const std::vector<std::string> pieces = {"a",
                                           "Z",
                                           "é",
                                           "€",
                                           "😀",
                                           "日",
                                           " ",
                                           ".",
                                           "1",
                                           "'",
                                           "\xE2\x82",
                                           "\xF0\x9F",
                                           "\x80",
                                           "\xFF",
                                           "\xC0\xAF",
                                           "http://",
                                           "www.",
                                           "£",
                                           "\xED\xA0\x80",
                                           "\xE2\x80\x99"};
  std::mt19937 rng(14);
  Tokenizer tok(4);
  TokenList tokens;
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) text += pieces[rng() % pieces.size()];
    tok.tokenize(text, tokens);
    std::set<FeatureHash> distinct(tokens.hashes().begin(), tokens.hashes().end());
    REQUIRE(distinct.size() == tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      const TokenOrigin& o = tokens.origin(i);
      INFO(tyr::escape_untrusted(text, 400) << " token " << i);
      REQUIRE(o.a_begin <= o.a_end);
      REQUIRE(o.a_end <= text.size());
      REQUIRE(boundary(text, o.a_begin));
      REQUIRE(boundary(text, o.a_end));
      if (o.kind == TokenKind::kPair) {
        REQUIRE(o.b_end <= text.size());
        REQUIRE(boundary(text, o.b_begin));
        REQUIRE(boundary(text, o.b_end));
      }
      REQUIRE(tyr::is_valid_utf8(tokens.describe(tokens.hashes()[i], text)));
    }
  }
  // A cut multi-byte sequence at the very end, and a body of nothing but junk.
  CHECK(names("abc\xE2\x82").count("abc"));
  tok.tokenize(std::string(5000, '\xFF'), tokens);
  CHECK(tokens.size() == 2);  // "0 links", "length 512+"
  CHECK(names(std::string(100000, 'a') + " b").count("long word"));
}

TEST_CASE("classifier tokenizer: URL hosts, registrable domains and TLDs", "[classifier]") {
  const auto a = names("check https://GitHub.com/element-hq/synapse/pull/18123 for the fix");
  CHECK(a.count("domain:github.com"));
  CHECK(a.count("tld:com"));
  CHECK(a.count("1 link"));
  CHECK(a.count("synapse"));  // the path is read as words
  CHECK_FALSE(a.count("github"));
  const auto b = names("go to www.getzed.co.uk or http://x.y.example.co.uk:8080/a now");
  CHECK(b.count("host:www.getzed.co.uk"));
  CHECK(b.count("domain:getzed.co.uk"));
  CHECK(b.count("host:x.y.example.co.uk"));
  CHECK(b.count("domain:example.co.uk"));
  CHECK(b.count("tld:uk"));
  CHECK(b.count("2 links"));
  CHECK(names("see bit.ly/3xYz and t.co").count("domain:bit.ly"));
  CHECK(names("see bit.ly/3xYz and t.co").count("domain:t.co"));
  const auto none = names("meet at 3.30pm, e.g. the U.S. office; mail me@example.org");
  CHECK(none.count("0 links"));
  CHECK(names("http://a.com http://b.com http://c.com http://d.com").count("3+ links"));
}

TEST_CASE("classifier tokenizer: number shapes, phones and money", "[classifier]") {
  const auto a = names("call me on 07712 345678 when you land");
  CHECK(a.count("#####"));
  CHECK(a.count("######"));
  CHECK(a.count("07712"));
  CHECK(a.count("phone number (11 digits)"));
  const auto b = names("Meeting moved to 3pm, dial-in +44 20 7946 0958");
  CHECK(b.count("#pm"));
  CHECK(b.count("phone number (12 digits)"));
  const auto c = names("WIN £1000 cash or 500$ now! 150p/msg");
  CHECK(c.count("£####"));
  CHECK(c.count("###$"));
  CHECK(c.count("money"));
  CHECK(c.count("###p"));
  // A PR number is a number, not a phone.
  CHECK_FALSE(names("see pull/18123 for the fix").count("phone number (5 digits)"));
  CHECK(features("call 0800 123 456") != features("call 0800 123 4567"));
}

TEST_CASE("classifier model: unlearn takes back exactly what learn added", "[classifier]") {
  const auto x = features("win a free prize now"), y = features("see you at lunch tomorrow");
  const auto z = features("free lunch prize at www.example.com");
  Model a, b;
  a.learn(x, true);
  a.learn(y, false);
  b.learn(x, true);
  b.learn(y, false);
  b.learn(z, true);
  CHECK(b.spam_count() == 2);
  b.unlearn(z, true);
  CHECK(b.spam_count() == a.spam_count());
  CHECK(b.ham_count() == a.ham_count());
  CHECK(b.size() == a.size());
  for (const auto& f : {x, y, z}) {
    CHECK(a.classify(f).probability == b.classify(f).probability);
  }
  // What was never learned is harmless to unlearn.
  Model empty;
  empty.unlearn(z, false);
  CHECK(empty.size() == 0);
  CHECK(empty.ham_count() == 0);
  CHECK(empty.classify(z).probability == 0.5);
}

TEST_CASE("classifier model: decay halves old evidence and drops what is left empty",
          "[classifier]") {
  Model m(ModelOptions{1000, 10});
  const std::vector<FeatureHash> common = {1, 2}, once = {3};
  m.learn(once, false);
  for (int i = 0; i < 9; ++i) m.learn(common, i % 2 == 0);
  CHECK(m.spam_count() == 5);
  CHECK(m.ham_count() == 5);  // the tenth learned message: no decay yet at 5 and 5
  for (int i = 0; i < 5; ++i) m.learn(common, true);
  // Spam reached 10: halved to 5, ham to 2; feature 3 (1 ham) is gone.
  CHECK(m.spam_count() == 5);
  CHECK(m.ham_count() == 2);
  CHECK(m.size() == 2);
  Classification c;
  m.classify(common, c, 2, ClassifyOptions{1.0, 0.5, 0.0, 150});  // f = 0.5: keep it anyway
  REQUIRE(c.clues.size() == 2);
  CHECK(c.clues[0].spam == 5);
  CHECK(c.clues[0].ham == 2);
}

TEST_CASE("classifier model: the size bound holds and evicts the weakest", "[classifier]") {
  Model m(ModelOptions{1000, 30000});
  std::mt19937_64 rng(5);
  const FeatureHash keep = 42;
  for (int i = 0; i < 500; ++i) {
    std::vector<FeatureHash> f(10);
    for (auto& h : f) h = rng();
    f[0] = keep;
    m.learn(f, i % 2 == 0);
    REQUIRE(m.size() <= 1000);
  }
  CHECK(m.size() == 1000);
  CHECK(m.memory_bytes() <= 16 * 1000 * 10 / 7 + 16 + sizeof(Model));
  Classification c;
  m.classify(std::vector<FeatureHash>{keep}, c, 1, ClassifyOptions{1.0, 0.5, 0.0, 150});
  REQUIRE(c.clues.size() == 1);
  CHECK(c.clues[0].spam + c.clues[0].ham == 500);  // in every message: never evicted

  // 10^6 features fit in 32 MB.
  Model big;
  std::vector<FeatureHash> f(50);
  for (int i = 0; i < 22000; ++i) {
    for (auto& h : f) h = rng();
    big.learn(f, i % 2 == 0);
  }
  CHECK(big.size() == 1'000'000);
  CHECK(big.memory_bytes() <= 32'000'000);
}

TEST_CASE("classifier model: serialisation round trip", "[classifier]") {
  Model m(ModelOptions{5000, 1000});
  for (const char* s : {"free prize now", "claim your free crypto", "lunch at noon?"}) {
    m.learn(features(s), std::string_view(s).find("free") != std::string_view::npos);
  }
  const std::string blob = m.serialize();
  CHECK(blob.size() == 32 + 16 * m.size() + 8);
  const auto loaded = Model::deserialize(blob);
  REQUIRE(loaded.ok());
  CHECK(loaded->serialize() == blob);
  CHECK(loaded->options().max_features == 5000);
  CHECK(loaded->options().decay_at == 1000);
  CHECK(loaded->spam_count() == 2);
  CHECK(loaded->ham_count() == 1);
  const auto f = features("free crypto at noon");
  CHECK(loaded->classify(f).probability == m.classify(f).probability);
  CHECK(Model::deserialize(Model().serialize()).ok());
}

TEST_CASE("classifier model: a corrupted or truncated blob is an error", "[classifier]") {
  Model m;
  m.learn(features("free prize now"), true);
  m.learn(features("see you later"), false);
  const std::string blob = m.serialize();
  const auto message = [](std::string_view b) {
    const auto r = Model::deserialize(b);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "TYR_MODEL");
    return r.error().message;
  };
  CHECK(message("") == "classifier model: truncated: 0 bytes, the header needs 40");
  CHECK(message(std::string(64, 'x')) == "classifier model: not a classifier model");
  for (size_t n = 40; n < blob.size(); ++n) {
    CHECK(message(blob.substr(0, n)).starts_with("classifier model: truncated: "));
  }
  CHECK(message(blob + "x").starts_with("classifier model: trailing bytes: "));
  for (size_t i = 8; i < blob.size(); ++i) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    INFO("byte " << i);
    CHECK_FALSE(Model::deserialize(bad).ok());
  }
  std::string v2 = blob;
  v2[4] = 2;
  CHECK(message(v2) == "classifier model: format version 2, this build reads 1");
  std::string tok = blob;
  tok[6] = 9;
  CHECK(message(tok) ==
        "classifier model: learned with tokenizer version 9, this build's is 1; learn it again");
}

TEST_CASE("classifier model: a campaign learned from 20 examples is recognised in new words",
          "[classifier]") {
  const std::vector<std::string> openers = {"🚀 Claim", "Get", "Grab", "Don't miss", "Collect"};
  const std::vector<std::string> offers = {"your free USDT airdrop", "free USDT bonus",
                                           "the USDT airdrop reward", "500 USDT free"};
  const std::vector<std::string> ham = {"anyone up for lunch at noon?",
                                        "the build is green again, thanks",
                                        "I'll review the PR after the meeting",
                                        "see you all tomorrow",
                                        "has anyone tried the new release on arm64?",
                                        "good morning everyone",
                                        "can someone restart the bridge please",
                                        "the docs link in the topic is broken",
                                        "we moved the call to thursday",
                                        "thanks for the quick fix!",
                                        "lol that's great",
                                        "my homeserver is lagging again",
                                        "which client do you use on android?",
                                        "happy birthday Sam!",
                                        "photos from the meetup are in the shared folder",
                                        "is the room encrypted?",
                                        "I'm off for the weekend, bye",
                                        "nice work on the talk",
                                        "the weather here is awful today",
                                        "did you get my message about the invoice?"};
  Model m;
  Tokenizer tok;
  TokenList tokens;
  for (int i = 0; i < 20; ++i) {
    const std::string s = openers[i % 5] + " " + offers[i % 4] + " now at https://usdt-drop" +
                          std::to_string(i % 3) + ".xyz/c/" + std::to_string(1000 + i * 37) +
                          " - only " + std::to_string(10 + i) + " spots left!";
    tok.tokenize(s, tokens);
    m.learn(tokens.hashes(), true);
  }
  for (const auto& s : ham) {
    tok.tokenize(s, tokens);
    m.learn(tokens.hashes(), false);
  }
  CHECK(m.ready(20, 20));
  CHECK_FALSE(m.ready(21, 20));

  const std::string spam =
      "Hurry!! free USDT airdrop is live, visit usdt-drop7.xyz/bonus "
      "before the spots run out";
  tok.tokenize(spam, tokens);
  Classification c;
  m.classify(tokens.hashes(), c, 3);
  CHECK(c.probability > 0.9);
  REQUIRE(c.top().size() == 3);
  for (const Clue& clue : c.top()) {
    CHECK(clue.weight > 0);
    CHECK_FALSE(tokens.describe(clue.hash, spam).empty());  // named from the message in hand
  }
  std::set<std::string> spammy;
  for (const Clue& clue : c.clues) {
    if (clue.weight > 0) spammy.insert(tokens.describe(clue.hash, spam));
  }
  CHECK(spammy.count("usdt"));
  CHECK(spammy.count("tld:xyz"));
  CHECK(spammy.count("spots"));

  const std::string chat = "are we still meeting for lunch after the release?";
  tok.tokenize(chat, tokens);
  m.classify(tokens.hashes(), c, 3);
  CHECK(c.probability < 0.2);
}
