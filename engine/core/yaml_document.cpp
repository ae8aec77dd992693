#include "engine/core/yaml_document.hpp"

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

}  // namespace tyr
