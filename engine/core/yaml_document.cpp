#include "engine/core/yaml_document.hpp"

#include <cstdlib>
#include <sstream>
#include <vector>

#include <yaml-cpp/eventhandler.h>

namespace tyr {

namespace {

// Where each document's root node starts, as YAML::Node::Mark() reports it.
class RootMarks : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;

  void OnDocumentStart(const YAML::Mark&) override { at_root_ = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}

 private:
  void node(const YAML::Mark& mark) {
    if (at_root_) marks.push_back(mark);
    at_root_ = false;
  }
  bool at_root_ = false;
};

}  // namespace

YamlDocument load_single_yaml_document(const std::string& text) {
  YamlDocument out;
  out.node = YAML::Load(text);
  RootMarks roots;
  std::istringstream in(text);
  YAML::Parser parser(in);
  for (int i = 0; i < 2 && parser.HandleNextDocument(roots); ++i) {
  }
  if (roots.marks.size() > 1) {
    out.single = false;
    out.extra = roots.marks[1];
    // A parser stuck on a token starts the next document where the previous one started.
    if (out.extra.pos == roots.marks[0].pos && out.extra.pos >= 0 &&
        static_cast<size_t>(out.extra.pos) < text.size()) {
      out.problem = "unexpected '" + std::string(1, text[out.extra.pos]) + "'";
    } else {
      out.problem = "expected a single YAML document";
    }
  }
  return out;
}

std::string yaml_position(const std::string& file, const YAML::Mark& mark) {
  const int line = mark.is_null() ? 1 : mark.line + 1;
  const int column = mark.is_null() ? 1 : mark.column + 1;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

void StrictYaml::fail(const std::string& file, const YAML::Mark& mark,
                      const std::string& msg) const {
  raise_(yaml_position(file, mark) + ": " + msg);
  std::abort();  // raise_ always throws
}

void StrictYaml::fail_at(const YamlEntry& e, const std::string& msg) const {
  fail(e.value.IsNull() ? e.key.Mark() : e.value.Mark(), msg);
}

YAML::Node StrictYaml::parse_document(const std::string& text, bool empty_is_map) const {
  YamlDocument parsed;
  try {
    parsed = load_single_yaml_document(text);
  } catch (const YAML::Exception& e) {
    fail(e.mark, e.msg);
  }
  if (!parsed.single) fail(parsed.extra, parsed.problem);
  if (parsed.node.IsNull() && empty_is_map) return YAML::Node(YAML::NodeType::Map);
  if (!parsed.node.IsMap()) {
    fail(parsed.node.IsNull() ? YAML::Mark() : parsed.node.Mark(),
         "expected a mapping at the top level");
  }
  return parsed.node;
}

YamlSection StrictYaml::section(const YAML::Node& map, std::string path, YAML::Mark mark,
                                std::initializer_list<std::string_view> allowed) const {
  YamlSection s{std::move(path), mark, {}};
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it->first lives in a temporary proxy
    if (!key.IsScalar()) fail(key.Mark(), "keys must be plain strings");
    const std::string& name = key.Scalar();
    // yaml-cpp 0.7 keeps both pairs of a duplicated key and lookups see only the first, so the
    // second would be ignored silently: reject it here.
    if (s.find(name) != nullptr) fail(key.Mark(), "duplicate key '" + s.dotted(name) + "'");
    bool known = false;
    for (auto a : allowed) known = known || a == name;
    if (!known) fail(key.Mark(), "unknown key '" + s.dotted(name) + "'");
    s.entries.emplace_back(name, YamlEntry{key, it->second});
  }
  return s;
}

YamlSection StrictYaml::item_section(const YAML::Node& node, std::string path,
                                     std::initializer_list<std::string_view> allowed) const {
  if (!node.IsMap()) fail(node.Mark(), "key '" + path + "': expected a mapping");
  return section(node, std::move(path), node.Mark(), allowed);
}

const YamlEntry* StrictYaml::require(const YamlSection& s, std::string_view key,
                                     bool required) const {
  const YamlEntry* e = s.find(key);
  if (e == nullptr && required) fail(s.mark, "missing required key '" + s.dotted(key) + "'");
  return e;
}

std::string StrictYaml::string_of(const YamlEntry& e, const std::string& path) const {
  if (!e.value.IsScalar()) fail_at(e, "key '" + path + "': expected a string");
  return e.value.Scalar();
}

bool StrictYaml::bool_of(const YamlEntry& e, const std::string& path) const {
  if (e.value.IsScalar() && e.value.Tag() == "?") {
    if (e.value.Scalar() == "true") return true;
    if (e.value.Scalar() == "false") return false;
  }
  fail_at(e, "key '" + path + "': expected true or false");
}

}  // namespace tyr
