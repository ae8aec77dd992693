#pragma once
// Offline rule tools: the same loader and scorer as the live service (rules/offline.hpp).

#include <string>

#include <vector>

namespace tyr::rules {
struct ListOracle;
}  // namespace tyr::rules
namespace tyr::engine::classifier {
class Classifier;
}  // namespace tyr::engine::classifier

namespace tyr::cli {

// `tyr check --rules DIR [--summary] EVENTS.jsonl`: one JSON line per event (the event plus
// "score", "hits": [{"rule", "score", "match"}] and "verdict"), or with `summary` only counts,
// spam caught %, ham blocked %, precision and recall over events labelled "label":
// "spam"|"ham" (caught/blocked = verdict redact or stronger). Exit 0; 2 with
// "file:line: message" on bad events or the loader's "file:line:col: message" on bad rules.
// `lists` answers `listed:` conditions (nullptr: nothing is listed; pass the policy index
// adapter when `--list FILE...` is given).
// `classifier` (a model from `--model DIR`) adds its symbol as the service does.
int cmd_rules_check(const std::string& rules_dir, const std::string& events_file, bool summary,
                    const rules::ListOracle* lists = nullptr,
                    engine::classifier::Classifier* classifier = nullptr);

// `tyr learn --model DIR EVENTS.jsonl…` and `tyr learn --model DIR --stats`
// (engine/classifier/model_dir.hpp).
int cmd_learn(const std::string& model_dir, const std::vector<std::string>& files, bool stats);

// `tyr rules lint DIR`: exit 0 and a one-line summary, or 1 and the first "file:line:col:" error.
int cmd_rules_lint(const std::string& rules_dir);

}  // namespace tyr::cli
