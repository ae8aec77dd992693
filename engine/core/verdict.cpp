#include "engine/core/verdict.hpp"

#include <algorithm>

#include "engine/core/text.hpp"

namespace tyr {

std::vector<Decider> decided_by(const EventVerdict& v, size_t max) {
  std::vector<Decider> out;
  for (size_t i = 0; i < v.rules.size(); ++i) {
    const bool shadow = i < v.shadow.size() && v.shadow[i];
    const double score = i < v.scores.size() ? v.scores[i] : 0;
    if (!shadow && score > 0) out.push_back({v.rules[i], score});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Decider& a, const Decider& b) { return a.score > b.score; });
  if (out.size() > max) out.resize(max);
  return out;
}

std::string decided_text(const EventVerdict& v, size_t max) {
  std::string out;
  for (const auto& d : decided_by(v, max)) {
    out += (out.empty() ? "" : ", ") + d.rule + " +" + number_text(d.score);
  }
  return out;
}

}  // namespace tyr
