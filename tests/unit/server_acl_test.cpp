#include "engine/policy/server_acl.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/core/glob.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using tyr::glob_matches;
using tyr::is_ip_literal;
using tyr::engine::policy::acl_allows;
using tyr::engine::policy::AclPlan;
using tyr::engine::policy::kAclEnvelopeBytes;
using tyr::engine::policy::plan_server_acl;

namespace {

// Vectors generated from Synapse by scripts/gen_policy_vectors.py. Loaded once: Catch re-runs
// a test case once per DYNAMIC_SECTION.
const json& vectors(const char* kind) {
  static std::map<std::string, json> cache;
  auto it = cache.find(kind);
  if (it == cache.end()) {
    std::ifstream in(fs::path(TYR_FIXTURES_DIR) / kind / "vectors.json");
    REQUIRE(in.good());
    it = cache.emplace(kind, json::parse(in)).first;
  }
  return it->second.at("vectors");
}

// JSON text cut for a section name, so names survive newlines, NULs and 5,000-character globs.
std::string shown(const json& value) {
  std::string text = value.dump();
  if (text.size() > 72) {
    text = text.substr(0, 60) + "... (" + std::to_string(text.size()) + " bytes)";
  }
  return text;
}

std::vector<std::string> strings(const json& array) {
  return array.get<std::vector<std::string>>();
}

}  // namespace

TEST_CASE("acl: glob vectors agree with Synapse", "[acl]") {
  const json& all = vectors("glob");
  REQUIRE(all.size() >= 150);
  for (size_t i = 0; i < all.size(); ++i) {
    const json& v = all[i];
    const auto glob = v.at("glob").get<std::string>();
    const auto text = v.at("text").get<std::string>();
    DYNAMIC_SECTION("glob #" << i << " " << shown(glob) << " ~ " << shown(text)) {
      INFO(v.at("why").get<std::string>());
      CHECK(glob_matches(glob, text) == v.at("match").get<bool>());
      if (v.contains("ip_literal")) CHECK(is_ip_literal(text) == v.at("ip_literal").get<bool>());
    }
  }
}

TEST_CASE("acl: server ACL vectors agree with Synapse", "[acl]") {
  const json& all = vectors("acl");
  REQUIRE(all.size() >= 80);
  for (size_t i = 0; i < all.size(); ++i) {
    const json& v = all[i];
    const auto server = v.at("server").get<std::string>();
    DYNAMIC_SECTION("acl #" << i << " " << shown(server) << " under " << shown(v.at("acl"))) {
      INFO(v.at("why").get<std::string>());
      CHECK(acl_allows(v.at("acl"), server) == v.at("allowed").get<bool>());
    }
  }
}

TEST_CASE("acl: plan withholds globs matching our own server", "[acl]") {
  SECTION("literal") {
    AclPlan plan = plan_server_acl({"evil.org", "example.org"}, nullptr, "example.org", {});
    CHECK(strings(plan.content["deny"]) == std::vector<std::string>{"evil.org"});
    CHECK(plan.withheld == std::vector<std::string>{"example.org"});
    CHECK_FALSE(plan.error);
    CHECK(acl_allows(plan.content, "example.org"));
  }
  SECTION("by \"*\" and \"*.org\"; the ACL stays valid") {
    AclPlan plan =
        plan_server_acl({"*", "*.org", "evil.net", "*.evil.net"}, nullptr, "example.org:8448", {});
    CHECK(strings(plan.content["deny"]) == std::vector<std::string>{"*.evil.net", "evil.net"});
    CHECK(plan.withheld == std::vector<std::string>{"*", "*.org"});
    CHECK_FALSE(plan.error);
    CHECK(acl_allows(plan.content, "example.org:8448"));
    CHECK(acl_allows(plan.content, "other.org"));
    CHECK_FALSE(acl_allows(plan.content, "a.evil.net:443"));
  }
  SECTION("with the port: Synapse checks its own server_name unstripped") {
    AclPlan plan =
        plan_server_acl({"example.org:8448", "example.org*"}, nullptr, "example.org:8448", {});
    CHECK(plan.content["deny"].empty());
    CHECK(plan.withheld == std::vector<std::string>{"example.org*", "example.org:8448"});
    CHECK_FALSE(plan.error);
  }
}

TEST_CASE("acl: plan withholds protected servers case-insensitively", "[acl]") {
  AclPlan plan = plan_server_acl({"EXAMPLE.org", "Example.ORG", "ops.example.NET", "spam.org"},
                                 nullptr, "tyr.host", {"example.org:8448", "OPS.Example.Net"});
  CHECK(strings(plan.content["deny"]) == std::vector<std::string>{"spam.org"});
  CHECK(plan.withheld == std::vector<std::string>{"example.org", "ops.example.net"});
  CHECK_FALSE(plan.error);
}

TEST_CASE("acl: plan keeps the current allow list or defaults to allowing all", "[acl]") {
  SECTION("kept") {
    const json current = {{"allow", {"example.org", "*.friends.net"}}, {"deny", json::array()}};
    AclPlan plan = plan_server_acl({"evil.org"}, current, "example.org", {});
    CHECK(plan.content["allow"] == current["allow"]);
    CHECK_FALSE(plan.error);
  }
  SECTION("default when there is no ACL") {
    AclPlan plan = plan_server_acl({"evil.org"}, nullptr, "example.org", {});
    CHECK(plan.content ==
          json::parse(R"({"allow":["*"],"allow_ip_literals":false,"deny":["evil.org"]})"));
    CHECK(plan.changed);
  }
  SECTION("default when the current allow is unusable") {
    for (const char* raw : {R"({})", R"({"allow": []})", R"({"allow": "*"})",
                            R"({"allow": ["*", 5]})", R"({"allow": null})"}) {
      AclPlan plan = plan_server_acl({}, json::parse(raw), "example.org", {});
      CAPTURE(raw);
      CHECK(plan.content["allow"] == json::array({"*"}));
    }
  }
  SECTION("a kept allow list that would deny us is an error") {
    const json current = {{"allow", {"friends.net"}}};
    AclPlan plan = plan_server_acl({"evil.org"}, current, "example.org", {});
    REQUIRE(plan.error);
    CHECK(*plan.error ==
          "server ACL would deny our own server 'example.org': the allow list "
          "[\"friends.net\"] does not admit it");
  }
  SECTION("an allow glob without the port denies a server_name with one, to Synapse") {
    const json current = {{"allow", {"example.org"}}};
    AclPlan plan = plan_server_acl({}, current, "example.org:8448", {});
    REQUIRE(plan.error);
    CHECK(*plan.error ==
          "server ACL would deny our own server 'example.org:8448': the allow list "
          "[\"example.org\"] does not admit it");
  }
  SECTION("an IP-literal own server is denied by allow_ip_literals: false") {
    AclPlan plan = plan_server_acl({}, nullptr, "127.0.0.1:8448", {});
    REQUIRE(plan.error);
    CHECK(*plan.error ==
          "server ACL would deny our own server '127.0.0.1': it is an IP literal and "
          "allow_ip_literals is false");
  }
}

TEST_CASE("acl: plan is unchanged for a semantically identical ACL", "[acl]") {
  const json current = json::parse(
      R"({"allow":["*"],"allow_ip_literals":false,"deny":["b.org","A.org","*.c.org"]})");
  SECTION("any deny order and ASCII case") {
    CHECK_FALSE(plan_server_acl({"a.org", "*.C.ORG", "b.org"}, current, "x.org", {}).changed);
    CHECK_FALSE(
        plan_server_acl({"B.ORG", "a.org", "*.c.org", "a.org"}, current, "x.org", {}).changed);
  }
  SECTION("a different deny set") {
    CHECK(plan_server_acl({"a.org", "b.org"}, current, "x.org", {}).changed);
    CHECK(plan_server_acl({"a.org", "b.org", "*.c.org", "d.org"}, current, "x.org", {}).changed);
  }
  SECTION("a different allow list or allow_ip_literals") {
    json other = current;
    other.erase("allow_ip_literals");  // means true
    CHECK(plan_server_acl({"a.org", "b.org", "*.c.org"}, other, "x.org", {}).changed);
    other = current;
    other["allow_ip_literals"] = "no";  // non-bool means true
    CHECK(plan_server_acl({"a.org", "b.org", "*.c.org"}, other, "x.org", {}).changed);
  }
  SECTION("no current ACL") { CHECK(plan_server_acl({}, nullptr, "x.org", {}).changed); }
}

TEST_CASE("acl: plan refuses an ACL over 64 KiB without dropping rules", "[acl]") {
  std::vector<std::string> globs;
  for (int i = 0; i < 3000; ++i) {
    globs.push_back("*.spam-server-" + std::to_string(i) + ".very-long-domain.example.net");
  }
  AclPlan plan = plan_server_acl(globs, nullptr, "example.org", {});
  CHECK(plan.content["deny"].size() == 3000);
  CHECK(plan.event_bytes == plan.content.dump().size() + kAclEnvelopeBytes);
  REQUIRE(plan.event_bytes > 65536);
  REQUIRE(plan.error);
  CHECK(*plan.error == "server ACL would be " + std::to_string(plan.event_bytes) +
                           " bytes, over the 64 KiB event limit; no deny glob was dropped: "
                           "merge the 3000 banned server globs into fewer wildcards (e.g. "
                           "*.example.org)");
}

TEST_CASE("acl: plan estimates the event size and accepts a normal ACL", "[acl]") {
  AclPlan plan = plan_server_acl({"evil.org"}, nullptr, "example.org", {});
  CHECK(plan.event_bytes ==
        std::string(R"({"allow":["*"],"allow_ip_literals":false,"deny":["evil.org"]})").size() +
            kAclEnvelopeBytes);
  CHECK_FALSE(plan.error);
  CHECK(plan.withheld.empty());
}

TEST_CASE("acl: plan output is deterministic", "[acl]") {
  std::vector<std::string> globs = {"b.org", "*.A.org", "a.org",         "ü.example", "B.ORG",
                                    "*",     "c.org",   "*.example.org", "zz.net",    "a.org"};
  const AclPlan first = plan_server_acl(globs, nullptr, "host.example.org", {"Ops.Net"});
  CHECK(strings(first.content["deny"]) ==
        std::vector<std::string>{"*.a.org", "a.org", "b.org", "c.org", "zz.net", "ü.example"});
  CHECK(first.withheld == std::vector<std::string>{"*", "*.example.org"});
  std::mt19937 rng(42);
  for (int round = 0; round < 10; ++round) {
    std::shuffle(globs.begin(), globs.end(), rng);
    const AclPlan again = plan_server_acl(globs, nullptr, "host.example.org", {"Ops.Net"});
    CHECK(again.content.dump() == first.content.dump());
    CHECK(again.withheld == first.withheld);
  }
}
