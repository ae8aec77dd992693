// The `classifier` section of the config (docs/configuration.md): the statistical classifier's
// symbols, when it leaves shadow mode and what it learns from.

#include <string>

#include "engine/config/config_reader.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine {

void read_classifier(const ConfigReader& c, const YamlSection& top,
                     classifier::ClassifierOptions& o) {
  if (!top.find("classifier")) return;
  const YamlSection s = c.subsection(
      top, "classifier", false,
      {"enabled", "scope", "min_spam", "min_ham", "spam_score", "spam_above", "ham_score",
       "ham_below", "learn_redactions", "learn_bans", "learn_reports", "ham_after_seconds",
       "ham_sample", "ham_per_room_hour", "max_features", "max_examples", "max_recent"});
  auto count = [&](std::string_view key, uint32_t& out, long long lo, long long hi) {
    if (auto v = c.int_value(s, key)) {
      if (*v < lo || *v > hi) {
        c.fail_at(*s.find(key), "key 'classifier." + std::string(key) + "': must be between " +
                                    std::to_string(lo) + " and " + std::to_string(hi));
      }
      out = static_cast<uint32_t>(*v);
    }
  };
  auto number = [&](std::string_view key, double& out, double lo, double hi) {
    if (auto v = c.number_value(s, key)) {
      if (*v < lo || *v > hi) {
        c.fail_at(*s.find(key), "key 'classifier." + std::string(key) + "': must be between " +
                                    number_text(lo) + " and " + number_text(hi));
      }
      out = *v;
    }
  };
  if (auto v = c.bool_value(s, "enabled")) o.enabled = *v;
  if (auto scope = c.string_value(s, "scope", false)) {
    if (*scope != "global" && *scope != "room")
      c.fail_at(*s.find("scope"), "key 'classifier.scope': expected 'global' or 'room'");
    o.per_room = *scope == "room";
  }
  count("min_spam", o.min_spam, 1, 1'000'000);
  count("min_ham", o.min_ham, 1, 1'000'000);
  number("spam_score", o.spam_score, 0, 1000);
  number("spam_above", o.spam_above, 0.5, 0.9999);
  number("ham_score", o.ham_score, -1000, 0);
  number("ham_below", o.ham_below, 0.0001, 0.5);
  if (auto v = c.bool_value(s, "learn_redactions")) o.learn_redactions = *v;
  if (auto v = c.bool_value(s, "learn_bans")) o.learn_bans = *v;
  if (auto v = c.bool_value(s, "learn_reports")) o.learn_reports = *v;
  uint32_t ham_after = static_cast<uint32_t>(o.ham_after_ms / 1000);
  count("ham_after_seconds", ham_after, 1, 30 * 86400);
  o.ham_after_ms = int64_t{ham_after} * 1000;
  number("ham_sample", o.ham_sample, 0, 1);
  count("ham_per_room_hour", o.ham_per_room_hour, 0, 100'000);
  count("max_features", o.max_features, 1000, 50'000'000);
  count("max_examples", o.max_examples, 100, 10'000'000);
  count("max_recent", o.max_recent, 100, 1'000'000);
}

}  // namespace tyr::engine
