#include "cli/plugins_tools.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/protection/schema.hpp"
#include "plugins/registry.hpp"

namespace tyr::cli {

namespace {

constexpr std::string_view kReferenceHeading = "## Reference (generated from the descriptor)";

std::string score_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

}  // namespace

int cmd_plugins_list() {
  if (auto ok = plugins::validate_registry(); !ok) {
    std::fprintf(stderr, "tyr plugins: %s\n", ok.error().message.c_str());
    return 1;
  }
  for (const auto* d : plugins::builtin_protections()) {
    std::printf("%s — %s\n", std::string(d->name).c_str(), std::string(d->description).c_str());
    std::printf("  power needed: %s\n", engine::protection::power_text(d->powers).c_str());
    std::string symbols;
    for (const auto& s : d->symbols) {
      symbols +=
          (symbols.empty() ? "" : ", ") + std::string(s.name) + " (" + score_text(s.score) + ")";
    }
    std::printf("  symbols: %s\n", symbols.c_str());
    std::string keys;
    for (const auto& k : d->config) {
      keys += (keys.empty() ? "" : ", ") + std::string(k.name) + "=" + std::string(k.default_json);
    }
    std::printf("  config: %s\n", keys.empty() ? "none" : keys.c_str());
  }
  std::printf(
      "%zu protections. Enable one with `!tyr protections enable <name> [room]`; pages: "
      "docs/protections/.\n",
      plugins::builtin_protections().size());
  return 0;
}

int cmd_plugins_docs(const std::filesystem::path& docs_dir, bool check) {
  const auto dir = docs_dir / "protections";
  if (!std::filesystem::is_directory(dir)) {
    std::fprintf(stderr,
                 "tyr plugins docs: %s is not a directory (give the docs/ folder with --output)\n",
                 dir.string().c_str());
    return 2;
  }
  size_t stale = 0, written = 0;
  for (const auto* d : plugins::builtin_protections()) {
    const auto page = dir / (std::string(d->name) + ".md");
    std::string text;
    if (std::ifstream in(page); in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    } else {
      text = "# " + std::string(d->name) + "\n\n## What it catches\n\n" +
             std::string(d->description) +
             "\n\n## How to tune\n\nEnable per room with `!tyr protections enable " +
             std::string(d->name) + " [room]`.\n\n";
    }
    const size_t at = text.find(kReferenceHeading);
    std::string updated = (at == std::string::npos ? text + (text.ends_with("\n\n") ? "" : "\n")
                                                   : text.substr(0, at)) +
                          plugins::reference_markdown(*d);
    if (updated == text) continue;
    ++stale;
    if (check) {
      std::printf("%s: reference section out of date\n", page.string().c_str());
      continue;
    }
    std::ofstream out(page, std::ios::trunc);
    out << updated;
    if (!out) {
      std::fprintf(stderr, "tyr plugins docs: cannot write %s\n", page.string().c_str());
      return 2;
    }
    ++written;
    std::printf("%s: reference section regenerated\n", page.string().c_str());
  }
  if (check) {
    if (stale > 0) return 1;
    std::printf("all %zu protection pages are up to date\n", plugins::builtin_protections().size());
    return 0;
  }
  std::printf("%zu of %zu protection pages rewritten\n", written,
              plugins::builtin_protections().size());
  return 0;
}

}  // namespace tyr::cli
