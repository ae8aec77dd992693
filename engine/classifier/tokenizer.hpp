#pragma once
// The classifier's tokenizer: chat text → distinct 64-bit feature hashes (docs/classifier.md).
//
//   Tokenizer tok;                  // one per thread; keeps its buffers between messages
//   TokenList tokens;               // likewise
//   tok.tokenize(body, tokens);     // tokens.hashes() feeds Model::learn / Model::classify
//   tokens.describe(hash, body);    // "free entry", "host:bit.ly", "phone (11 digits)"…
//
// Features: lower-cased words; optionally orthogonal sparse bigrams (rspamd's OSB: each word
// paired with each of the next four, the distance part of the hash); URL hosts, their registrable
// domain and TLD; and shapes: words with their digits written '#' ("###p", "#####"), phone-like
// digit groups, a currency symbol next to a number, and buckets of upper-case ratio, link count and
// length. The model sees hashes only; the text stays with the caller, which is why a TokenList
// records where each hash came from, so that an explanation can quote the message in hand.
//
// Hashes are part of a stored model's format: changing what a feature hashes to, or which
// features exist, must bump kTokenizerVersion (a model learned by another version is refused).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tyr::engine::classifier {

using FeatureHash = uint64_t;

inline constexpr uint16_t kTokenizerVersion = 1;

enum class TokenKind : uint8_t {
  kWord,     // a lower-cased word, a CJK character or an emoji
  kPair,     // two words at most four apart (gap 1..4), in order; off by default
  kHost,     // a URL's host
  kDomain,   // the host's registrable domain ("example.co.uk")
  kTld,      // the host's last label
  kShape,    // a word with its digits written '#', when it has digits
  kPhone,    // digit groups that look like a phone number (value: digit count)
  kMoney,    // a currency symbol next to a number (the span covers both)
  kCaps,     // share of upper-case letters, in fifths (value 0..4)
  kLinks,    // number of links, 3 meaning three or more
  kLength,   // message length in code points, log2 bucket
  kLongWord  // a word of more than kMaxWordBytes bytes, which is not kept as a word
};

// Where a feature came from in the message text: byte spans [a_begin, a_end) and, for a pair,
// [b_begin, b_end); `value` is the gap of a pair or the bucket of a count.
struct TokenOrigin {
  TokenKind kind;
  uint8_t value;
  uint32_t a_begin, a_end;
  uint32_t b_begin, b_end;
};

class TokenList {
 public:
  std::span<const FeatureHash> hashes() const { return hashes_; }
  size_t size() const { return hashes_.size(); }
  const TokenOrigin& origin(size_t i) const { return origins_[i]; }
  // A readable name of the feature `hash` for explanations, built from `text` (the message this
  // list was made from): "prize", "claim … now", "host:bit.ly", "###p". Empty when the hash is
  // not one of this message's.
  std::string describe(FeatureHash hash, std::string_view text) const;

 private:
  friend class Tokenizer;
  std::vector<FeatureHash> hashes_;   // distinct
  std::vector<TokenOrigin> origins_;  // parallel to hashes_
};

class Tokenizer {
 public:
  // `pair_window` 0 emits no pairs (the default: with naive Bayes they cost accuracy, see
  // docs/classifier.md); 1..4 pairs each word with that many following ones (rspamd: 4). A
  // model must be learned and used with one setting.
  explicit Tokenizer(size_t pair_window = 0) : pair_window_(pair_window > 4 ? 4 : pair_window) {}

  // Words beyond this many are ignored (a hostile 64 KiB body costs no more than this).
  static constexpr size_t kMaxWords = 1000;
  // Longer words are not kept as words but as a kLongWord shape.
  static constexpr size_t kMaxWordBytes = 40;

  // Replaces `out` with the features of `text`. Any bytes are accepted: malformed UTF-8
  // separates words and no span ever ends inside a code point.
  void tokenize(std::string_view text, TokenList& out);

 private:
  struct Word {
    uint32_t begin, end;
    FeatureHash hash;
    bool all_digits;
  };
  void add(TokenList& out, FeatureHash h, const TokenOrigin& origin);
  size_t scan_url(std::string_view text, size_t i, TokenList& out);
  void add_word(std::string_view text, size_t begin, size_t end, TokenList& out);
  void add_numbers(std::string_view text, TokenList& out);

  size_t pair_window_;
  std::vector<Word> words_;
  // Open-addressed set of the hashes already in the list; a slot is live when its stamp is
  // the current message's, so nothing is cleared between messages.
  std::vector<FeatureHash> seen_keys_;
  std::vector<uint32_t> seen_stamps_;
  uint32_t stamp_ = 0;
  size_t links_ = 0;
};

// 64-bit finaliser (MurmurHash3's fmix64); every feature hash ends with it.
constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace tyr::engine::classifier
