#pragma once
// Reading a file that must hold exactly one YAML document (Tyr's config, rule files), and the
// strict schema reader both loaders build on: unknown keys, duplicate keys, wrong types, quoted
// numbers and YAML 1.1 booleans (yes/no/on/off) are errors, reported as "file:line:col: message"
// with 1-based positions.
//
// Not YAML::LoadAll: yaml-cpp 0.7 never returns from it on a stray flow token such as ","
// (jbeder/yaml-cpp#1040): the parser reports an empty document without consuming the token,
// again and again, and LoadAll keeps each one until memory runs out. The document comes from
// YAML::Load (first document only); a second pass with an event handler only looks for the root
// of another document, and stops there.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace tyr {

struct YamlDocument {
  YAML::Node node;      // the first document; Null when the text holds none
  bool single = true;   // false: another document (or a stuck token) follows
  YAML::Mark extra;     // where it starts
  std::string problem;  // "expected a single YAML document" or "unexpected ','"
};

// Throws YAML::Exception (with its mark) on a syntax error.
YamlDocument load_single_yaml_document(const std::string& text);

// "file:line:col". yaml-cpp marks are 0-based; users and editors count from 1. A null mark (no
// position known) points at the top of the file rather than printing "0:0".
std::string yaml_position(const std::string& file, const YAML::Mark& mark);

struct YamlEntry {
  YAML::Node key;
  YAML::Node value;
};

// One mapping of a schema, with its keys already checked against the allowed set.
struct YamlSection {
  std::string path;  // dotted path of this mapping; empty at the top level
  YAML::Mark mark;   // where "missing required key" points: the mapping itself, or 1:1
  std::vector<std::pair<std::string, YamlEntry>> entries;  // in file order

  std::string dotted(std::string_view key) const {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  const YamlEntry* find(std::string_view key) const {
    for (const auto& [k, e] : entries) {
      if (k == key) return &e;
    }
    return nullptr;
  }
};

// Reads one file's mappings strictly. Every error goes through `raise`, which throws the
// loader's own exception type (ConfigError, the rule loader's error) with the whole
// "file:line:col: message" text.
class StrictYaml {
 public:
  using Raise = void (*)(const std::string& what);

  StrictYaml(std::string file, Raise raise) : file_(std::move(file)), raise_(raise) {}

  [[noreturn]] void fail(const std::string& file, const YAML::Mark& mark,
                         const std::string& msg) const;
  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& msg) const {
    fail(file_, mark, msg);
  }
  // Value errors point at the value, except for an empty value: yaml-cpp places that at the
  // next token (often the following line), so the key is the honest position.
  [[noreturn]] void fail_at(const YamlEntry& e, const std::string& msg) const;

  // Exactly one document (a second one would otherwise be ignored without a word) holding a
  // mapping. An empty document is an empty mapping when `empty_is_map`, an error otherwise.
  YAML::Node parse_document(const std::string& text, bool empty_is_map) const;

  // The keys of `map`, each a plain string, none repeated, all in `allowed`.
  YamlSection section(const YAML::Node& map, std::string path, YAML::Mark mark,
                      std::initializer_list<std::string_view> allowed) const;
  // One mapping of a list, named `path` ("feeds[2]") in messages.
  YamlSection item_section(const YAML::Node& node, std::string path,
                           std::initializer_list<std::string_view> allowed) const;

  // nullptr when absent and not `required`.
  const YamlEntry* require(const YamlSection& s, std::string_view key, bool required) const;
  const YamlEntry& require(const YamlSection& s, std::string_view key) const {
    return *require(s, key, true);
  }

  // `path` names the key in messages ("key 'homeserver.url': expected a string").
  std::string string_of(const YamlEntry& e, const std::string& path) const;
  // YAML 1.2 booleans only: yes/no/on/off are YAML 1.1 and too easy to write by accident
  // ("country: no"), and a quoted "true" is a string.
  bool bool_of(const YamlEntry& e, const std::string& path) const;

 protected:
  std::string file_;

 private:
  Raise raise_;
};

}  // namespace tyr
