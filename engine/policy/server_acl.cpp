#include "engine/policy/server_acl.hpp"

#include <algorithm>
#include <set>

#include "engine/core/glob.hpp"
#include "engine/core/ids.hpp"

namespace tyr::engine::policy {

namespace {

using nlohmann::json;

// Matching is case-insensitive and an upper-case ASCII letter folds to exactly the same set as
// its lower-case form (K: {k, K, U+212A}), so lower-casing ASCII never changes a glob's meaning.
std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The array under `key`, or nullptr when it is absent or not an array (Synapse: -> []).
const json* list_field(const json& content, const char* key) {
  if (!content.is_object()) return nullptr;
  auto it = content.find(key);
  return it != content.end() && it->is_array() ? &*it : nullptr;
}

bool allow_ip_literals(const json& content) {
  if (!content.is_object()) return true;
  auto it = content.find("allow_ip_literals");
  return it != content.end() && it->is_boolean() ? it->get<bool>() : true;
}

// Whether a string entry of `list` matches `name`; non-string entries are skipped.
bool any_glob_matches(const json* list, std::string_view name) {
  if (list == nullptr) return false;
  return std::any_of(list->begin(), list->end(), [&](const json& entry) {
    return entry.is_string() && glob_matches(entry.get_ref<const std::string&>(), name);
  });
}

// Synapse's ServerAclEvaluator on an already port-stripped (or deliberately unstripped) name.
bool evaluate(const json& content, std::string_view name) {
  if (!allow_ip_literals(content) && is_ip_literal(name)) return false;
  if (any_glob_matches(list_field(content, "deny"), name)) return false;
  return any_glob_matches(list_field(content, "allow"), name);
}

std::set<std::string> deny_set(const json& content) {
  std::set<std::string> out;
  if (const json* deny = list_field(content, "deny")) {
    for (const json& entry : *deny) {
      if (entry.is_string()) out.insert(ascii_lower(entry.get_ref<const std::string&>()));
    }
  }
  return out;
}

bool same_acl(const json& next, const json& current) {
  if (!current.is_object()) return false;
  auto allow = current.find("allow");
  if (allow == current.end() || *allow != next.at("allow")) return false;
  if (allow_ip_literals(current) != allow_ip_literals(next)) return false;
  return deny_set(current) == deny_set(next);
}

json allow_list(const json& current) {
  if (const json* allow = list_field(current, "allow")) {
    if (!allow->empty() &&
        std::all_of(allow->begin(), allow->end(), [](const json& e) { return e.is_string(); })) {
      return *allow;
    }
  }
  return json::array({"*"});
}

// Why `content` would deny `name` (empty when it admits it). Remote servers check our name
// without its port; our own Synapse checks its configured server_name as is.
std::string self_denial(const json& content, std::string_view own_server) {
  const std::string_view host = strip_port(own_server);
  for (std::string_view name : {host, own_server}) {
    if (evaluate(content, name)) continue;
    std::string why = "server ACL would deny our own server '" + std::string(name) + "'";
    if (!allow_ip_literals(content) && is_ip_literal(name)) {
      return why + ": it is an IP literal and allow_ip_literals is false";
    }
    return why + ": the allow list " + content.at("allow").dump() + " does not admit it";
  }
  return {};
}

}  // namespace

bool acl_allows(const json& acl_content, std::string_view server_name) {
  return evaluate(acl_content, strip_port(server_name));
}

AclPlan plan_server_acl(const std::vector<std::string>& deny_globs, const json& current,
                        std::string_view own_server,
                        const std::vector<std::string>& protected_servers) {
  // Names no deny glob may match, with and without their port.
  std::vector<std::string_view> shielded;
  auto shield = [&](std::string_view server) {
    shielded.push_back(server);
    if (strip_port(server) != server) shielded.push_back(strip_port(server));
  };
  shield(own_server);
  for (const std::string& server : protected_servers) shield(server);

  std::vector<std::string> globs;
  globs.reserve(deny_globs.size());
  for (const std::string& glob : deny_globs) globs.push_back(ascii_lower(glob));
  std::sort(globs.begin(), globs.end());
  globs.erase(std::unique(globs.begin(), globs.end()), globs.end());

  AclPlan plan;
  json deny = json::array();
  for (std::string& glob : globs) {
    const bool hits_us = std::any_of(shielded.begin(), shielded.end(), [&](std::string_view name) {
      return glob_matches(glob, name);
    });
    if (hits_us) {
      plan.withheld.push_back(std::move(glob));
    } else {
      deny.push_back(std::move(glob));
    }
  }

  plan.content = json::object();
  plan.content["allow"] = allow_list(current);
  plan.content["allow_ip_literals"] = false;
  plan.content["deny"] = std::move(deny);
  plan.changed = !same_acl(plan.content, current);
  // dump() writes sorted keys, no spaces and raw UTF-8, as canonical JSON does. `replace` keeps
  // an invalid UTF-8 glob from throwing here; the homeserver will refuse such an event anyway.
  plan.event_bytes =
      plan.content.dump(-1, ' ', false, json::error_handler_t::replace).size() + kAclEnvelopeBytes;

  if (std::string why = self_denial(plan.content, own_server); !why.empty()) {
    plan.error = std::move(why);
  } else if (plan.event_bytes > kMaxEventBytes) {
    plan.error = "server ACL would be " + std::to_string(plan.event_bytes) +
                 " bytes, over the 64 KiB event limit; no deny glob was dropped: merge the " +
                 std::to_string(plan.content["deny"].size()) +
                 " banned server globs into fewer wildcards (e.g. *.example.org)";
  }
  return plan;
}

}  // namespace tyr::engine::policy
