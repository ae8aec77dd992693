#include "cli/rules_tools.hpp"

#include <iostream>

#include "rules/offline.hpp"

namespace tyr::cli {

int cmd_rules_check(const std::string& rules_dir, const std::string& events_file, bool summary,
                    const rules::ListOracle* lists) {
  return rules::check_events(rules_dir, events_file, summary, lists, std::cout, std::cerr);
}

int cmd_rules_lint(const std::string& rules_dir) {
  return rules::lint_rules(rules_dir, std::cout, std::cerr);
}

}  // namespace tyr::cli
