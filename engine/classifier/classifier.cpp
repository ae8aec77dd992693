#include "engine/classifier/classifier.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "engine/core/clock.hpp"
#include "engine/core/text.hpp"
#include "engine/store/keys.hpp"

namespace tyr::engine::classifier {

namespace {

// A model is saved once learning has been quiet this long (and at shutdown): a burst of
// learning costs one save, and what a crash loses in between is replayed from the examples.
constexpr int64_t kSaveQuietMs = 3000;
// How long a banned user's remembered messages count as theirs to learn from.
constexpr int64_t kBanLookbackMs = 24 * 3'600'000;
constexpr size_t kExplainTokens = 4;

Error not_seen(const std::string& event_id) {
  return Error{"TYR_NOT_SEEN", "Tyr has not seen " + event_id + " recently"};
}

std::string example_key(uint64_t seq) {
  return std::string(state_keys::kClassifierExample) + encode_seq(seq);
}

std::string encode_example(const nlohmann::json& head, std::span<const FeatureHash> hashes) {
  std::string out = dump_json(head);
  out += '\n';
  out.reserve(out.size() + 8 * hashes.size());
  for (FeatureHash h : hashes) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>(h >> (8 * i));
  }
  return out;
}

struct Example {
  nlohmann::json head;
  std::vector<FeatureHash> hashes;
};

std::optional<Example> decode_example(std::string_view v) {
  const size_t nl = v.find('\n');
  if (nl == std::string_view::npos || (v.size() - nl - 1) % 8 != 0) return std::nullopt;
  Example e;
  e.head = nlohmann::json::parse(v.substr(0, nl), nullptr, false);
  if (!e.head.is_object()) return std::nullopt;
  for (size_t i = nl + 1; i < v.size(); i += 8) {
    FeatureHash h = 0;
    for (int b = 0; b < 8; ++b) h |= FeatureHash{static_cast<unsigned char>(v[i + b])} << (8 * b);
    e.hashes.push_back(h);
  }
  return e;
}

// Deterministic sampling by event ID: the same message is always in or out.
bool sampled(const std::string& event_id, double rate) {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : event_id) h = (h ^ c) * 0x100000001b3ULL;
  return static_cast<double>(mix64(h) >> 11) * 0x1.0p-53 < rate;
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string signed_score(double v) { return (v >= 0 ? "+" : "") + number_text(v); }

}  // namespace

const char* source_name(Source s) {
  switch (s) {
    case Source::kRedaction: return "redaction";
    case Source::kBan: return "ban";
    case Source::kReport: return "report";
    case Source::kCommand: return "command";
    case Source::kUnredacted: return "unredacted";
    case Source::kImport: return "import";
  }
  return "command";
}

Classifier::Classifier(ClassifierOptions options) : options_(options) {}

Classifier::Scope& Classifier::scope_for(std::string_view room) {
  const std::string key = scope_key(room);
  auto it = scopes_.find(key);
  if (it == scopes_.end()) {
    it = scopes_
             .emplace(key, Scope{Model(ModelOptions{options_.max_features, options_.decay_at}), 0,
                                 false})
             .first;
  }
  return it->second;
}

const Classifier::Scope* Classifier::find_scope(std::string_view room) const {
  auto it = scopes_.find(scope_key(room));
  return it == scopes_.end() ? nullptr : &it->second;
}

void Classifier::adopt(std::string_view room, Model model) {
  std::lock_guard lock(mu_);
  scopes_.insert_or_assign(scope_key(room), Scope{std::move(model), 0, false});
}

bool Classifier::ready(std::string_view room) const {
  std::lock_guard lock(mu_);
  const Scope* s = find_scope(room);
  return s != nullptr && s->model.ready(options_.min_spam, options_.min_ham);
}

Result<void> Classifier::load(const Store& store) {
  std::lock_guard lock(mu_);
  store_ = &store;
  std::string problems;
  store.scan(Cf::kState, state_keys::kClassifierModel,
             [&](std::string_view key, std::string_view v) {
               const std::string scope(key.substr(state_keys::kClassifierModel.size()));
               if (v.size() < 8) return;
               auto model = Model::deserialize(v.substr(8));
               if (!model) {
                 problems += (problems.empty() ? "" : "; ") + model.error().message;
                 return;
               }
               scopes_.insert_or_assign(
                   scope, Scope{std::move(*model), decode_seq(v.substr(0, 8)), false});
             });
  // Replay what each model's saved copy does not include yet.
  const std::string lower(state_keys::kClassifierExample);
  std::string upper = lower;
  upper.back() = static_cast<char>(upper.back() + 1);
  store.range(Cf::kState, lower, upper, false, [&](std::string_view key, std::string_view v) {
    const uint64_t seq = decode_seq(key.substr(lower.size()));
    next_seq_ = std::max(next_seq_, seq + 1);
    if (oldest_seq_ == 0) oldest_seq_ = seq;
    ++examples_;
    auto e = decode_example(v);
    if (!e) return true;
    Scope& s = scope_for(e->head.value("room", ""));
    if (seq <= s.saved_seq) return true;
    const bool spam = e->head.value("label", "") == "spam";
    if (e->head.contains("undo")) {
      s.model.unlearn(e->hashes, spam);
    } else {
      s.model.learn(e->hashes, spam);
    }
    s.dirty = true;
    return true;
  });
  if (!problems.empty()) return Error{"TYR_MODEL", problems};
  return {};
}

FoldOutcome Classifier::fold(EventVerdict& v, std::string_view room, std::string_view body,
                             const Thresholds& t, bool explain) {
  FoldOutcome out;
  if (!options_.enabled || body.empty()) return out;
  std::lock_guard lock(mu_);
  tokenizer_.tokenize(body, tokens_);
  last_body_.assign(body);  // keeps its capacity: no allocation in steady state
  const Scope* s = find_scope(room);
  if (s == nullptr || s->model.spam_count() == 0 || s->model.ham_count() == 0) return out;
  s->model.classify(tokens_.hashes(), result_, kExplainTokens);
  const double p = result_.probability;
  out.probability = p;
  double score = 0;
  if (p >= options_.spam_above && options_.spam_above < 1) {
    score = options_.spam_score * (p - options_.spam_above) / (1 - options_.spam_above);
    out.spam = true;
  } else if (p <= options_.ham_below && options_.ham_below > 0) {
    score = options_.ham_score * (options_.ham_below - p) / options_.ham_below;
  } else {
    return out;
  }
  score = std::round(score * 10) / 10;
  if (score == 0) return out;
  out.hit = true;
  out.shadow = !s->model.ready(options_.min_spam, options_.min_ham);

  // The symbol's text, built only where someone reads it: an explanation asked for, or a verdict
  // that acts or would act (an allowed message costs no allocation).
  auto text = [&] {
    out.detail = "p " + fixed(p, 3);
    size_t shown = 0;
    for (const Clue& c : result_.top()) {
      // Only the clues that pull the way the symbol does explain it.
      if ((c.weight > 0) != out.spam || shown == kExplainTokens) continue;
      out.detail += shown++ == 0 ? ": " : ", ";
      out.detail += quote_untrusted(tokens_.describe(c.hash, body), 40) + " " +
                    signed_score(std::round(c.weight * 10) / 10);
    }
    return std::string(out.spam ? "classifier/SPAM " : "classifier/HAM ") + signed_score(score) +
           " (" + out.detail + ")";
  };

  v.rules.emplace_back(out.spam ? "classifier/SPAM" : "classifier/HAM");
  v.shadow.resize(v.rules.size() - 1, false);
  v.shadow.push_back(out.shadow);
  v.scores.resize(v.rules.size() - 1, 0);
  v.scores.push_back(score);
  if (out.shadow) {
    const double would = v.score + score;
    const Action would_do = t.action_for(would);
    v.shadow_action = std::max(v.shadow_action, would_do);
    if (explain || v.action != Action::kAllow || would_do != Action::kAllow) {
      v.explanation =
          (v.explanation.empty() ? "score " + number_text(v.score) + " -> " + action_name(v.action)
                                 : v.explanation) +
          "; shadow " + text() + " (would be " + number_text(would) + " -> " +
          action_name(would_do) + ")";
    }
    return out;
  }
  // The action follows the new score when the score decided it; an action a rule or a
  // protection set outright (a kick for flooding) stays.
  const bool by_score = v.action == t.action_for(v.score);
  const Action was = v.action;
  v.score += score;
  const Action now = t.action_for(v.score);
  v.action = by_score ? now : std::max(v.action, now);
  v.shadow_action = std::max(v.shadow_action, v.action);
  v.reject = t.rejects(v.score) || (!by_score && v.reject);
  if (explain || v.action != Action::kAllow || was != Action::kAllow) {
    std::string before = std::move(v.explanation);
    v.explanation =
        "score " + number_text(v.score) + " -> " + action_name(v.action) + ": " + text();
    if (!before.empty()) v.explanation += "; before the classifier: " + before;
  }
  return out;
}

void Classifier::tokenize_into(std::string_view body, std::vector<FeatureHash>& out) {
  if (body != last_body_) {
    tokenizer_.tokenize(body, tokens_);
    last_body_.assign(body);
  }
  out.assign(tokens_.hashes().begin(), tokens_.hashes().end());
}

void Classifier::remember(const MessageRef& m, std::string_view body, bool ham_candidate) {
  if (!options_.enabled || body.empty() || m.event_id.empty()) return;
  std::lock_guard lock(mu_);
  if (recent_ids_.count(m.event_id) != 0) return;
  Remembered r{m, {}};
  tokenize_into(body, r.hashes);
  if (ham_candidate && options_.ham_sample > 0 && sampled(m.event_id, options_.ham_sample) &&
      ham_waiting_.size() < options_.max_ham_waiting) {
    ham_waiting_.push_back(Waiting{m, r.hashes});
    waiting_[m.event_id] = true;
  }
  recent_ids_.emplace(m.event_id, recent_base_ + recent_.size());
  recent_.push_back(std::move(r));
  while (recent_.size() > options_.max_recent) {
    recent_ids_.erase(recent_.front().ref.event_id);
    recent_.pop_front();
    ++recent_base_;
  }
}

const Classifier::Remembered* Classifier::recent(const std::string& event_id) const {
  auto it = recent_ids_.find(event_id);
  if (it == recent_ids_.end()) return nullptr;
  return &recent_[it->second - recent_base_];
}

bool Classifier::on_redacted(Batch& batch, const std::string& event_id, const std::string& redactor,
                             bool learn) {
  std::lock_guard lock(mu_);
  if (auto w = waiting_.find(event_id); w != waiting_.end()) w->second = false;
  const Remembered* r = recent(event_id);
  if (r == nullptr || !learn || !options_.learn_redactions || redactor == r->ref.sender)
    return false;
  const Remembered copy = *r;
  return learn_hashes(batch, copy.ref, copy.hashes, Source::kRedaction, true).ok();
}

size_t Classifier::on_banned(Batch& batch, const std::string& room, const std::string& user) {
  if (!options_.learn_bans) return 0;
  std::lock_guard lock(mu_);
  std::vector<Remembered> theirs;
  int64_t newest = 0;
  for (const auto& r : recent_) {
    if (r.ref.room == room && r.ref.sender == user) {
      theirs.push_back(r);
      newest = std::max(newest, r.ref.ts);
    }
  }
  size_t learned = 0;
  for (const auto& r : theirs) {
    if (auto w = waiting_.find(r.ref.event_id); w != waiting_.end()) w->second = false;
    if (r.ref.ts + kBanLookbackMs < newest) continue;
    learned += learn_hashes(batch, r.ref, r.hashes, Source::kBan, true).ok();
  }
  return learned;
}

Result<std::string> Classifier::learn_recent(Batch& batch, const std::string& event_id,
                                             Source source, bool spam) {
  std::lock_guard lock(mu_);
  const Remembered* r = recent(event_id);
  if (r == nullptr) return not_seen(event_id);
  if (auto w = waiting_.find(event_id); w != waiting_.end()) w->second = false;
  const Remembered copy = *r;
  return learn_hashes(batch, copy.ref, copy.hashes, source, spam);
}

Result<std::string> Classifier::learn_text(Batch& batch, const MessageRef& m, std::string_view body,
                                           Source source, bool spam) {
  if (body.empty()) return Error{"TYR_EMPTY", m.event_id + " has no text to learn from"};
  std::lock_guard lock(mu_);
  std::vector<FeatureHash> hashes;
  tokenize_into(body, hashes);
  if (auto w = waiting_.find(m.event_id); w != waiting_.end()) w->second = false;
  return learn_hashes(batch, m, hashes, source, spam);
}

std::optional<Classifier::Learned> Classifier::learned(const std::string& event_id) const {
  if (store_ == nullptr) return std::nullopt;
  auto seq = store_->get(Cf::kState, std::string(state_keys::kClassifierId) + event_id);
  if (!seq) return std::nullopt;
  uint64_t n = 0;
  try {
    n = std::stoull(*seq);
  } catch (...) {
    return std::nullopt;
  }
  auto v = store_->get(Cf::kState, example_key(n));
  if (!v) return std::nullopt;
  auto e = decode_example(*v);
  if (!e) return std::nullopt;
  return Learned{n, e->head.value("room", ""), e->head.value("label", "") == "spam",
                 std::move(e->hashes)};
}

uint64_t Classifier::record(Batch& batch, const MessageRef& m, std::span<const FeatureHash> hashes,
                            const char* source, bool spam, uint64_t undo) {
  const uint64_t seq = next_seq_++;
  nlohmann::json head = {{"event_id", m.event_id},
                         {"room", m.room},
                         {"source", source},
                         {"label", spam ? "spam" : "ham"},
                         {"ts", m.ts}};
  if (undo != 0) head["undo"] = undo;
  batch.put(Cf::kState, example_key(seq), encode_example(head, hashes));
  if (oldest_seq_ == 0) oldest_seq_ = seq;
  ++examples_;
  return seq;
}

Result<std::string> Classifier::learn_hashes(Batch& batch, const MessageRef& m,
                                             std::span<const FeatureHash> hashes, Source source,
                                             bool spam) {
  if (!options_.enabled) return Error{"TYR_DISABLED", "the classifier is off (classifier.enabled)"};
  if (hashes.empty()) return Error{"TYR_EMPTY", m.event_id + " has no text to learn from"};
  std::string note;
  // A moderator changing their mind (ham after spam) takes the first label back.
  if (auto prior = learned(m.event_id)) {
    if (prior->spam == spam) {
      return Error{"TYR_ALREADY", m.event_id + " is already learned as " + (spam ? "spam" : "ham")};
    }
    Scope& old = scope_for(prior->room);
    old.model.unlearn(prior->hashes, prior->spam);
    old.dirty = true;
    record(batch, MessageRef{m.event_id, prior->room, {}, m.ts}, prior->hashes, "undo", prior->spam,
           prior->seq);
    note = " (no longer " + std::string(prior->spam ? "spam" : "ham") + ")";
  }
  Scope& s = scope_for(m.room);
  s.model.learn(hashes, spam);
  s.dirty = true;
  const uint64_t seq = record(batch, m, hashes, source_name(source), spam, 0);
  batch.put(Cf::kState, std::string(state_keys::kClassifierId) + m.event_id, std::to_string(seq));
  last_learn_ms_ = tyr::now_ms();  // wall clock: flush waits for learning to go quiet
  ++learned_;
  return "learned " + m.event_id + " as " + (spam ? "spam" : "ham") + note + " (" +
         std::to_string(hashes.size()) + " features; the model now holds " +
         std::to_string(s.model.spam_count()) + " spam and " + std::to_string(s.model.ham_count()) +
         " ham)";
}

Result<std::string> Classifier::unlearn(Batch& batch, const std::string& event_id, int64_t now) {
  std::lock_guard lock(mu_);
  auto prior = learned(event_id);
  if (!prior)
    return Error{"TYR_NOT_LEARNED", event_id + " was not learned (or its record is gone)"};
  Scope& s = scope_for(prior->room);
  s.model.unlearn(prior->hashes, prior->spam);
  s.dirty = true;
  record(batch, MessageRef{event_id, prior->room, {}, now}, prior->hashes, "undo", prior->spam,
         prior->seq);
  batch.del(Cf::kState, std::string(state_keys::kClassifierId) + event_id);
  last_learn_ms_ = tyr::now_ms();  // wall clock: flush waits for learning to go quiet
  return "took back " + event_id + " (it was learned as " + (prior->spam ? "spam" : "ham") +
         "; the model now holds " + std::to_string(s.model.spam_count()) + " spam and " +
         std::to_string(s.model.ham_count()) + " ham)";
}

size_t Classifier::learn_due_ham(Batch& batch, int64_t now_ms) {
  std::lock_guard lock(mu_);
  size_t learned = 0;
  while (!ham_waiting_.empty() && ham_waiting_.front().ref.ts + options_.ham_after_ms <= now_ms) {
    Waiting w = std::move(ham_waiting_.front());
    ham_waiting_.pop_front();
    auto it = waiting_.find(w.ref.event_id);
    const bool still = it != waiting_.end() && it->second;
    if (it != waiting_.end()) waiting_.erase(it);
    if (!still) continue;
    auto& [hour, count] = ham_hour_[w.ref.room];
    if (hour != now_ms / 3'600'000) hour = now_ms / 3'600'000, count = 0;
    if (count >= options_.ham_per_room_hour) continue;
    if (learn_hashes(batch, w.ref, w.hashes, Source::kUnredacted, false).ok()) {
      ++count;
      ++learned;
    }
  }
  if (ham_hour_.size() > 4096) ham_hour_.clear();
  return learned;
}

void Classifier::flush(Batch& batch, int64_t now_ms, bool force) {
  std::lock_guard lock(mu_);
  if (!force && now_ms - last_learn_ms_ < kSaveQuietMs) return;
  uint64_t saved_all = next_seq_ - 1;
  for (auto& [key, s] : scopes_) {
    if (s.dirty) {
      s.saved_seq = next_seq_ - 1;
      batch.put(Cf::kState, std::string(state_keys::kClassifierModel) + key,
                encode_seq(s.saved_seq) + s.model.serialize());
      s.dirty = false;
    }
    saved_all = std::min(saved_all, s.saved_seq);
  }
  // Records past the bound go, oldest first, once every model includes them.
  if (examples_ > options_.max_examples && oldest_seq_ != 0 && store_ != nullptr) {
    const uint64_t drop_to =
        std::min(saved_all + 1, oldest_seq_ + (examples_ - options_.max_examples));
    for (uint64_t seq = oldest_seq_; seq < drop_to; ++seq) {
      if (auto v = store_->get(Cf::kState, example_key(seq))) {
        if (auto e = decode_example(*v); e && !e->head.contains("undo")) {
          const std::string id_key =
              std::string(state_keys::kClassifierId) + e->head.value("event_id", "");
          if (store_->get(Cf::kState, id_key) == std::to_string(seq)) batch.del(Cf::kState, id_key);
        }
      }
      batch.del(Cf::kState, example_key(seq));
      --examples_;
    }
    oldest_seq_ = drop_to;
  }
}

std::vector<std::string> Classifier::stats() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  if (!options_.enabled) return {"Classifier: off"};
  auto line = [&](const std::string& name, const Scope& s) {
    const bool ready = s.model.ready(options_.min_spam, options_.min_ham);
    return name + std::to_string(s.model.spam_count()) + " spam and " +
           std::to_string(s.model.ham_count()) + " ham learned, " + std::to_string(s.model.size()) +
           " features (" + fixed(static_cast<double>(s.model.memory_bytes()) / 1e6, 1) + " MB); " +
           (ready ? "enforcing"
                  : "shadow until " + std::to_string(options_.min_spam) + " spam and " +
                        std::to_string(options_.min_ham) + " ham");
  };
  if (scopes_.empty()) {
    out.push_back("Classifier: nothing learned yet; shadow until " +
                  std::to_string(options_.min_spam) + " spam and " +
                  std::to_string(options_.min_ham) + " ham");
  }
  for (const auto& [key, s] : scopes_)
    out.push_back(line(key.empty() ? "Classifier: " : "Classifier (" + key + "): ", s));
  out.push_back("Classifier examples: " + std::to_string(examples_) +
                " recorded (undo possible), " + std::to_string(recent_.size()) +
                " recent messages remembered, " + std::to_string(ham_waiting_.size()) +
                " waiting to count as ham");
  return out;
}

}  // namespace tyr::engine::classifier
