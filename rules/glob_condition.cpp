#include "rules/glob_condition.hpp"

#include "engine/core/glob.hpp"

#include <re2/re2.h>

namespace tyr::rules {

std::string glob_to_re2(std::string_view glob) { return glob_to_regex_body(glob); }

std::shared_ptr<const re2::RE2> compile_globs(const std::vector<std::string>& globs) {
  std::string alternation;
  for (const auto& g : globs) {
    if (!alternation.empty()) alternation.push_back('|');
    alternation += "(?:" + glob_to_re2(g) + ")";
  }
  RE2::Options opts;
  opts.set_case_sensitive(false);
  opts.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(alternation, opts);
  if (!re->ok()) return nullptr;
  return re;
}

}  // namespace tyr::rules
