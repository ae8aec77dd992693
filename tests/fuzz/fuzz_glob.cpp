// Fuzzes Matrix glob compilation and matching, differentially: the reference matcher
// (engine/core/glob.hpp: glob -> RE2) against the two other implementations that promise the
// same answers,
//   - the policy index (engine/policy/policy_index.hpp), both its delta tables (exact matcher on
//     a one-byte-per-code-point reduction) and its built tables (Hyperscan literal factors,
//     RE2::Set for non-ASCII patterns), and
//   - the rule language's `glob:` condition (rules/glob_condition.hpp, one RE2 alternation).
// Input: up to 8 globs and a subject, separated by 0xFF bytes: "glob 0xFF glob ... 0xFF subject"
// (0xFF never occurs in UTF-8, so only broken-UTF-8 cases lose that one byte value).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "engine/core/glob.hpp"
#include "engine/core/utf8.hpp"
#include "engine/policy/policy_index.hpp"
#include "rules/glob_condition.hpp"

namespace {

using tyr::engine::policy::EntityKind;
using tyr::engine::policy::PolicyIndex;
using tyr::engine::policy::PolicyRule;
using tyr::engine::policy::PolicyRuleRef;

constexpr size_t kMaxGlobs = 8;

[[noreturn]] void mismatch(const char* what) {
  std::fprintf(stderr, "fuzz_glob: %s disagrees with glob_matches\n", what);
  std::abort();
}

std::vector<size_t> matched_globs(const PolicyIndex& index, std::string_view subject) {
  std::vector<PolicyRuleRef> hits;
  index.match(EntityKind::kRoom, subject, hits);  // rooms: no port stripping
  std::vector<size_t> out;
  for (PolicyRuleRef rule : hits) out.push_back(std::stoul(std::string(rule->state_key)));
  std::sort(out.begin(), out.end());
  return out;
}

// The loader's UTF-8 check is stricter than RE2's reading; only valid globs reach compile_globs.
bool strict_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const auto lead = static_cast<unsigned char>(s[i]);
    const size_t len = tyr::decode_utf8(s, i, cp);
    if (lead >= 0x80 && cp == tyr::kReplacementChar && len == 1) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> globs;
  for (size_t sep; (sep = input.find('\xFF')) != std::string_view::npos;) {
    if (globs.size() == kMaxGlobs) return 0;
    globs.emplace_back(input.substr(0, sep));
    input.remove_prefix(sep + 1);
  }
  const std::string_view subject = input;
  if (globs.empty()) globs.emplace_back(subject);  // no separator: a glob against itself

  std::vector<size_t> expected;
  for (size_t i = 0; i < globs.size(); ++i) {
    (void)tyr::glob_to_regex_body(globs[i]);
    if (tyr::glob_matches(globs[i], subject)) expected.push_back(i);
  }
  (void)tyr::is_ip_literal(subject);

  // The policy index: an empty entity is not a rule (the parser rejects it), so leave it out.
  std::vector<tyr::engine::policy::ListDiff> diffs;
  std::vector<size_t> indexed;
  for (size_t i = 0; i < globs.size(); ++i) {
    if (globs[i].empty()) continue;
    PolicyRule rule;
    rule.list = "!list:example.org";
    rule.kind = EntityKind::kRoom;
    rule.state_key = std::to_string(i);
    rule.entity = globs[i];
    rule.recommendation_raw = "m.ban";
    rule.recommendation = tyr::engine::policy::Recommendation::kBan;
    diffs.push_back({std::nullopt, std::move(rule)});
    indexed.push_back(i);
  }
  std::vector<size_t> expected_indexed;
  std::set_intersection(expected.begin(), expected.end(), indexed.begin(), indexed.end(),
                        std::back_inserter(expected_indexed));
  PolicyIndex index;
  index.apply(diffs);
  if (matched_globs(index, subject) != expected_indexed) mismatch("policy index (delta)");
  index.compact();
  if (matched_globs(index, subject) != expected_indexed) mismatch("policy index (built)");

  // The rules' glob condition: one alternation, matching when any glob does.
  if (std::all_of(globs.begin(), globs.end(), strict_utf8)) {
    if (auto re = tyr::rules::compile_globs(globs)) {
      const bool any = RE2::FullMatch(re2::StringPiece(subject.data(), subject.size()), *re);
      if (any != !expected.empty()) mismatch("rules glob condition");
    }
  }
  return 0;
}
