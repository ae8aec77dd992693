#include "engine/classifier/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tyr::engine::classifier {

namespace {

// Bounds that keep a crafted blob from asking for an absurd table.
constexpr uint32_t kMaxFeaturesLimit = 1u << 26;
constexpr uint32_t kMaxDecayAt = 65535;
// How many slots after a new feature's home slot eviction considers.
constexpr size_t kEvictWindow = 32;
// A new model's table; it doubles as features come, so a small model stays in cache.
constexpr size_t kInitialSlots = 1024;
// Lookups are issued this many at a time, after prefetching their home slots, so that the
// cache misses of a large model overlap instead of queueing.
constexpr size_t kPrefetchBatch = 16;

constexpr char kMagic[4] = {'T', 'Y', 'R', 'C'};
constexpr uint16_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 32;
constexpr size_t kEntryBytes = 16;
constexpr size_t kChecksumBytes = 8;

size_t table_size(uint32_t max_features) {
  return std::max<size_t>(16, static_cast<size_t>(max_features) * 10 / 7 + 1);
}

// Chi-square survival function for an even number of degrees of freedom (SpamBayes chi2Q).
double chi2q(double x2, uint32_t v) {
  const double m = x2 / 2;
  double term = std::exp(-m), sum = term;
  for (uint32_t i = 1; i < v / 2; ++i) {
    term *= m / i;
    sum += term;
  }
  return std::min(sum, 1.0);
}

void put16(std::string& s, uint16_t v) {
  for (int i = 0; i < 2; ++i) s += static_cast<char>(v >> (8 * i));
}
void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s += static_cast<char>(v >> (8 * i));
}
void put64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s += static_cast<char>(v >> (8 * i));
}
uint64_t get(std::string_view s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(s[at + i])} << (8 * i);
  return v;
}

// FNV-1a over 8-byte words: a checksum against truncation and bit rot, not an adversary.
uint64_t checksum(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) h = mix64((h ^ get(s, i, 8)) * 0x100000001b3ULL);
  for (; i < s.size(); ++i) h = (h ^ static_cast<unsigned char>(s[i])) * 0x100000001b3ULL;
  return mix64(h);
}

Error model_error(std::string message) {
  return Error{"TYR_MODEL", "classifier model: " + std::move(message)};
}

}  // namespace

Model::Model(ModelOptions options) : options_(options) {
  options_.max_features = std::clamp<uint32_t>(options_.max_features, 1, kMaxFeaturesLimit);
  options_.decay_at = std::clamp<uint32_t>(options_.decay_at, 2, kMaxDecayAt);
  max_slots_ = table_size(options_.max_features);
  slots_.assign(std::min(max_slots_, kInitialSlots), Slot{});
}

void Model::rehash(size_t slots) {
  std::vector<Slot> old(slots, Slot{});
  old.swap(slots_);
  for (const Slot& s : old) {
    if (s.key == 0) continue;
    size_t i = home(s.key);
    while (slots_[i].key != 0) i = next(i);
    slots_[i] = s;
  }
}

const Model::Slot* Model::find(uint64_t key) const {
  key = key == 0 ? 1 : key;
  for (size_t i = home(key);; i = next(i)) {
    if (slots_[i].key == key) return &slots_[i];
    if (slots_[i].key == 0) return nullptr;
  }
}

Model::Slot& Model::find_or_insert(uint64_t key) {
  key = key == 0 ? 1 : key;
  // Grow before the table is 70 % full, doubling up to the size the bound needs.
  if (slots_.size() < max_slots_ && 10 * (size_ + 1) > 7 * slots_.size()) {
    rehash(std::min(max_slots_, 2 * slots_.size()));
  }
  for (size_t i = home(key);; i = next(i)) {
    if (slots_[i].key == key) return slots_[i];
    if (slots_[i].key == 0) {
      if (size_ < options_.max_features) {
        slots_[i] = Slot{key, 0, 0, clock_};
        ++size_;
        return slots_[i];
      }
      // Full: make room near the new feature's home, then look again (the erase may have
      // moved entries, so the empty slot found above is not necessarily still the right one).
      evict_near(home(key));
      i = home(key);
      for (;; i = next(i)) {
        if (slots_[i].key == 0) break;
      }
      slots_[i] = Slot{key, 0, 0, clock_};
      ++size_;
      return slots_[i];
    }
  }
}

// Removes the weakest feature among the kEvictWindow occupied slots from `start` on: the one
// with the fewest learned messages, the least recently learned among equals.
void Model::evict_near(size_t start) {
  size_t victim = SIZE_MAX, seen = 0;
  for (size_t i = start; seen < kEvictWindow; i = next(i)) {
    const Slot& s = slots_[i];
    if (s.key == 0) continue;
    ++seen;
    if (victim == SIZE_MAX) {
      victim = i;
      continue;
    }
    const Slot& v = slots_[victim];
    const uint32_t sn = s.spam + s.ham, vn = v.spam + v.ham;
    // Stamps are compared as ages so that the clock's wrap-around does not matter.
    if (sn < vn || (sn == vn && clock_ - s.stamp > clock_ - v.stamp)) victim = i;
  }
  erase(victim);
}

// Backward-shift deletion: entries after i in its cluster that may live at i move back, so
// every remaining entry stays reachable from its home slot without tombstones.
void Model::erase(size_t i) {
  for (size_t j = next(i);; j = next(j)) {
    if (slots_[j].key == 0) break;
    const size_t k = home(slots_[j].key);
    const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = Slot{};
  --size_;
}

void Model::learn(std::span<const FeatureHash> features, bool is_spam) {
  ++clock_;
  uint32_t& total = is_spam ? spam_ : ham_;
  ++total;
  for (FeatureHash h : features) {
    Slot& s = find_or_insert(h);
    uint16_t& count = is_spam ? s.spam : s.ham;
    // A count never exceeds its class's total, which decay keeps within 16 bits.
    if (count < UINT16_MAX) ++count;
    s.stamp = clock_;
  }
  if (total >= options_.decay_at) decay();
}

void Model::unlearn(std::span<const FeatureHash> features, bool is_spam) {
  uint32_t& total = is_spam ? spam_ : ham_;
  if (total > 0) --total;
  for (FeatureHash h : features) {
    const Slot* found = find(h);
    if (found == nullptr) continue;
    const auto i = static_cast<size_t>(found - slots_.data());
    uint16_t& count = is_spam ? slots_[i].spam : slots_[i].ham;
    if (count > 0) --count;
    if (slots_[i].spam == 0 && slots_[i].ham == 0) erase(i);
  }
}

void Model::decay() {
  spam_ /= 2;
  ham_ /= 2;
  for (Slot& s : slots_) {
    s.spam /= 2;
    s.ham /= 2;
  }
  // Erasing moves later entries of a cluster into slot i, so slot i is looked at again; an
  // entry a wrapped cluster moves to the end is looked at twice, which is harmless.
  for (size_t i = 0; i < slots_.size(); ++i) {
    while (slots_[i].key != 0 && slots_[i].spam == 0 && slots_[i].ham == 0) erase(i);
  }
}

void Model::classify(std::span<const FeatureHash> features, Classification& out, size_t explain,
                     const ClassifyOptions& opt) const {
  out.clues.clear();
  out.probability = 0.5;
  out.spam_evidence = out.ham_evidence = 0;
  out.explained = 0;
  if (spam_ == 0 || ham_ == 0) return;
  const double s = opt.unknown_word_strength, x = opt.unknown_word_prob;
  const double inv_spam = 1.0 / spam_, inv_ham = 1.0 / ham_;
  double sum_ln_f = 0, sum_ln_1f = 0;  // Σ ln f and Σ ln(1 − f) over the clues
  for (size_t batch = 0; batch < features.size(); batch += kPrefetchBatch) {
    const size_t end = std::min(features.size(), batch + kPrefetchBatch);
    for (size_t i = batch; i < end; ++i) {
      __builtin_prefetch(&slots_[home(features[i] == 0 ? 1 : features[i])]);
    }
    for (size_t i = batch; i < end; ++i) {
      const Slot* slot = find(features[i]);
      const uint32_t ns = slot ? slot->spam : 0, nh = slot ? slot->ham : 0;
      const double n = ns + nh;
      double f = x;
      if (n > 0) {
        // Robinson: p(w) from the per-class frequencies, pulled towards x when n is small.
        const double sr = ns * inv_spam, hr = nh * inv_ham;
        f = (s * x + n * (sr / (sr + hr))) / (s + n);
      }
      if (std::abs(f - 0.5) < opt.minimum_prob_strength) continue;
      const double ln_f = std::log(f), ln_1f = std::log1p(-f);
      sum_ln_f += ln_f;
      sum_ln_1f += ln_1f;
      out.clues.push_back({features[i], ln_f - ln_1f, ns, nh});
    }
  }
  const auto stronger = [](const Clue& a, const Clue& b) {
    return std::abs(a.weight) > std::abs(b.weight);
  };
  if (out.clues.size() > opt.max_discriminators) {
    std::nth_element(out.clues.begin(), out.clues.begin() + opt.max_discriminators, out.clues.end(),
                     stronger);
    out.clues.resize(opt.max_discriminators);
    // The sums again over the clues kept: ln f = w − ln(1 + e^w), ln(1 − f) = −ln(1 + e^w).
    sum_ln_f = sum_ln_1f = 0;
    for (const Clue& c : out.clues) {
      const double ln1pe = c.weight > 0 ? c.weight + std::log1p(std::exp(-c.weight))
                                        : std::log1p(std::exp(c.weight));
      sum_ln_f += c.weight - ln1pe;
      sum_ln_1f -= ln1pe;
    }
  }
  if (out.clues.empty()) return;
  // Fisher's method on both tails: S from Σ ln(1 − f), H from Σ ln f (sums of logarithms, as
  // products of up to 150 small numbers would underflow).
  const auto n = static_cast<uint32_t>(2 * out.clues.size());
  out.spam_evidence = 1 - chi2q(-2 * sum_ln_1f, n);
  out.ham_evidence = 1 - chi2q(-2 * sum_ln_f, n);
  out.probability = (out.spam_evidence - out.ham_evidence + 1) / 2;
  out.explained = std::min(explain, out.clues.size());
  std::partial_sort(out.clues.begin(), out.clues.begin() + static_cast<ptrdiff_t>(out.explained),
                    out.clues.end(), stronger);
}

Classification Model::classify(std::span<const FeatureHash> features, size_t explain) const {
  Classification out;
  classify(features, out, explain);
  return out;
}

// Layout (little-endian): "TYRC", u16 format version, u16 tokenizer version, u32 max_features,
// u32 decay_at, u32 spam total, u32 ham total, u32 clock, u32 feature count; then per feature
// u64 hash, u16 spam, u16 ham, u32 stamp; then a u64 checksum of everything before it.
std::string Model::serialize() const {
  std::string out;
  out.reserve(kHeaderBytes + size_ * kEntryBytes + kChecksumBytes);
  out.append(kMagic, 4);
  put16(out, kFormatVersion);
  put16(out, kTokenizerVersion);
  for (uint32_t v : {options_.max_features, options_.decay_at, spam_, ham_, clock_,
                     static_cast<uint32_t>(size_)}) {
    put32(out, v);
  }
  for (const Slot& s : slots_) {
    if (s.key == 0) continue;
    put64(out, s.key);
    put16(out, s.spam);
    put16(out, s.ham);
    put32(out, s.stamp);
  }
  put64(out, checksum(out));
  return out;
}

Result<Model> Model::deserialize(std::string_view blob) {
  if (blob.size() < kHeaderBytes + kChecksumBytes) {
    return model_error("truncated: " + std::to_string(blob.size()) + " bytes, the header needs " +
                       std::to_string(kHeaderBytes + kChecksumBytes));
  }
  if (std::memcmp(blob.data(), kMagic, 4) != 0) return model_error("not a classifier model");
  if (const auto v = get(blob, 4, 2); v != kFormatVersion) {
    return model_error("format version " + std::to_string(v) + ", this build reads " +
                       std::to_string(kFormatVersion));
  }
  if (const auto v = get(blob, 6, 2); v != kTokenizerVersion) {
    return model_error("learned with tokenizer version " + std::to_string(v) +
                       ", this build's is " + std::to_string(kTokenizerVersion) +
                       "; learn it again");
  }
  const auto count = static_cast<uint32_t>(get(blob, 28, 4));
  const size_t expected = kHeaderBytes + size_t{count} * kEntryBytes + kChecksumBytes;
  if (blob.size() != expected) {
    return model_error((blob.size() < expected ? "truncated: " : "trailing bytes: ") +
                       std::to_string(blob.size()) + " bytes, " + std::to_string(count) +
                       " features need " + std::to_string(expected));
  }
  const std::string_view body = blob.substr(0, blob.size() - kChecksumBytes);
  if (checksum(body) != get(blob, body.size(), 8)) return model_error("checksum mismatch");
  ModelOptions options;
  options.max_features = static_cast<uint32_t>(get(blob, 8, 4));
  options.decay_at = static_cast<uint32_t>(get(blob, 12, 4));
  if (options.max_features == 0 || options.max_features > kMaxFeaturesLimit) {
    return model_error("max_features " + std::to_string(options.max_features) + " out of range");
  }
  if (options.decay_at < 2 || options.decay_at > kMaxDecayAt) {
    return model_error("decay_at " + std::to_string(options.decay_at) + " out of range");
  }
  if (count > options.max_features) {
    return model_error(std::to_string(count) + " features over the bound of " +
                       std::to_string(options.max_features));
  }
  Model model(options);
  // The entries come in table order, which would pile up at the front of a smaller table.
  size_t slots = model.slots_.size();
  while (slots < model.max_slots_ && 10 * size_t{count} > 7 * slots) slots *= 2;
  model.rehash(std::min(slots, model.max_slots_));
  model.spam_ = static_cast<uint32_t>(get(blob, 16, 4));
  model.ham_ = static_cast<uint32_t>(get(blob, 20, 4));
  model.clock_ = static_cast<uint32_t>(get(blob, 24, 4));
  for (size_t i = 0, at = kHeaderBytes; i < count; ++i, at += kEntryBytes) {
    const uint64_t key = get(blob, at, 8);
    const auto spam = static_cast<uint16_t>(get(blob, at + 8, 2));
    const auto ham = static_cast<uint16_t>(get(blob, at + 10, 2));
    const auto where = [i] { return "feature " + std::to_string(i) + ": "; };
    if (key == 0) return model_error(where() + "hash 0");
    if (spam > model.spam_ || ham > model.ham_ || spam + ham == 0) {
      return model_error(where() + "counts " + std::to_string(spam) + "/" + std::to_string(ham) +
                         " do not fit the totals " + std::to_string(model.spam_) + "/" +
                         std::to_string(model.ham_));
    }
    if (model.find(key) != nullptr) return model_error(where() + "duplicate hash");
    Slot& s = model.find_or_insert(key);
    s.spam = spam;
    s.ham = ham;
    s.stamp = static_cast<uint32_t>(get(blob, at + 12, 4));
  }
  return model;
}

}  // namespace tyr::engine::classifier
