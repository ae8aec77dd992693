#pragma once
// Offline rule tools, shared by the `tyr` binary (cli/rules_tools.cpp) and the tests.

#include <iosfwd>
#include <string>

#include "engine/classifier/classifier.hpp"
#include "rules/rule_set.hpp"

namespace tyr::rules {

// One JSON line per event (the event plus "score", "hits": [{"rule", "score", "match"}, shadow
// hits with "mode": "shadow"] and "verdict"), or with `summary` only the summary: counts, spam
// caught %, ham blocked %, precision and recall over events labelled "label": "spam"|"ham",
// where caught/blocked means a verdict of redact or stronger. Rate windows run on each event's
// origin_server_ts. Returns 0; 2 after writing "file:line: message" (bad events) or the
// loader's "file:line:col: message" to `err`.
// With `classifier`, its symbol is added to each verdict as the service adds it (hits
// "classifier/SPAM" or "classifier/HAM", shadow until its model is ready).
int check_events(const std::string& rules_dir, const std::string& events_file, bool summary,
                 const ListOracle* lists, std::ostream& out, std::ostream& err,
                 engine::classifier::Classifier* classifier = nullptr);

// Loads `rules_dir` as the service would: 0 and a one-line summary, or 1 and the first error.
int lint_rules(const std::string& rules_dir, std::ostream& out, std::ostream& err);

}  // namespace tyr::rules
