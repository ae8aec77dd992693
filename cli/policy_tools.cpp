#include "cli/policy_tools.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/rules_tools.hpp"
#include "engine/classifier/classifier.hpp"
#include "engine/classifier/model_dir.hpp"
#include "engine/policy/judge.hpp"
#include "engine/policy/policy_index.hpp"
#include "engine/policy/policy_list.hpp"
#include "engine/policy/server_acl.hpp"
#include "engine/policy/state_stream.hpp"
#include "rules/rule_set.hpp"

namespace tyr::cli {

namespace {

using namespace tyr::engine::policy;

struct LoadedLists {
  PolicyIndex index;
  std::vector<PolicyRule> rules;
};

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

// The DOM reader: used only to report a file the streaming reader refused, with the position
// and wording users know.
void report_invalid(const std::string& file, const std::string& text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    // Re-parse with exceptions for the position of the error.
    try {
      auto again = nlohmann::json::parse(text);
      (void)again;
    } catch (const nlohmann::json::parse_error& e) {
      std::fprintf(stderr, "%s: invalid JSON at byte %zu: %s\n", file.c_str(), e.byte, e.what());
    }
    return;
  }
  if (!doc.is_array()) {
    std::fprintf(stderr, "%s: expected a JSON array of state events\n", file.c_str());
    return;
  }
  std::fprintf(stderr, "%s: invalid JSON\n", file.c_str());
}

// A list file is a JSON array of state events; its list id is the events' room_id (the file
// name when they carry none). Read by streaming (state_stream.hpp): the list holds the
// effective rules, the index its own copy, and nothing holds the whole document. `keep_rules`
// also keeps every rule in `out.rules` (for the ACL plan).
bool load_lists(const std::vector<std::string>& files, LoadedLists& out, bool keep_rules) {
  for (const auto& file : files) {
    std::vector<PolicyRule> rules;
    std::string list_id = file;
    {
      PolicyList list(file);
      std::string first_room_id;
      std::vector<std::string> warnings;  // printed once the whole file has been read
      auto read = read_state_events_file(file, [&](size_t index, const PolicyEventFacts* facts) {
        if (!facts) {
          warnings.push_back(file + ": [" + std::to_string(index) +
                             "]: not a JSON object; skipped");
          return;
        }
        if (first_room_id.empty() && facts->room_id.is_string()) {
          first_room_id = facts->room_id.value;
        }
        if (auto parsed = policy_event_from_facts(*facts, file)) {
          if (!parsed->problem.empty()) {
            warnings.push_back(file + ": [" + std::to_string(index) + "] " + parsed->state_key +
                               ": " + parsed->problem + "; treated as no rule");
          }
          list.apply(*parsed);
        }
      });
      if (!read.ok) {
        std::string text;
        if (!read_file(file, text)) {
          std::fprintf(stderr, "%s: cannot read the file\n", file.c_str());
        } else {
          report_invalid(file, text);
        }
        return false;
      }
      for (const auto& w : warnings) std::fprintf(stderr, "%s\n", w.c_str());
      if (!first_room_id.empty()) list_id = first_room_id;
      rules = list.effective_rules();
    }  // the list's own copies are freed here, before the index copies the rules
    for (auto& rule : rules) rule.list = list_id;
    out.index.replace_list(list_id, rules);
    if (keep_rules) {
      out.rules.insert(out.rules.end(), std::make_move_iterator(rules.begin()),
                       std::make_move_iterator(rules.end()));
    }
  }
  return true;
}

}  // namespace

int cmd_check(const std::vector<std::string>& list_files,
              const std::vector<std::string>& positional) {
  if (list_files.empty() || positional.size() != 1) {
    std::fprintf(stderr, "usage: tyr check --list FILE [--list FILE…] EVENTS.jsonl\n");
    return 2;
  }
  LoadedLists lists;
  if (!load_lists(list_files, lists, false)) return 2;
  const std::string& events_path = positional[0];
  std::ifstream in(events_path);
  if (!in) {
    std::fprintf(stderr, "%s: cannot read the file\n", events_path.c_str());
    return 2;
  }
  JudgeContext ctx;  // offline: no operators, no allowlist, nothing in shadow
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto ev = nlohmann::json::parse(line, nullptr, false);
    if (ev.is_discarded() || !ev.is_object()) {
      std::fprintf(stderr, "%s:%zu: not a JSON object\n", events_path.c_str(), line_no);
      return 2;
    }
    auto sender = ev.find("sender");
    if (sender == ev.end() || !sender->is_string()) {
      std::fprintf(stderr, "%s:%zu: the event has no string 'sender'\n", events_path.c_str(),
                   line_no);
      return 2;
    }
    Judgement j = judge_user(lists.index, ctx, sender->get<std::string>());
    nlohmann::json out = {{"event_id", ev.value("event_id", "")},
                          {"sender", *sender},
                          {"verdict", !j.act ? "allow" : (j.takedown ? "takedown" : "ban")},
                          {"matches", nlohmann::json::array()}};
    for (const auto& r : j.matches) {
      out["matches"].push_back({{"list", r.list},
                                {"state_key", r.state_key},
                                {"kind", kind_name(r.kind)},
                                {"entity", r.entity.empty() ? "sha256:" + r.sha256 : r.entity},
                                {"recommendation", r.recommendation_raw},
                                {"reason", r.reason}});
    }
    std::printf("%s\n", out.dump().c_str());
  }
  return 0;
}

int cmd_check_rules(const std::string& rules_dir, const std::vector<std::string>& list_files,
                    const std::vector<std::string>& positional, bool summary,
                    const std::string& model_dir) {
  if (positional.size() != 1) {
    std::fprintf(stderr,
                 "usage: tyr check --rules DIR [--model DIR] [--list FILE…] [--summary] "
                 "EVENTS.jsonl\n");
    return 2;
  }
  std::unique_ptr<engine::classifier::Classifier> classifier;
  if (!model_dir.empty()) {
    auto model = engine::classifier::load_model_dir(model_dir);
    if (!model) {
      std::fprintf(stderr, "%s\n", model.error().message.c_str());
      return 2;
    }
    classifier = std::make_unique<engine::classifier::Classifier>();
    classifier->adopt("", std::move(*model));
  }
  LoadedLists lists;
  if (!load_lists(list_files, lists, false)) return 2;
  struct Oracle : rules::ListOracle {
    const PolicyIndex* index;
    bool listed(rules::EntityKind kind, std::string_view entity) const override {
      const EntityKind k = kind == rules::EntityKind::kUser     ? EntityKind::kUser
                           : kind == rules::EntityKind::kServer ? EntityKind::kServer
                                                                : EntityKind::kRoom;
      std::vector<const PolicyRule*> hits;
      index->match(k, entity, hits);
      return std::any_of(hits.begin(), hits.end(), [](const PolicyRule* r) {
        return r->recommendation != Recommendation::kUnknown;
      });
    }
  } oracle;
  oracle.index = &lists.index;
  return cmd_rules_check(rules_dir, positional[0], summary, &oracle, classifier.get());
}

int cmd_acl(const std::vector<std::string>& list_files, const std::string& server_name,
            const std::string& current_file) {
  if (list_files.empty() || server_name.empty()) {
    std::fprintf(
        stderr,
        "usage: tyr acl --list FILE [--list FILE…] --server-name NAME [--current ACL.json]\n");
    return 2;
  }
  LoadedLists lists;
  if (!load_lists(list_files, lists, true)) return 2;
  nlohmann::json current;
  if (!current_file.empty()) {
    std::string text;
    if (!read_file(current_file, text)) {
      std::fprintf(stderr, "%s: cannot read the file\n", current_file.c_str());
      return 2;
    }
    current = nlohmann::json::parse(text, nullptr, false);
    if (current.is_discarded() || !current.is_object()) {
      std::fprintf(stderr, "%s: expected the JSON content of an m.room.server_acl event\n",
                   current_file.c_str());
      return 2;
    }
  }
  auto plan = plan_server_acl(server_deny_globs(lists.rules), current, server_name, {});
  for (const auto& w : plan.withheld) {
    std::fprintf(stderr, "withheld %s: it would deny %s\n", w.c_str(), server_name.c_str());
  }
  if (plan.error) {
    std::fprintf(stderr, "%s\n", plan.error->c_str());
    return 2;
  }
  std::printf("%s\n", plan.content.dump(2).c_str());
  return 0;
}

}  // namespace tyr::cli
