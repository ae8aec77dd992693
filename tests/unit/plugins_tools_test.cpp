// `tyr plugins docs`: reference sections regenerated from the descriptors, and --check.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/plugins_tools.hpp"
#include "plugins/registry.hpp"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("plugins docs: stale reference sections are found by --check and rewritten",
          "[cli][plugins]") {
  const fs::path dir =
      fs::temp_directory_path() / ("tyr-plugins-docs-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "protections");
  {
    std::ofstream(dir / "protections" / "flooding.md")
        << "# Flooding\n\nHand-written text stays.\n\n## Reference (generated from the "
           "descriptor)\n\nold\n";
  }
  CHECK(tyr::cli::cmd_plugins_docs(dir, /*check=*/true) == 1);
  CHECK(slurp(dir / "protections" / "flooding.md").find("old") !=
        std::string::npos);  // --check writes nothing

  CHECK(tyr::cli::cmd_plugins_docs(dir, /*check=*/false) == 0);
  const std::string page = slurp(dir / "protections" / "flooding.md");
  CHECK(page.rfind("# Flooding\n\nHand-written text stays.\n\n", 0) == 0);
  const auto* d = tyr::plugins::find_protection(tyr::plugins::builtin_protections(), "flooding");
  REQUIRE(d != nullptr);
  CHECK(page.ends_with(tyr::plugins::reference_markdown(*d)));
  // Missing pages are created with the reference; everything is now up to date.
  CHECK(fs::exists(dir / "protections" / "name_abuse.md"));
  CHECK(tyr::cli::cmd_plugins_docs(dir, /*check=*/true) == 0);
  CHECK(tyr::cli::cmd_plugins_docs(dir / "nowhere", false) == 2);
  fs::remove_all(dir);
}

TEST_CASE("plugins docs: the repository's pages are up to date", "[cli][plugins]") {
  CHECK(tyr::cli::cmd_plugins_docs(fs::path(TYR_FIXTURES_DIR) / ".." / ".." / "docs",
                                   /*check=*/true) == 0);
}
