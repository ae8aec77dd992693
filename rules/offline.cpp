// Offline evaluation of a rule directory against JSON-lines events: the engine of
// `tyr check --rules` and `tyr rules lint` (cli/rules_tools.cpp), kept here so the unit tests
// exercise exactly what the binary runs.

#include "rules/offline.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <ostream>

#include "engine/core/text.hpp"
#include "rules/rule_set.hpp"

namespace tyr::rules {

namespace {

std::string percent(size_t part, size_t whole) {
  if (whole == 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %%",
                100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buf;
}

}  // namespace

int check_events(const std::string& rules_dir, const std::string& events_file, bool summary,
                 const ListOracle* lists, std::ostream& out, std::ostream& err,
                 engine::classifier::Classifier* classifier) {
  auto set = load_rule_dir(rules_dir);
  if (!set) {
    err << set.error().message << "\n";
    return 2;
  }
  std::ifstream in(events_file, std::ios::binary);
  if (!in) {
    err << events_file << ":0: cannot open\n";
    return 2;
  }
  RuntimeState state;
  const Thresholds thresholds = info(**set).thresholds;
  ScoreOptions options;
  options.lists = lists;
  options.explain = true;  // offline output lists every hit

  size_t events = 0, spam = 0, ham = 0, spam_caught = 0, ham_blocked = 0;
  std::array<size_t, kActions> verdicts{};
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto ev = nlohmann::json::parse(line, nullptr, false);
    if (ev.is_discarded() || !ev.is_object()) {
      err << events_file << ":" << line_no << ": not a JSON object\n";
      return 2;
    }
    int label = 0;  // 1 spam, -1 ham
    if (auto l = ev.find("label"); l != ev.end()) {
      if (*l == "spam")
        label = 1;
      else if (*l == "ham")
        label = -1;
      else {
        err << events_file << ":" << line_no << ": 'label' must be \"spam\" or \"ham\"\n";
        return 2;
      }
    }
    int64_t now_ms = static_cast<int64_t>(line_no) * 1000;
    if (auto ts = ev.find("origin_server_ts"); ts != ev.end()) {
      if (!ts->is_number_integer()) {
        err << events_file << ":" << line_no << ": 'origin_server_ts' must be an integer\n";
        return 2;
      }
      now_ms = ts->get<int64_t>();
    }
    Verdict v = score(**set, ev, state, now_ms, options);
    double probability = -1;  // the model's, when one is given
    if (classifier != nullptr) {
      // The service's fold, on the rules' score under their thresholds.
      EventVerdict ev_verdict;
      ev_verdict.score = v.score;
      ev_verdict.action = v.action;
      const auto content = ev.find("content");
      std::string body;
      if (content != ev.end() && content->is_object()) body = content->value("body", "");
      const auto outcome =
          classifier->fold(ev_verdict, ev.value("room_id", ""), body, thresholds, !summary);
      probability = outcome.probability;
      if (outcome.hit) {
        v.score = ev_verdict.score;
        v.action = ev_verdict.action;
        v.hits.push_back(Hit{ev_verdict.rules.back(),
                             {},
                             ev_verdict.scores.back(),
                             outcome.shadow ? Mode::kShadow : Mode::kEnforce,
                             outcome.detail});
      }
    }
    ++events;
    ++verdicts[static_cast<size_t>(v.action)];
    const bool blocked = v.action >= Action::kRedact;
    if (label == 1) {
      ++spam;
      spam_caught += blocked ? 1 : 0;
    } else if (label == -1) {
      ++ham;
      ham_blocked += blocked ? 1 : 0;
    }
    if (summary) continue;
    auto hits = nlohmann::json::array();
    for (const auto& h : v.hits) {
      nlohmann::json j = {{"rule", h.rule}, {"score", h.score}, {"match", h.match}};
      if (h.mode == Mode::kShadow) j["mode"] = "shadow";
      hits.push_back(std::move(j));
    }
    ev["score"] = v.score;
    ev["hits"] = std::move(hits);
    ev["verdict"] = action_name(v.action);
    if (probability >= 0) ev["spam_probability"] = std::round(probability * 1e4) / 1e4;
    out << ev.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (summary) {
    const size_t blocked = spam_caught + ham_blocked;
    out << "events: " << events << " (spam " << spam << ", ham " << ham << ", unlabelled "
        << events - spam - ham << ")\n";
    out << "verdicts:";
    for (int a = 0; a < kActions; ++a) {
      out << " " << action_name(static_cast<Action>(a)) << " " << verdicts[static_cast<size_t>(a)];
    }
    out << "\n";
    out << "spam caught: " << spam_caught << "/" << spam << " = " << percent(spam_caught, spam)
        << "\n";
    out << "ham blocked: " << ham_blocked << "/" << ham << " = " << percent(ham_blocked, ham)
        << "\n";
    out << "precision: " << percent(spam_caught, blocked) << "\n";
    out << "recall: " << percent(spam_caught, spam) << "\n";
    out << "(caught/blocked = verdict redact or stronger)\n";
  }
  return 0;
}

int lint_rules(const std::string& rules_dir, std::ostream& out, std::ostream& err) {
  auto set = load_rule_dir(rules_dir);
  if (!set) {
    err << set.error().message << "\n";
    return 1;
  }
  const RuleSetInfo i = info(**set);
  out << rules_dir << ": ok: " << i.rules << " rules in " << i.files << " files (" << i.enforced
      << " enforce, " << i.shadow << " shadow, " << i.disabled << " disabled); "
      << i.hyperscan_patterns << " Hyperscan patterns (" << i.re2_confirmed
      << " confirmed by RE2), " << i.re2_only << " RE2-only; thresholds:";
  for (int a = 1; a < kActions; ++a) {
    const double t = i.thresholds.at[a];
    out << " " << action_name(static_cast<Action>(a)) << "="
        << (t < Thresholds::kNever ? number_text(t) : "never");
  }
  out << "\n";
  return 0;
}

}  // namespace tyr::rules
