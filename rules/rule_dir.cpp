// A rule directory: every *.yaml and *.yml file in it, read in name order, loaded as one set.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "rules/rule_set.hpp"

namespace tyr::rules {
namespace {

namespace fs = std::filesystem;

Error dir_error(std::string message) { return Error{"TYR_RULES", std::move(message), 0, -1}; }

}  // namespace

Result<RuleSetPtr> load_rule_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return dir_error(dir.string() + ":1:1: not a directory" + (ec ? ": " + ec.message() : ""));
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(entry.path());
  }
  if (ec) return dir_error(dir.string() + ":1:1: " + ec.message());
  std::sort(files.begin(), files.end());
  std::vector<RuleSource> sources;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return dir_error(f.string() + ":1:1: cannot read");
    std::ostringstream text;
    text << in.rdbuf();
    sources.push_back(RuleSource{f.string(), text.str(), f.parent_path()});
  }
  return load_rule_sources(sources);
}

}  // namespace tyr::rules
