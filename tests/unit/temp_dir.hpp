#pragma once
// A fresh path under the system temp dir for one test, removed with everything in it at scope
// exit. By default only the path is chosen, so that the code under test creates the directory
// itself (the store creates its data dir private); `create` makes it at once.

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "engine/config/config.hpp"  // random_token

namespace tyr::test {

class TempDir {
 public:
  explicit TempDir(bool create = false)
      : path_(std::filesystem::temp_directory_path() /
              ("tyr_test_" + tyr::engine::random_token())) {
    if (create) std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Writes `text` to a file `name` in the directory; its path.
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    const std::filesystem::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace tyr::test
