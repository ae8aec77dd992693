// ctest registers each Catch test case under its name, and CMake lists are ';'-separated: a ';'
// in a name splits it into two names that match nothing, and the test silently never runs.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

TEST_CASE("test names: no test case name contains a semicolon", "[meta]") {
  const fs::path tests = fs::path(TYR_FIXTURES_DIR).parent_path();
  const std::regex name(R"re(TEST_CASE\(\s*"([^"]*)")re");
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(tests)) {
    if (entry.path().extension() != ".cpp" ||
        entry.path().string().find("/fixtures/") != std::string::npos)
      continue;
    ++files;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    for (std::sregex_iterator it(text.begin(), text.end(), name), end; it != end; ++it) {
      INFO(entry.path().string() << ": " << (*it)[1].str());
      CHECK((*it)[1].str().find(';') == std::string::npos);
    }
  }
  CHECK(files > 20);
}
