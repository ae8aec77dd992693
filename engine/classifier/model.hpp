#pragma once
// The classifier's model: naive Bayes over hashed features, with Gary Robinson's f(w) per
// feature and Fisher's chi-square combining, as SpamBayes does (docs/classifier.md says why
// this and not logistic regression, with figures).
//
//   Model model;                               // ModelOptions: size bound, decay
//   model.learn(tokens.hashes(), true);        // a moderator's label
//   model.unlearn(tokens.hashes(), true);      // …taken back
//   Classification c;                          // reused across events: no allocation
//   model.classify(tokens.hashes(), c);        // c.probability, c.top() (strongest clues)
//   std::string blob = model.serialize();      // into RocksDB; Model::deserialize(blob)
//
// The model stores per feature only its hash, how many learned spam and ham messages had it,
// and when it last learned one: never text. It holds at most `max_features` features (16 bytes
// each in a table kept at most 70 % full, which doubles as it fills: 10^6 features take
// 22.9 MB, and a doubling briefly needs 1.5 times its final size); a new feature beyond
// that evicts the weakest (fewest messages, then least recently learned) of the 32 slots after
// its home slot. When either class's total reaches `decay_at`, every count and both totals are
// halved and features left with no count are dropped, so old evidence fades.
//
// Not thread-safe for writing: learn/unlearn need exclusive access; classify is const and may
// run on several threads at once, each with its own Classification.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/classifier/tokenizer.hpp"
#include "engine/core/result.hpp"

namespace tyr::engine::classifier {

struct ModelOptions {
  uint32_t max_features = 1'000'000;
  // At most 65535: per-feature counts are 16-bit and never exceed their class's total.
  uint32_t decay_at = 30'000;
};

// SpamBayes's classifier settings: its defaults but s, which docs/classifier.md measured.
struct ClassifyOptions {
  double unknown_word_strength = 1.0;  // s in f(w) = (s·x + n·p(w)) / (s + n); SpamBayes 0.45
  double unknown_word_prob = 0.5;      // x
  double minimum_prob_strength = 0.1;  // features with |f(w) − 0.5| below this are ignored
  uint32_t max_discriminators = 150;   // the strongest this many features are combined
};

// One feature's part in a score: weight = ln(f / (1 − f)), positive for spam.
struct Clue {
  FeatureHash hash;
  double weight;
  uint32_t spam, ham;  // learned messages of each class that had this feature
};

struct Classification {
  double probability = 0.5;  // of spam; 0.5 when the model cannot tell (or knows nothing)
  double spam_evidence = 0;  // S and H of the chi-square combining, each in [0, 1]
  double ham_evidence = 0;
  // The features that counted, the `explain` strongest first (by |weight|), then the rest.
  std::vector<Clue> clues;
  size_t explained = 0;
  std::span<const Clue> top() const { return {clues.data(), explained}; }
};

class Model {
 public:
  explicit Model(ModelOptions options = {});

  // `features` must be distinct (TokenList::hashes() is).
  void learn(std::span<const FeatureHash> features, bool is_spam);
  // Takes back one learn() of the same features and class. Counts never go below zero, so
  // unlearning after a decay, or what was never learned, is harmless.
  void unlearn(std::span<const FeatureHash> features, bool is_spam);

  void classify(std::span<const FeatureHash> features, Classification& out, size_t explain = 5,
                const ClassifyOptions& options = {}) const;
  Classification classify(std::span<const FeatureHash> features, size_t explain = 5) const;

  uint32_t spam_count() const { return spam_; }
  uint32_t ham_count() const { return ham_; }
  bool ready(uint32_t min_spam, uint32_t min_ham) const {
    return spam_ >= min_spam && ham_ >= min_ham;
  }
  size_t size() const { return size_; }
  const ModelOptions& options() const { return options_; }
  // Bytes the model's table takes now (at most 16 × max_features / 0.7).
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot) + sizeof(*this); }

  // Compact, versioned byte string (header, 16 bytes per feature, checksum).
  std::string serialize() const;
  // A truncated, corrupted or foreign blob is an Error (code TYR_MODEL) saying what is wrong.
  static Result<Model> deserialize(std::string_view blob);

 private:
  struct Slot {
    uint64_t key;  // the feature hash; 0 marks an empty slot (hash 0 is stored as 1)
    uint16_t spam, ham;
    uint32_t stamp;  // clock_ when a message with this feature was last learned
  };
  static_assert(sizeof(Slot) == 16);

  // Lemire's multiply-shift range reduction: the table need not be a power of two.
  size_t home(uint64_t key) const {
    return static_cast<size_t>(((key >> 32) * slots_.size()) >> 32);
  }
  size_t next(size_t i) const { return i + 1 == slots_.size() ? 0 : i + 1; }
  const Slot* find(uint64_t key) const;
  Slot& find_or_insert(uint64_t key);
  void erase(size_t i);
  void evict_near(size_t start);
  void decay();
  void rehash(size_t slots);

  ModelOptions options_;
  std::vector<Slot> slots_;
  size_t max_slots_ = 0;  // the table's size at the bound: max_features / 0.7
  size_t size_ = 0;
  uint32_t spam_ = 0, ham_ = 0;
  uint32_t clock_ = 0;  // messages learned, for the least-recently-learned eviction order
};

}  // namespace tyr::engine::classifier
