#include "cli/rules_tools.hpp"

#include <iostream>

#include "engine/classifier/model_dir.hpp"
#include "rules/offline.hpp"

namespace tyr::cli {

int cmd_rules_check(const std::string& rules_dir, const std::string& events_file, bool summary,
                    const rules::ListOracle* lists, engine::classifier::Classifier* classifier) {
  return rules::check_events(rules_dir, events_file, summary, lists, std::cout, std::cerr,
                             classifier);
}

int cmd_learn(const std::string& model_dir, const std::vector<std::string>& files, bool stats) {
  if (model_dir.empty() || (stats == !files.empty())) {
    std::cerr << "usage: tyr learn --model DIR EVENTS.jsonl… | tyr learn --model DIR --stats\n";
    return 2;
  }
  if (stats) return engine::classifier::model_stats(model_dir, std::cout, std::cerr);
  return engine::classifier::learn_events(model_dir, files, std::cout, std::cerr);
}

int cmd_rules_lint(const std::string& rules_dir) {
  return rules::lint_rules(rules_dir, std::cout, std::cerr);
}

}  // namespace tyr::cli
