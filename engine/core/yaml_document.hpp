#pragma once
// Reading a file that must hold exactly one YAML document (Tyr's config, rule files).
//
// Not YAML::LoadAll: yaml-cpp 0.7 never returns from it on a stray flow token such as ","
// (jbeder/yaml-cpp#1040): the parser reports an empty document without consuming the token,
// again and again, and LoadAll keeps each one until memory runs out. The document comes from
// YAML::Load (first document only); a second pass with an event handler only looks for the root
// of another document, and stops there.

#include <string>

#include <yaml-cpp/yaml.h>

namespace tyr {

struct YamlDocument {
  YAML::Node node;       // the first document; Null when the text holds none
  bool single = true;    // false: another document (or a stuck token) follows
  YAML::Mark extra;      // where it starts
  std::string problem;   // "expected a single YAML document" or "unexpected ','"
};

// Throws YAML::Exception (with its mark) on a syntax error.
YamlDocument load_single_yaml_document(const std::string& text);

}  // namespace tyr
