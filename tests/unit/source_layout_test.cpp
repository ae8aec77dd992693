// The source tree keeps the shape docs/architecture.md describes: files small enough to read in
// one sitting, dependencies pointing one way (cli -> plugins, rules -> engine; engine/core
// depends on nothing of Tyr's), and no two components including each other.

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace {

const fs::path& root() {
  static const fs::path r = fs::path(TYR_FIXTURES_DIR).parent_path().parent_path();
  return r;
}

bool is_source(const fs::path& p) { return p.extension() == ".cpp" || p.extension() == ".hpp"; }

// Every C++ source under the product's and the tests' folders (fixtures are data).
std::vector<fs::path> sources() {
  std::vector<fs::path> out;
  for (const char* dir : {"engine", "rules", "plugins", "cli", "tests"}) {
    for (const auto& e : fs::recursive_directory_iterator(root() / dir)) {
      if (e.is_regular_file() && is_source(e.path()) &&
          e.path().string().find("/fixtures/") == std::string::npos) {
        out.push_back(e.path());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string rel(const fs::path& p) { return fs::relative(p, root()).string(); }

// The project headers a file includes ("engine/core/glob.hpp"), as written.
std::vector<std::string> project_includes(const fs::path& p) {
  static const std::regex include(R"re(^\s*#\s*include\s+"((engine|rules|plugins|cli)/[^"]+)")re");
  std::vector<std::string> out;
  std::ifstream in(p);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, include)) out.push_back(m[1].str());
  }
  return out;
}

std::string top(const std::string& path) { return path.substr(0, path.find('/')); }

// A component: a .hpp and its .cpp ("engine/policy/feed").
std::string component(const std::string& path) { return path.substr(0, path.rfind('.')); }

}  // namespace

TEST_CASE("source layout: no source file is over 700 lines", "[meta]") {
  size_t files = 0;
  for (const auto& p : sources()) {
    ++files;
    std::ifstream in(p);
    size_t lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    INFO(rel(p) << ": " << lines << " lines");
    CHECK(lines <= 700);
  }
  CHECK(files > 100);
}

TEST_CASE("source layout: dependencies point one way", "[meta]") {
  // What each top-level folder may include besides itself.
  const std::map<std::string, std::set<std::string>> allowed = {
      {"engine", {}},
      {"rules", {"engine"}},
      {"plugins", {"engine"}},
      {"cli", {"engine", "rules", "plugins"}}};
  for (const auto& p : sources()) {
    const std::string from = rel(p);
    const std::string layer = top(from);
    if (layer == "tests") continue;
    for (const auto& inc : project_includes(p)) {
      INFO(from << " includes " << inc);
      if (from.rfind("engine/core/", 0) == 0) {
        CHECK(inc.rfind("engine/core/", 0) == 0);  // core depends on nothing else of Tyr's
        continue;
      }
      CHECK((top(inc) == layer || allowed.at(layer).count(top(inc)) > 0));
    }
  }
}

TEST_CASE("source layout: no two components include each other", "[meta]") {
  std::map<std::string, std::set<std::string>> graph;  // component -> components it includes
  for (const auto& p : sources()) {
    const std::string from = component(rel(p));
    if (top(from) == "tests") continue;
    for (const auto& inc : project_includes(p)) {
      if (component(inc) != from) graph[from].insert(component(inc));
    }
  }
  // Depth-first search for a cycle; report the first one found.
  std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
  std::vector<std::string> path;
  std::string cycle;
  std::function<void(const std::string&)> visit = [&](const std::string& c) {
    state[c] = 1;
    path.push_back(c);
    for (const auto& next : graph[c]) {
      if (!cycle.empty()) break;
      if (state[next] == 1) {
        auto it = std::find(path.begin(), path.end(), next);
        for (; it != path.end(); ++it) cycle += *it + " -> ";
        cycle += next;
      } else if (state[next] == 0) {
        visit(next);
      }
    }
    path.pop_back();
    state[c] = 2;
  };
  for (const auto& [c, edges] : graph) {
    if (state[c] == 0 && cycle.empty()) visit(c);
  }
  INFO("include circle: " << cycle);
  CHECK(cycle.empty());
}

namespace {

// The namespace a folder's code lives in (docs/architecture.md, "Namespaces"): tyr::<the folder's
// path>, except that engine/core is plain `tyr` and the bot's own parts share `tyr::engine`.
std::string folder_namespace(const std::string& folder) {
  if (folder == "engine/core") return "tyr";
  for (const char* bot : {"appservice", "audit", "client", "config", "pipeline", "store"}) {
    if (folder == std::string("engine/") + bot) return "tyr::engine";
  }
  std::string out = "tyr::" + folder;
  for (size_t i; (i = out.find('/')) != std::string::npos;) out.replace(i, 1, "::");
  return out;
}

struct Opened {
  std::string name;
  bool declarations_only = true;  // only `class X;` / `struct X;` lines: forward declarations
};

// The `namespace tyr…` blocks a file opens, each with whether it only forward-declares.
std::vector<Opened> opened_namespaces(const fs::path& p) {
  static const std::regex open(R"re(^namespace (tyr(::\w+)*) \{)re");
  static const std::regex close(R"re(^\})re");  // "}  // namespace tyr…", or a bare "}"
  static const std::regex forward(R"re(^\s*(class|struct) \w+;\s*$|^\s*$)re");
  std::vector<Opened> out;
  std::ifstream in(p);
  std::smatch m;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, m, open)) {
      out.push_back({m[1].str()});
      inside = true;
    } else if (std::regex_search(line, close)) {
      inside = false;
    } else if (inside && !std::regex_match(line, forward)) {
      out.back().declarations_only = false;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("source layout: namespaces follow folders", "[meta]") {
  std::set<std::string> folder_namespaces;
  for (const auto& p : sources()) {
    const std::string folder = fs::path(rel(p)).parent_path().string();
    if (top(folder) != "tests") folder_namespaces.insert(folder_namespace(folder));
  }
  for (const auto& p : sources()) {
    const std::string file = rel(p), folder = fs::path(file).parent_path().string();
    if (top(folder) == "tests") continue;
    const std::string expected = folder_namespace(folder);
    for (const auto& ns : opened_namespaces(p)) {
      if (ns.declarations_only) continue;  // forward declarations of another folder's types
      // Its own namespace, or one nested in it that is not another folder's (state_keys, log).
      bool own = ns.name == expected;
      if (!own && ns.name.rfind(expected + "::", 0) == 0) {
        own = std::none_of(folder_namespaces.begin(), folder_namespaces.end(),
                           [&](const std::string& f) {
                             return f != expected && f.size() > expected.size() &&
                                    (ns.name == f || ns.name.rfind(f + "::", 0) == 0);
                           });
      }
      INFO(file << " opens namespace " << ns.name << "; its folder's is " << expected);
      CHECK(own);
    }
  }
}
