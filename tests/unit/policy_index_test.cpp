// PolicyIndex: literal, glob and hashed rules, deltas and built tables, a differential run
// against glob_matches, and readers beside a writer.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <re2/re2.h>

#include "engine/core/digest.hpp"
#include "engine/core/glob.hpp"
#include "engine/policy/policy_index.hpp"
#include "engine/policy/policy_list.hpp"
#include "engine/policy/policy_rule.hpp"
#include "tests/unit/policy_fixtures.hpp"

using namespace tyr::test;  // policy_fixtures.hpp: tyr::engine::policy and the core glob helpers
                            // too

// ---------------------------------------------------------------------------------------------
// PolicyIndex

TEST_CASE("policy: literal entities match case-insensitively, globs as ACLs", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kUser, "lit", "@Spammer:Example.org")),
               add(make_rule(EntityKind::kUser, "glob", "@spam*:example.org")),
               add(make_rule(EntityKind::kUser, "q", "@???:example.org")),
               add(make_rule(EntityKind::kUser, "upper", "@BOT-*:EVIL.EXAMPLE")),
               add(make_rule(EntityKind::kRoom, "room", "#spam-*:example.org")),
               add(make_rule(EntityKind::kRoom, "roomid", "!AbC:example.org"))});
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kUser, "@spammer:example.org") == Keys{"glob", "lit"});
  CHECK(hits(index, EntityKind::kUser, "@SPAMMER:EXAMPLE.ORG") == Keys{"glob", "lit"});
  CHECK(hits(index, EntityKind::kUser, "@spam:example.org") == Keys{"glob"});
  CHECK(hits(index, EntityKind::kUser, "@bob:example.org") == Keys{"q"});
  CHECK(hits(index, EntityKind::kUser, "@bo:example.org").empty());
  CHECK(hits(index, EntityKind::kUser, "@bot-1:evil.example") == Keys{"upper"});
  CHECK(hits(index, EntityKind::kUser, "x@spammer:example.org").empty());  // whole string
  CHECK(hits(index, EntityKind::kUser, "@spammer:example.org.").empty());
  CHECK(hits(index, EntityKind::kRoom, "#SPAM-room:example.org") == Keys{"room"});
  CHECK(hits(index, EntityKind::kRoom, "!abc:example.org") == Keys{"roomid"});
  CHECK(hits(index, EntityKind::kServer, "example.org").empty());  // kinds are separate
}

TEST_CASE("policy: ? is one code point, never a newline", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kUser, "one", "@?:x")),
               add(make_rule(EntityKind::kUser, "two", "@??:x")),
               add(make_rule(EntityKind::kUser, "star", "@a*b:x"))});
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kUser, "@é:x") == Keys{"one"});
  CHECK(hits(index, EntityKind::kUser, "@😀:x") == Keys{"one"});
  CHECK(hits(index, EntityKind::kUser, "@ab:x") == Keys{"star", "two"});
  CHECK(hits(index, EntityKind::kUser, "@éé:x") == Keys{"two"});
  CHECK(hits(index, EntityKind::kUser, "@\n:x").empty());
  CHECK(hits(index, EntityKind::kUser, "@a\nb:x").empty());
  CHECK(hits(index, EntityKind::kUser, "@aéb:x") == Keys{"star"});
  for (std::string_view input : {"@é:x", "@😀:x", "@\n:x", "@a\nb:x", "@aéb:x"}) {
    CHECK(glob_matches("@?:x", input) == (hits(index, EntityKind::kUser, input) == Keys{"one"}));
  }
}

TEST_CASE("policy: non-ASCII case folding follows glob_matches", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kUser, "kelvin",
                             "@\xE2\x84\xAA"
                             "en:x")),  // U+212A
               add(make_rule(EntityKind::kUser, "ascii-k", "@kim:x")),
               add(make_rule(EntityKind::kUser, "eacute", "@ÉLODIE:x")),
               add(make_rule(EntityKind::kUser, "sigma", "@Σ*:x")),
               add(make_rule(EntityKind::kUser, "longs", "@ſam*"))});
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kUser, "@ken:x") == Keys{"kelvin"});
  CHECK(hits(index, EntityKind::kUser, "@KEN:x") == Keys{"kelvin"});
  CHECK(hits(index, EntityKind::kUser, "@\xE2\x84\xAAim:x") == Keys{"ascii-k"});
  CHECK(hits(index, EntityKind::kUser, "@élodie:x") == Keys{"eacute"});
  CHECK(hits(index, EntityKind::kUser, "@σα:x") == Keys{"sigma"});
  CHECK(hits(index, EntityKind::kUser, "@ςα:x") == Keys{"sigma"});
  CHECK(hits(index, EntityKind::kUser, "@SAM:y") == Keys{"longs"});
  CHECK(hits(index, EntityKind::kUser, "@ſAM:y") == Keys{"longs"});
  for (auto [glob, input] :
       std::vector<std::pair<std::string, std::string>>{{"@\xE2\x84\xAA"
                                                         "en:x",
                                                         "@ken:x"},
                                                        {"@kim:x", "@\xE2\x84\xAAim:x"},
                                                        {"@ÉLODIE:x", "@élodie:x"},
                                                        {"@Σ*:x", "@ςα:x"},
                                                        {"@ſam*", "@SAM:y"}}) {
    CHECK(glob_matches(glob, input));
  }
}

TEST_CASE("policy: server rules match the server name without its port", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kServer, "lit", "evil.example")),
               add(make_rule(EntityKind::kServer, "glob", "*.bad.example")),
               add(make_rule(EntityKind::kServer, "ip", "1.2.3.4")),
               add(make_rule(EntityKind::kServer, "ipglob", "10.0.0.*")),
               add(make_rule(EntityKind::kServer, "v6", "[::1]")),
               add(make_rule(EntityKind::kUser, "user", "@mallory:*"))});
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kServer, "evil.example:8448") == Keys{"lit"});
  CHECK(hits(index, EntityKind::kServer, "EVIL.example") == Keys{"lit"});
  CHECK(hits(index, EntityKind::kServer, "a.b.bad.example:443") == Keys{"glob"});
  CHECK(hits(index, EntityKind::kServer, "bad.example").empty());
  CHECK(hits(index, EntityKind::kServer, "[::1]") == Keys{"v6"});
  CHECK(hits(index, EntityKind::kServer, "[::1]:8448") == Keys{"v6"});
  // IP-literal look-alikes are names: no special casing, `.` is literal.
  CHECK(is_ip_literal("1.2.3.4"));
  CHECK_FALSE(is_ip_literal("1.2.3.4.example.org"));
  CHECK(hits(index, EntityKind::kServer, "1.2.3.4") == Keys{"ip"});
  CHECK(hits(index, EntityKind::kServer, "1.2.3.4:8448") == Keys{"ip"});
  CHECK(hits(index, EntityKind::kServer, "1.2.3.4.example.org").empty());
  CHECK(hits(index, EntityKind::kServer, "1x2x3x4").empty());
  CHECK(hits(index, EntityKind::kServer, "10.0.0.7.example.org") == Keys{"ipglob"});

  CHECK(user_hits(index, "@alice:evil.example:8448") == Keys{"lit"});
  CHECK(user_hits(index, "@mallory:x.bad.example") == Keys{"glob", "user"});
  CHECK(user_hits(index, "@alice:good.example").empty());
  CHECK(user_hits(index, "@alice:[::1]:8448") == Keys{"v6"});
}

TEST_CASE("policy: regex metacharacters in entities are literal", "[policy]") {
  PolicyIndex index;
  const std::vector<std::string> entities = {"a+b.example", "(x)|y", "[abc]",   "\\d",     "^a$",
                                             "a{2}",        "a.b*",  "\\Q*\\E", "#room:x?"};
  std::vector<ListDiff> diffs;
  for (const auto& e : entities) diffs.push_back(add(make_rule(EntityKind::kRoom, e, e)));
  index.apply(diffs);
  DELTA_AND_BUILT(index)
  CHECK(hits(index, EntityKind::kRoom, "a+b.example") == Keys{"a+b.example"});
  CHECK(hits(index, EntityKind::kRoom, "aab.example").empty());
  CHECK(hits(index, EntityKind::kRoom, "a+bxexample").empty());
  CHECK(hits(index, EntityKind::kRoom, "(x)|y") == Keys{"(x)|y"});
  CHECK(hits(index, EntityKind::kRoom, "y").empty());
  CHECK(hits(index, EntityKind::kRoom, "x").empty());
  CHECK(hits(index, EntityKind::kRoom, "[abc]") == Keys{"[abc]"});
  CHECK(hits(index, EntityKind::kRoom, "a").empty());
  CHECK(hits(index, EntityKind::kRoom, "\\d") == Keys{"\\d"});
  CHECK(hits(index, EntityKind::kRoom, "7").empty());
  CHECK(hits(index, EntityKind::kRoom, "^a$") == Keys{"^a$"});
  CHECK(hits(index, EntityKind::kRoom, "a{2}") == Keys{"a{2}"});
  CHECK(hits(index, EntityKind::kRoom, "aa").empty());
  CHECK(hits(index, EntityKind::kRoom, "a.bbb") == Keys{"a.b*"});
  CHECK(hits(index, EntityKind::kRoom, "axb").empty());
  CHECK(hits(index, EntityKind::kRoom, "\\Qanything\\E") == Keys{"\\Q*\\E"});
  CHECK(hits(index, EntityKind::kRoom, "#room:x1") == Keys{"#room:x?"});
}

TEST_CASE("policy: hashed user and server rules", "[policy]") {
  PolicyIndex index;
  PolicyRule user = make_rule(EntityKind::kUser, "h-user", "");
  user.sha256 = kYarrgh;
  index.apply({add(user), add(hashed_rule(EntityKind::kServer, "h-server", "evil.example")),
               add(hashed_rule(EntityKind::kRoom, "h-room", "!secret:example.org"))});
  DELTA_AND_BUILT(index)
  CHECK(index.stats().hashes == 3);
  CHECK(hits(index, EntityKind::kUser, "@yarrgh:example.com") == Keys{"h-user"});
  CHECK(hits(index, EntityKind::kUser, "@Yarrgh:example.com").empty());  // exact bytes
  CHECK(user_hits(index, "@yarrgh:example.com") == Keys{"h-user"});
  CHECK(user_hits(index, "@anyone:evil.example:8448") == Keys{"h-server"});
  CHECK(hits(index, EntityKind::kServer, "evil.example") == Keys{"h-server"});
  CHECK(hits(index, EntityKind::kRoom, "!secret:example.org") == Keys{"h-room"});
  CHECK(hits(index, EntityKind::kRoom, "!secret:example.org ").empty());

  // A rule the parser would reject never matches and is counted as such.
  PolicyRule broken = make_rule(EntityKind::kUser, "bad", "");
  broken.sha256 = "nope";
  index.apply(add(broken));
  CHECK(index.stats().unmatchable == 1);
}

TEST_CASE("policy: diffs, replace_list and remove_list update the index", "[policy]") {
  PolicyIndex index;
  const std::string other = "!other:example.org";
  index.apply({add(make_rule(EntityKind::kUser, "a", "@a:x")),
               add(make_rule(EntityKind::kUser, "g", "@g*:x")),
               add(make_rule(EntityKind::kUser, "b", "@a:x", other))});
  CHECK(hits(index, EntityKind::kUser, "@a:x") == Keys{"a", "b"});

  // Explaining: each hit names its list, key, entity, recommendation and reason.
  {
    auto snap = index.snapshot();
    std::vector<PolicyRuleRef> out;
    snap->match(EntityKind::kUser, "@a:x", out);
    REQUIRE(out.size() == 2);
    std::set<std::string> lists;
    for (PolicyRuleRef r : out) {
      lists.insert(r->list);
      CHECK(r->entity == "@a:x");
      CHECK(r->recommendation == Recommendation::kBan);
      CHECK(r->reason == "spam");
    }
    CHECK(lists == std::set<std::string>{kList, other});
  }

  index.apply(remove(make_rule(EntityKind::kUser, "a", "@a:x")));
  CHECK(hits(index, EntityKind::kUser, "@a:x") == Keys{"b"});
  index.apply(ListDiff{make_rule(EntityKind::kUser, "g", "@g*:x"),
                       make_rule(EntityKind::kUser, "g", "@h*:x")});
  CHECK(hits(index, EntityKind::kUser, "@gg:x").empty());
  CHECK(hits(index, EntityKind::kUser, "@hh:x") == Keys{"g"});

  // Unknown recommendations are held but never matched.
  index.apply(
      add(make_rule(EntityKind::kUser, "allow", "@allowed:x", kList, "org.matrix.mjolnir.allow")));
  CHECK(hits(index, EntityKind::kUser, "@allowed:x").empty());
  CHECK(index.stats().unknown == 1);

  index.replace_list(kList, {make_rule(EntityKind::kUser, "n", "@new:x"),
                             make_rule(EntityKind::kServer, "s", "*.evil.example")});
  CHECK(hits(index, EntityKind::kUser, "@hh:x").empty());
  CHECK(hits(index, EntityKind::kUser, "@new:x") == Keys{"n"});
  CHECK(user_hits(index, "@x:a.evil.example") == Keys{"s"});
  CHECK(hits(index, EntityKind::kUser, "@a:x") == Keys{"b"});
  CHECK(index.stats().unknown == 0);
  const auto before = index.stats().version;
  index.replace_list(kList, {make_rule(EntityKind::kUser, "n", "@new:x"),
                             make_rule(EntityKind::kServer, "s", "*.evil.example")});
  CHECK(index.stats().version == before);  // unchanged list: nothing published

  index.remove_list(other);
  CHECK(hits(index, EntityKind::kUser, "@a:x").empty());
  index.remove_list(kList);
  CHECK(hits(index, EntityKind::kUser, "@new:x").empty());
  auto stats = index.stats();
  CHECK(stats.rules == std::array<size_t, kEntityKinds>{0, 0, 0});
  CHECK(stats.literals + stats.globs + stats.hashes == 0);
}

TEST_CASE("policy: deltas merge into the built tables past the limits", "[policy]") {
  PolicyIndexOptions options;
  options.max_delta_globs = 4;
  options.max_delta_entries = 4;
  PolicyIndex index(options);
  for (int i = 0; i < 4; ++i) {
    index.apply(add(make_rule(EntityKind::kServer, "g" + std::to_string(i),
                              "*.bad-" + std::to_string(i) + ".example")));
  }
  auto stats = index.stats();
  CHECK(stats.delta == 4);
  CHECK(stats.hyperscan_factors == 0);
  const auto rebuilds = stats.rebuilds;
  index.apply(add(make_rule(EntityKind::kServer, "g4", "*.bad-4.example")));
  stats = index.stats();
  CHECK(stats.delta == 0);
  CHECK(stats.rebuilds == rebuilds + 1);
  CHECK(stats.anchored_globs == 5);  // suffix globs: found by a hash of their suffix
  CHECK(stats.hyperscan_factors == 0);
  for (int i = 0; i < 5; ++i) {
    CHECK(hits(index, EntityKind::kServer, "x.bad-" + std::to_string(i) + ".example") ==
          Keys{"g" + std::to_string(i)});
  }
  // Removals from a built table are tombstones until there are too many.
  for (int i = 0; i < 4; ++i) {
    index.apply(remove(make_rule(EntityKind::kServer, "g" + std::to_string(i), "")));
    CHECK(hits(index, EntityKind::kServer, "x.bad-" + std::to_string(i) + ".example").empty());
  }
  stats = index.stats();
  CHECK(stats.tombstones == 4);
  index.apply(add(make_rule(EntityKind::kServer, "late", "late.example")));
  index.compact();
  stats = index.stats();
  CHECK(stats.tombstones == 0);
  CHECK(stats.delta == 0);
  CHECK(stats.anchored_globs == 1);
  CHECK(hits(index, EntityKind::kServer, "y.bad-4.example") == Keys{"g4"});
  CHECK(hits(index, EntityKind::kServer, "late.example") == Keys{"late"});
  CHECK(hits(index, EntityKind::kServer, "x.bad-0.example").empty());
}

TEST_CASE("policy: input RE2 cannot read as UTF-8 matches what glob_matches says", "[policy]") {
  PolicyIndex index;
  index.apply({add(make_rule(EntityKind::kRoom, "star", "*")),
               add(make_rule(EntityKind::kRoom, "q", "?")),
               add(make_rule(EntityKind::kRoom, "aq", "a?")),
               add(make_rule(EntityKind::kRoom, "uq", "é?"))});
  const std::vector<std::pair<std::string, std::string>> globs = {
      {"*", "star"}, {"?", "q"}, {"a?", "aq"}, {"é?", "uq"}};
  const std::vector<std::string> conts = {
      "", std::string(1, '\0'), "\x7F", "\x80", "\xBF", "\xC0", "\xFF"};
  std::vector<std::string> inputs;
  for (int lead = 0x80; lead <= 0xFF; ++lead) {
    for (const auto& c1 : conts) {
      for (const std::string c2 : {"", "\x80\x80", "\xBF"}) {
        inputs.push_back(std::string(1, static_cast<char>(lead)) + c1 + c2);
      }
    }
  }
  size_t matched = 0;
  for (const std::string& base : inputs) {
    for (const std::string& input : {base, "a" + base, "é" + base}) {
      Keys expected;
      for (const auto& [glob, key] : globs) {
        if (glob_matches(glob, input)) expected.push_back(key);
      }
      std::sort(expected.begin(), expected.end());
      matched += expected.size();
      INFO(Catch::Detail::stringify(input));
      CHECK(hits(index, EntityKind::kRoom, input) == expected);
    }
  }
  CHECK(matched > 100);  // RE2 reads overlong E0/F0 forms and surrogates as characters
}

// ---------------------------------------------------------------------------------------------
// Differential: the index against the reference matcher.

namespace {

// The regex glob_matches builds, compiled once per pattern (glob_matches compiles per call,
// which would make 4 million comparisons take minutes). Checked against glob_matches below.
struct Reference {
  std::string entity;
  std::unique_ptr<RE2> re;
  explicit Reference(std::string e) : entity(std::move(e)) {
    RE2::Options options;
    options.set_case_sensitive(false);
    options.set_log_errors(false);
    re = std::make_unique<RE2>(glob_to_regex_body(entity), options);
  }
  bool matches(std::string_view text) const {
    return re->ok() && RE2::FullMatch(re2::StringPiece(text.data(), text.size()), *re);
  }
};

struct Corpus {
  std::vector<std::string> patterns;
  std::vector<std::string> inputs;
};

Corpus make_corpus(size_t n_patterns, size_t n_inputs, uint32_t seed, size_t max_len = 8) {
  std::mt19937 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  // Few distinct letters so that random globs and inputs meet often.
  const std::vector<std::string> ascii = {"a",  "b", "A", "B", "k", "K", "s", "S", ".",
                                          ":",  "@", "-", "+", "(", ")", "|", "[", "]",
                                          "\\", "^", "$", "{", "}", "1", "#", "!", " "};
  const std::vector<std::string> unicode = {
      "é", "É", "ß", "ẞ", "\xE2\x84\xAA", "ſ", "σ", "ς", "Σ", "ǅ", "ǆ", "İ",
      "ı", "😀", "Ω", "ω", "\xE2\x84\xA6"};
  auto atom = [&](bool allow_unicode) -> std::string {
    const size_t r = pick(100);
    if (allow_unicode && r < 12) return unicode[pick(unicode.size())];
    if (r == 12) return "\n";
    return ascii[pick(ascii.size())];
  };
  Corpus c;
  for (size_t i = 0; i < n_patterns; ++i) {
    const bool uni = pick(100) < 15;
    const size_t len = 1 + pick(max_len);
    std::string p;
    for (size_t j = 0; j < len; ++j) {
      const size_t r = pick(100);
      if (r < 15)
        p += "*";
      else if (r < 28)
        p += "?";
      else
        p += atom(uni);
    }
    if (pick(100) == 0) p.insert(pick(p.size() + 1), 1, '\xC3');  // broken UTF-8: never matches
    c.patterns.push_back(p);
  }
  for (size_t i = 0; i < n_inputs; ++i) {
    std::string s;
    if (pick(2) == 0) {
      // Instantiate a pattern: wildcards become random text, letters may change case.
      for (char ch : c.patterns[pick(c.patterns.size())]) {
        if (ch == '*') {
          for (size_t n = pick(3); n > 0; --n) s += atom(true);
        } else if (ch == '?') {
          s += atom(true);
        } else if (std::isalpha(static_cast<unsigned char>(ch)) && pick(2) == 0) {
          s += static_cast<char>(ch ^ 0x20);
        } else {
          s += ch;
        }
      }
    } else {
      for (size_t n = pick(9); n > 0; --n) s += atom(true);
    }
    if (pick(100) < 2) s.insert(pick(s.size() + 1), 1, '\xC3');  // broken UTF-8
    c.inputs.push_back(s);
  }
  return c;
}

// Matches every input in the index and in the reference; returns the number of mismatches.
size_t differ(const PolicyIndex& index, const std::vector<Reference>& live,
              const std::vector<std::string>& inputs, size_t* total_hits) {
  size_t mismatches = 0;
  auto snap = index.snapshot();
  for (const std::string& input : inputs) {
    Keys expected;
    for (size_t i = 0; i < live.size(); ++i) {
      if (live[i].matches(input)) expected.push_back(std::to_string(i));
    }
    std::sort(expected.begin(), expected.end());
    std::vector<PolicyRuleRef> out;
    snap->match(EntityKind::kRoom, input, out);
    const Keys got = sorted_keys(out);
    *total_hits += expected.size();
    if (got != expected) {
      if (++mismatches <= 5) {
        UNSCOPED_INFO("input " << Catch::Detail::stringify(input) << ": index " << got.size()
                               << " rules, reference " << expected.size());
      }
    }
  }
  return mismatches;
}

}  // namespace

TEST_CASE("policy: index agrees with glob_matches on random globs and entities", "[policy]") {
  const Corpus corpus = make_corpus(2000, 2000, 20240611);
  std::vector<Reference> refs;
  std::vector<PolicyRule> rules;
  for (size_t i = 0; i < corpus.patterns.size(); ++i) {
    refs.emplace_back(corpus.patterns[i]);
    rules.push_back(make_rule(EntityKind::kRoom, std::to_string(i), corpus.patterns[i]));
  }

  // The precompiled reference is glob_matches.
  std::mt19937 rng(7);
  for (int n = 0; n < 3000; ++n) {
    const auto& ref = refs[rng() % refs.size()];
    const auto& input = corpus.inputs[rng() % corpus.inputs.size()];
    REQUIRE(ref.matches(input) == glob_matches(ref.entity, input));
  }

  size_t total_hits = 0;
  SECTION("built tables (Hyperscan, RE2::Set)") {
    PolicyIndex index;
    index.replace_list(kList, rules);
    index.compact();  // the literals fit in a delta: build them too
    CHECK(index.stats().delta == 0);
    CHECK(index.stats().hyperscan_factors > 0);
    CHECK(differ(index, refs, corpus.inputs, &total_hits) == 0);
  }
  SECTION("everything in the delta (linear matching)") {
    PolicyIndexOptions options;
    options.max_delta_globs = 100000;
    options.max_delta_entries = 100000;
    PolicyIndex index(options);
    std::vector<ListDiff> diffs;
    for (const auto& r : rules) diffs.push_back(add(r));
    index.apply(diffs);
    CHECK(index.stats().hyperscan_factors == 0);
    CHECK(differ(index, refs, corpus.inputs, &total_hits) == 0);
  }
  SECTION("built, then half removed (tombstones) and re-added (delta)") {
    PolicyIndexOptions options;
    options.max_delta_globs = 5000;
    options.max_delta_entries = 5000;
    PolicyIndex index(options);
    index.replace_list(kList, rules);
    index.compact();
    std::vector<ListDiff> diffs;
    std::vector<Reference> live;
    for (size_t i = 0; i < rules.size(); ++i) {
      if (i % 2 == 0) {
        diffs.push_back(remove(rules[i]));
        live.emplace_back("");  // index i removed: nothing matches "" but ""
      } else {
        live.emplace_back(corpus.patterns[i]);
      }
    }
    for (size_t i = 0; i < rules.size(); i += 4) {  // a quarter comes back in the delta
      diffs.push_back(add(rules[i]));
      live[i] = Reference(corpus.patterns[i]);
    }
    index.apply(diffs);
    CHECK(index.stats().tombstones > 0);
    CHECK(index.stats().delta > 0);
    std::vector<std::string> inputs = corpus.inputs;
    inputs.erase(std::remove(inputs.begin(), inputs.end(), ""), inputs.end());
    CHECK(differ(index, live, inputs, &total_hits) == 0);
  }
  CHECK(total_hits > 1000);  // the corpus really exercises matches
}

// ---------------------------------------------------------------------------------------------
// Concurrency

TEST_CASE("policy: anchored and factored globs agree with glob_matches", "[policy]") {
  // Longer patterns: many have a literal prefix or suffix long enough to be anchored, and some
  // anchor lengths are too rare to get a probe of their own.
  const Corpus corpus = make_corpus(3000, 3000, 20261207, 24);
  std::vector<Reference> refs;
  std::vector<PolicyRule> rules;
  for (size_t i = 0; i < corpus.patterns.size(); ++i) {
    refs.emplace_back(corpus.patterns[i]);
    rules.push_back(make_rule(EntityKind::kRoom, std::to_string(i), corpus.patterns[i]));
  }
  PolicyIndex index;
  index.replace_list(kList, rules);
  index.compact();
  CHECK(index.stats().anchored_globs > 0);
  CHECK(index.stats().hyperscan_factors > 0);
  size_t total_hits = 0;
  CHECK(differ(index, refs, corpus.inputs, &total_hits) == 0);
  CHECK(total_hits > 0);
}

TEST_CASE("policy: readers match while a writer applies diffs", "[policy]") {
  PolicyIndexOptions options;
  options.max_delta_globs = 8;  // forces frequent rebuilds
  options.max_delta_entries = 8;
  PolicyIndex index(options);
  index.replace_list(kList, {make_rule(EntityKind::kUser, "pinned", "@pinned:*"),
                             make_rule(EntityKind::kServer, "pinned-server", "stays.example")});
  std::atomic<bool> done{false};
  std::atomic<size_t> failures{0};
  std::atomic<size_t> lookups{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::vector<PolicyRuleRef> out;
      size_t i = 0;
      while (!done.load(std::memory_order_relaxed) || i < 200) {
        auto snap = index.snapshot();
        out.clear();
        const std::string n = std::to_string((i * 7 + t) % 64);
        snap->match_user("@pinned:host-" + n + ".stays.example", out);
        bool pinned = false;
        for (PolicyRuleRef r : out) {
          if (r->state_key == "pinned") pinned = true;
          if (r->entity.empty() && r->sha256.empty()) ++failures;  // a dangling rule
        }
        if (!pinned) ++failures;
        out.clear();
        snap->match_user("@u" + n + ":evil-" + n + ".example:8448", out);
        for (PolicyRuleRef r : out) {
          if (r->list != kList) ++failures;
        }
        ++i;
        ++lookups;
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    const std::string n = std::to_string(i % 64);
    PolicyRule glob = make_rule(EntityKind::kServer, "g" + n, "*.evil-" + n + ".example");
    PolicyRule lit = make_rule(EntityKind::kUser, "l" + n, "@u" + n + ":evil-" + n + ".example");
    if (i % 3 == 2) {
      index.apply({remove(glob), remove(lit)});
    } else {
      index.apply({add(glob), add(lit)});
    }
  }
  done = true;
  for (auto& r : readers) r.join();
  CHECK(failures.load() == 0);
  CHECK(lookups.load() >= 800);
  CHECK(index.stats().rebuilds > 10);
}
