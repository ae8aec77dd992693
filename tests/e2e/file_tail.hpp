#pragma once
// The last lines of a log file, for test failure messages.

#include <cstddef>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>

namespace tyr::e2e {

inline std::string file_tail(const std::filesystem::path& file, size_t lines) {
  std::ifstream in(file);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += l + "\n";
  return out;
}

}  // namespace tyr::e2e
