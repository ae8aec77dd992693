// Rule engine benchmark (not part of ctest).
//
//   tyr_rules_bench [EVENTS.jsonl] [N]   default: ../shared/data/sms-spam/train.jsonl (or a
//                                         synthetic corpus), N = 50000 events
//
// Builds a rule set of 1,000 regexes (all on `body`), 10,000 whole-word keywords (one keyword
// file), 3 rate conditions, feature and composed rules, then on ONE thread times
//   parse:  nlohmann::json::parse of each event line
//   full:   parse + score (features, one Hyperscan scan per field, rates, all rules, explain off)
//   read:   the fields scoring needs read with simdjson On-Demand (rules/event_reader.hpp), no DOM
//   read + score: the same scoring from those fields (offline scoring without a DOM); its
//           verdicts are checked against the DOM path's (score, action, every hit and match)
//   features: feature extraction alone (the cost the combiner saves by extracting once)
// and counts heap allocations per event in steady state (global operator new is replaced).
// Events cycle through the corpus with 500 senders in 50 rooms so rate state is exercised.

#include <nlohmann/json.hpp>
#include "engine/core/digest.hpp"
#include "engine/core/features.hpp"
#include "engine/policy/policy_index.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "rules/event_reader.hpp"
#include "rules/rule_set.hpp"

namespace {

size_t g_allocs = 0;

}  // namespace

// Counting replacements of the global allocation functions. GCC pairs the inlined malloc/free
// of this file with new/delete expressions and warns; the pairing is correct by construction.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(size_t n) {
  ++g_allocs;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::string word(std::mt19937& rng, size_t min_len, size_t max_len) {
  std::uniform_int_distribution<size_t> len(min_len, max_len);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::string w;
  for (size_t i = len(rng); i > 0; --i) w.push_back(static_cast<char>(letter(rng)));
  return w;
}

std::string make_rules(const fs::path& dir) {
  std::mt19937 rng(42);
  {
    std::ofstream kw(dir / "keywords.txt");
    const char* real[] = {"prize",   "claim",    "winner",  "bitcoin", "giveaway",
                          "airdrop", "ringtone", "voucher", "urgent",  "guaranteed"};
    for (const char* r : real) kw << r << "\n";
    for (int i = 10; i < 10000; ++i) kw << word(rng, 5, 10) << "\n";
  }
  std::ofstream y(dir / "bench.yaml");
  y << "thresholds: {notify: 3, redact: 6, kick: 12, ban: 20}\nrules:\n";
  y << "  - {id: kw, score: 3, when: {keywords: {file: keywords.txt}}}\n";
  for (int i = 0; i < 1000; ++i) {
    const std::string a = word(rng, 4, 7), b = word(rng, 4, 7), c = word(rng, 3, 6);
    std::string re;
    switch (i % 5) {
      case 0: re = "\\b" + a + "\\s+" + b + "\\b"; break;
      case 1: re = a + "[0-9]{3,}"; break;
      case 2: re = "(?:" + a + "|" + b + ")\\W+" + c; break;
      case 3: re = "https?://[a-z0-9.-]*" + a; break;
      default: re = a + ".{0,20}" + b; break;
    }
    y << "  - {id: re" << i << ", score: 1, when: {regex: '" << re << "'}}\n";
  }
  y << "  - {id: phone, score: 3, when: {feature: digit_run, ge: 5}}\n"
       "  - {id: caps, score: 1.5, when: {all: [{feature: uppercase_ratio, ge: 0.8}, "
       "{feature: letters, ge: 20}]}}\n"
       "  - {id: kw-link, score: 2, when: {all: [{rule: kw}, {feature: links, ge: 1}]}}\n"
       "  - {id: flood1, score: 3, when: {rate: {events: 5, seconds: 10, per: sender_in_room}}}\n"
       "  - {id: flood2, score: 9, when: {rate: {events: 10, seconds: 60, per: sender}}}\n"
       "  - {id: busy, score: 1, when: {rate: {events: 50, seconds: 10, per: room}}}\n";
  return (dir / "bench.yaml").string();
}

std::vector<std::string> make_events(const std::string& corpus, size_t n) {
  std::vector<std::string> bodies;
  std::ifstream in(corpus);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("content")) bodies.push_back(j["content"].value("body", ""));
  }
  if (bodies.empty()) {
    std::mt19937 rng(7);
    for (int i = 0; i < 1000; ++i) {
      std::string b;
      for (int w = 0; w < 15; ++w) b += word(rng, 2, 8) + " ";
      bodies.push_back(b + (i % 10 == 0 ? "WIN a prize, call 09061701461 https://bit.ly/x" : ""));
    }
  }
  std::vector<std::string> events;
  events.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    nlohmann::json ev = {{"type", "m.room.message"},
                         {"event_id", "$ev" + std::to_string(i)},
                         {"sender", "@user" + std::to_string(i % 500) + ":example.org"},
                         {"room_id", "!room" + std::to_string(i % 50) + ":example.org"},
                         {"origin_server_ts", 1700000000000 + static_cast<int64_t>(i) * 20},
                         {"content", {{"msgtype", "m.text"}, {"body", bodies[i % bodies.size()]}}}};
    events.push_back(ev.dump());
  }
  return events;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string corpus = argc > 1 ? argv[1] : "../shared/data/sms-spam/train.jsonl";
  const size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 50000;
  const fs::path dir = fs::temp_directory_path() / ("tyr_rules_bench_" + std::to_string(getpid()));
  fs::create_directories(dir);
  make_rules(dir);
  const std::vector<std::string> events = make_events(corpus, n);
  size_t bytes = 0;
  for (const auto& e : events) bytes += e.size();

  auto t0 = Clock::now();
  auto loaded = tyr::rules::load_rule_dir(dir);
  const double load_s = seconds_since(t0);
  fs::remove_all(dir);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
    return 1;
  }
  const auto& set = **loaded;
  const auto i = tyr::rules::info(set);
  std::printf("command: tyr_rules_bench %s %zu\n", corpus.c_str(), n);
  std::printf(
      "rules: %zu (1000 regexes, 10000 keywords in one list, 3 rates); %zu Hyperscan "
      "patterns, %zu RE2-confirmed, %zu RE2-only; load+compile %.2f s\n",
      i.rules, i.hyperscan_patterns, i.re2_confirmed, i.re2_only, load_s);
  std::printf("events: %zu (%.1f MB of JSON, mean %.0f bytes)\n", events.size(), bytes / 1e6,
              static_cast<double>(bytes) / static_cast<double>(events.size()));

  // Parse alone.
  size_t sink = 0;
  double parse_rate = 0;
  for (int round = 0; round < 2; ++round) {  // first round warms caches
    const size_t a0 = g_allocs;
    t0 = Clock::now();
    for (const auto& e : events) sink += nlohmann::json::parse(e).size();
    const double s = seconds_since(t0);
    if (round == 1) {
      parse_rate = static_cast<double>(events.size()) / s;
      std::printf("parse only:        %9.0f events/s  (%.2f us/event, %.1f allocations/event)\n",
                  events.size() / s, 1e6 * s / events.size(),
                  static_cast<double>(g_allocs - a0) / static_cast<double>(events.size()));
    }
  }
  // The fields scoring needs, read without a DOM.
  tyr::rules::EventReader reader;
  tyr::EventFields fields;
  double read_rate = 0;
  for (int round = 0; round < 2; ++round) {
    const size_t a0 = g_allocs;
    t0 = Clock::now();
    for (const auto& e : events) {
      int64_t ts = 0;
      if (!reader.read(e, fields, &ts)) return 1;
      sink += fields.body.size() + static_cast<size_t>(ts & 1);
    }
    const double s = seconds_since(t0);
    if (round == 1) {
      read_rate = static_cast<double>(events.size()) / s;
      std::printf(
          "read only:         %9.0f events/s  (%.2f us/event, %.1f allocations/event; "
          "simdjson On-Demand, no DOM)\n",
          events.size() / s, 1e6 * s / events.size(),
          static_cast<double>(g_allocs - a0) / static_cast<double>(events.size()));
    }
  }

  // Parse + score.
  tyr::rules::RuntimeState state;
  size_t actions[tyr::rules::kActions] = {};
  for (int round = 0; round < 2; ++round) {
    const size_t a0 = g_allocs;
    t0 = Clock::now();
    for (const auto& e : events) {
      const auto ev = nlohmann::json::parse(e);
      const auto v = tyr::rules::score(set, ev, state,
                                       ev["origin_server_ts"].get<int64_t>() + round * 3600000);
      ++actions[static_cast<int>(v.action)];
    }
    const double s = seconds_since(t0);
    if (round == 1) {
      std::printf(
          "parse + score:     %9.0f events/s  (%.2f us/event, %.1f allocations/event; "
          "%.1fx the parse's time)\n",
          events.size() / s, 1e6 * s / events.size(),
          static_cast<double>(g_allocs - a0) / static_cast<double>(events.size()),
          parse_rate * s / static_cast<double>(events.size()));
    }
  }
  // Read (no DOM) + score.
  {
    tyr::Features features;
    for (int round = 0; round < 2; ++round) {
      const size_t a0 = g_allocs;
      t0 = Clock::now();
      for (const auto& e : events) {
        int64_t ts = 0;
        if (!reader.read(e, fields, &ts)) return 1;
        tyr::extract_features(fields, {}, features);
        const auto v = tyr::rules::score(set, features, state, ts + (round + 7) * 3600000);
        sink += static_cast<size_t>(v.action);
      }
      const double s = seconds_since(t0);
      if (round == 1) {
        std::printf(
            "read + score:      %9.0f events/s  (%.2f us/event, %.1f allocations/event; "
            "%.1fx the parse's time, %.1fx the read's)\n",
            events.size() / s, 1e6 * s / events.size(),
            static_cast<double>(g_allocs - a0) / static_cast<double>(events.size()),
            parse_rate * s / static_cast<double>(events.size()),
            read_rate * s / static_cast<double>(events.size()));
      }
    }
    // Both paths, each with its own rate state from empty, must give the same verdicts.
    tyr::rules::RuntimeState dom_state, read_state;
    size_t same = 0;
    for (const auto& e : events) {
      const auto ev = nlohmann::json::parse(e);
      const int64_t ts = ev["origin_server_ts"].get<int64_t>();
      const auto a = tyr::rules::score(set, ev, dom_state, ts);
      int64_t read_ts = 0;
      if (!reader.read(e, fields, &read_ts)) return 1;
      tyr::extract_features(fields, {}, features);
      const auto b = tyr::rules::score(set, features, read_state, read_ts);
      bool equal = a.score == b.score && a.action == b.action && a.hits.size() == b.hits.size();
      for (size_t k = 0; equal && k < a.hits.size(); ++k) {
        equal = a.hits[k].rule == b.hits[k].rule && a.hits[k].match == b.hits[k].match;
      }
      same += equal ? 1 : 0;
    }
    std::printf("read + score verdicts identical to parse + score: %zu of %zu\n", same,
                events.size());
    if (same != events.size()) return 1;
  }
  // Scoring alone on pre-parsed events, to separate its allocations from the parser's.
  std::vector<nlohmann::json> parsed;
  std::vector<int64_t> ts;
  parsed.reserve(events.size());
  for (const auto& e : events) {
    parsed.push_back(nlohmann::json::parse(e));
    ts.push_back(parsed.back()["origin_server_ts"].get<int64_t>());
  }
  size_t hits = 0, hit_events = 0;
  for (int round = 0; round < 2; ++round) {
    const size_t a0 = g_allocs;
    size_t a_nohit = 0, nohit = 0;
    t0 = Clock::now();
    for (size_t k = 0; k < parsed.size(); ++k) {
      const size_t before = g_allocs;
      const auto v = tyr::rules::score(set, parsed[k], state, ts[k] + (round + 2) * 3600000);
      if (v.hits.empty()) {
        a_nohit += g_allocs - before;
        ++nohit;
      }
      if (round == 1) {
        hits += v.hits.size();
        hit_events += v.hits.empty() ? 0 : 1;
      }
    }
    const double s = seconds_since(t0);
    if (round == 1) {
      std::printf(
          "score only:        %9.0f events/s  (%.2f us/event, %.2f allocations/event; "
          "%.2f for events without hits)\n",
          parsed.size() / s, 1e6 * s / parsed.size(),
          static_cast<double>(g_allocs - a0) / static_cast<double>(parsed.size()),
          nohit == 0 ? 0.0 : static_cast<double>(a_nohit) / static_cast<double>(nohit));
    }
  }
  // Feature extraction alone: what a second extraction per event (protections re-reading the
  // event after the rules) used to cost; now the verdict combiner extracts once for both.
  {
    tyr::Features features;
    for (int round = 0; round < 2; ++round) {
      const size_t a0 = g_allocs;
      t0 = Clock::now();
      for (const auto& ev : parsed) {
        tyr::extract_features(ev, {}, features);
        sink += features.urls.size();
      }
      const double s = seconds_since(t0);
      if (round == 1) {
        std::printf(
            "features only:     %9.0f events/s  (%.2f us/event, %.2f allocations/event; "
            "saved once per event in rooms with protections)\n",
            parsed.size() / s, 1e6 * s / parsed.size(),
            static_cast<double>(g_allocs - a0) / static_cast<double>(parsed.size()));
      }
    }
  }
  // The full hot path: parse, ban lists of 10^5 rules (the sender and its server), rules with
  // a `listed:` condition answered by the same index.
  {
    tyr::engine::policy::PolicyIndex index;
    std::vector<tyr::engine::policy::PolicyRule> rules;
    auto add = [&](tyr::engine::policy::EntityKind kind, std::string entity, bool hashed = false) {
      tyr::engine::policy::PolicyRule r;
      r.list = "!bench:example.org";
      r.kind = kind;
      r.state_key = "rule:" + entity;
      if (hashed) {
        r.sha256 = tyr::to_base64(tyr::sha256(entity));
      } else {
        r.entity = std::move(entity);
      }
      r.recommendation_raw = "m.ban";
      rules.push_back(std::move(r));
    };
    using tyr::engine::policy::EntityKind;
    for (int k = 0; k < 60000; ++k)
      add(EntityKind::kUser, "@spam" + std::to_string(k) + ":example.org");
    for (int k = 0; k < 10000; ++k)
      add(EntityKind::kUser,
          "@bot-" + std::to_string(k) + "*:evil" + std::to_string(k % 97) + ".example");
    for (int k = 0; k < 15000; ++k)
      add(EntityKind::kServer, "bad" + std::to_string(k) + ".example");
    for (int k = 0; k < 10000; ++k)
      add(EntityKind::kServer, "*.bad-" + std::to_string(k) + ".example");
    for (int k = 0; k < 5000; ++k)
      add(EntityKind::kUser, "@hashed" + std::to_string(k) + ":example.org", true);
    // One sender in 50 is listed, so both paths (hit and miss) are exercised.
    for (int k = 0; k < 500; k += 50)
      add(EntityKind::kUser, "@user" + std::to_string(k) + ":example.org");
    t0 = Clock::now();
    index.replace_list("!bench:example.org", rules);
    index.compact();
    std::printf("ban lists: %zu rules indexed in %.2f s\n", rules.size(), seconds_since(t0));
    struct Oracle : tyr::rules::ListOracle {
      const tyr::engine::policy::PolicyIndex* index;
      bool listed(tyr::rules::EntityKind kind, std::string_view entity) const override {
        std::vector<tyr::engine::policy::PolicyRuleRef> out;
        index->match(kind == tyr::rules::EntityKind::kUser     ? EntityKind::kUser
                     : kind == tyr::rules::EntityKind::kServer ? EntityKind::kServer
                                                               : EntityKind::kRoom,
                     entity, out);
        return !out.empty();
      }
    } oracle;
    oracle.index = &index;
    tyr::rules::ScoreOptions opts;
    opts.lists = &oracle;
    size_t listed = 0;
    std::vector<tyr::engine::policy::PolicyRuleRef> matches;
    for (int round = 0; round < 2; ++round) {
      const size_t a0 = g_allocs;
      t0 = Clock::now();
      for (const auto& e : events) {
        const auto ev = nlohmann::json::parse(e);
        matches.clear();
        index.match_user(ev["sender"].get_ref<const std::string&>(), matches);
        listed += matches.empty() ? 0 : 1;
        const auto v = tyr::rules::score(
            set, ev, state, ev["origin_server_ts"].get<int64_t>() + (round + 5) * 3600000, opts);
        sink += static_cast<size_t>(v.action);
      }
      const double sec = seconds_since(t0);
      if (round == 1) {
        std::printf(
            "parse + lists + score: %6.0f events/s  (%.2f us/event, %.1f allocations/event; "
            "%zu senders listed)\n",
            events.size() / sec, 1e6 * sec / events.size(),
            static_cast<double>(g_allocs - a0) / static_cast<double>(events.size()), listed / 2);
      }
    }
  }
  std::printf(
      "events with hits: %zu of %zu (%zu hits); verdicts over the parse+score rounds: "
      "allow %zu notify %zu redact %zu kick %zu ban %zu; rate keys %zu (sink %zu)\n",
      hit_events, parsed.size(), hits, actions[0], actions[1], actions[2], actions[3], actions[4],
      state.keys(), sink);
  return 0;
}
