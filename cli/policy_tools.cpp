#include "cli/policy_tools.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/rules_tools.hpp"
#include "engine/classifier/classifier.hpp"
#include "engine/classifier/model_dir.hpp"
#include "engine/core/text.hpp"
#include "engine/policy/event_lines.hpp"
#include "engine/policy/judge.hpp"
#include "engine/policy/policy_index.hpp"
#include "engine/policy/policy_list.hpp"
#include "engine/policy/server_acl.hpp"
#include "engine/policy/state_stream.hpp"
#include "rules/rule_set.hpp"

namespace tyr::cli {

namespace {

using namespace tyr::engine::policy;

constexpr size_t kOutputBlock = 1 << 16;

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
// name when they carry none). Read by streaming (state_stream.hpp): the list packs the events
// and then its effective rules, which the index takes as they are; nothing holds the whole
// document.
// `keep_rules` also keeps a copy of every rule in `out.rules` (for the ACL plan).
bool load_lists(const std::vector<std::string>& files, LoadedLists& out, bool keep_rules) {
  for (const auto& file : files) {
    std::shared_ptr<const RuleBlock> rules;
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
          list.load(std::move(*parsed));
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
      rules = list.take_effective_block(list_id);
    }
    if (keep_rules) {
      for (const PackedRule& rule : *rules) out.rules.push_back(rule.view().to_rule());
    }
    out.index.replace_list(list_id, std::move(rules));  // the packed rules, not a copy
  }
  return true;
}

// Appends `s` escaped as nlohmann::json::dump() escapes a string (no ASCII escaping of UTF-8,
// `\u00xx` in lower case for other control characters). False when `s` is not valid UTF-8,
// which dump() refuses.
bool append_escaped(std::string& out, std::string_view s) {
  bool ascii = true;
  size_t run = 0;  // start of the bytes not yet appended
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) ascii = false;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(escape, sizeof escape);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  return ascii || is_valid_utf8(s);
}

bool append_string(std::string& out, std::string_view s) {
  out += '"';
  const bool ok = append_escaped(out, s);
  out += '"';
  return ok;
}

// One line of `tyr check` output, byte for byte what nlohmann::json::dump() makes of it (keys
// in its sorted order). False when a string is not valid UTF-8.
bool append_check_line(std::string& out, std::string_view event_id, std::string_view sender,
                       const JudgementRefs& j) {
  bool ok = true;
  out += "{\"event_id\":";
  ok &= append_string(out, event_id);
  out += ",\"matches\":[";
  for (size_t i = 0; i < j.matches.size(); ++i) {
    const PolicyRuleView r = *j.matches[i];
    out += i == 0 ? "{\"entity\":\"" : ",{\"entity\":\"";
    if (r.entity.empty()) {
      out += "sha256:";
      ok &= append_escaped(out, r.sha256);
    } else {
      ok &= append_escaped(out, r.entity);
    }
    out += "\",\"kind\":\"";
    out += kind_name(r.kind);
    out += "\",\"list\":";
    ok &= append_string(out, r.list);
    out += ",\"reason\":";
    ok &= append_string(out, r.reason);
    out += ",\"recommendation\":";
    ok &= append_string(out, r.recommendation_raw);
    out += ",\"state_key\":";
    ok &= append_string(out, r.state_key);
    out += '}';
  }
  out += "],\"sender\":";
  ok &= append_string(out, sender);
  out += ",\"verdict\":\"";
  out += !j.act ? "allow" : (j.takedown ? "takedown" : "ban");
  out += "\"}\n";
  return ok;
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
  const JudgeContext ctx;  // offline: no operators, no allowlist, nothing in shadow
  const auto snapshot = lists.index.snapshot();
  JudgementRefs judgement;
  std::string out;  // stdout, written in blocks
  out.reserve(kOutputBlock + 4096);
  const auto flush = [&] {
    std::fwrite(out.data(), 1, out.size(), stdout);
    out.clear();
  };
  int status = 0;
  // A line in the common shape is read by simdjson and written here; any other line by the
  // reference reader, which also words every error.
  const auto visit = [&](size_t line_no, std::string_view line, const EventLineFields* fields) {
    if (fields != nullptr) {
      judge_user(*snapshot, ctx, fields->sender, judgement);
      const size_t mark = out.size();
      if (append_check_line(out, fields->event_id, fields->sender, judgement)) {
        if (out.size() >= kOutputBlock) flush();
        return true;
      }
      out.resize(mark);  // text nlohmann::json::dump() refuses: let it say so below
    }
    auto ev = nlohmann::json::parse(line, nullptr, false);
    if (ev.is_discarded() || !ev.is_object()) {
      flush();
      std::fprintf(stderr, "%s:%zu: not a JSON object\n", events_path.c_str(), line_no);
      status = 2;
      return false;
    }
    auto sender = ev.find("sender");
    if (sender == ev.end() || !sender->is_string()) {
      flush();
      std::fprintf(stderr, "%s:%zu: the event has no string 'sender'\n", events_path.c_str(),
                   line_no);
      status = 2;
      return false;
    }
    Judgement j = judge_user(lists.index, ctx, sender->get<std::string>());
    nlohmann::json verdict = {{"event_id", ev.value("event_id", "")},
                              {"sender", *sender},
                              {"verdict", !j.act ? "allow" : (j.takedown ? "takedown" : "ban")},
                              {"matches", nlohmann::json::array()}};
    for (const auto& r : j.matches) {
      verdict["matches"].push_back({{"list", r.list},
                                    {"state_key", r.state_key},
                                    {"kind", kind_name(r.kind)},
                                    {"entity", r.entity.empty() ? "sha256:" + r.sha256 : r.entity},
                                    {"recommendation", r.recommendation_raw},
                                    {"reason", r.reason}});
    }
    out += verdict.dump();
    out += '\n';
    return true;
  };
  bool opened = false;
  try {
    opened = read_event_lines(events_path, visit);
  } catch (...) {
    flush();  // what was judged before the exception, as printf would have left it
    throw;
  }
  flush();
  if (!opened) {
    std::fprintf(stderr, "%s: cannot read the file\n", events_path.c_str());
    return 2;
  }
  return status;
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
      std::vector<PolicyRuleRef> hits;
      index->match(k, entity, hits);
      return std::any_of(hits.begin(), hits.end(), [](PolicyRuleRef r) {
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
