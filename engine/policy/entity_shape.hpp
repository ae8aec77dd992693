#pragma once
// Internal to the policy index (index_tables.hpp) and to packing rules (rule_block.cpp): ASCII
// case folding, the one-byte-per-code-point reduction of entities and patterns (see
// policy_index.hpp), and how a rule is indexed, its Shape.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "engine/core/digest.hpp"
#include "engine/core/glob.hpp"
#include "engine/policy/policy_rule.hpp"

namespace tyr::engine::policy::index_detail {

// ---------------------------------------------------------------------------------------------
// ASCII case folding, eight bytes at a time.

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x80 * kOnes;

// Sets bit 0x20 in every byte that is 'A'..'Z'; bytes >= 0x80 are left alone.
inline uint64_t lower8(uint64_t w) {
  const uint64_t low7 = w & (0x7F * kOnes);
  const uint64_t at_least_a = low7 + (0x80 - 'A') * kOnes;  // no carries: at most 0x7F + 0x3F
  const uint64_t above_z = low7 + (0x80 - 'Z' - 1) * kOnes;
  const uint64_t upper = at_least_a & ~above_z & ~w & kHighBits;
  return w | (upper >> 2);
}

inline char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }

inline uint64_t load(const char* p, size_t n) {  // n <= 8; missing bytes are zero
  uint64_t w = 0;
  std::memcpy(&w, p, n);
  return w;
}

inline uint64_t mix(uint64_t h) {
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 31);
}

// Hash of the ASCII-lower-cased bytes; the low bits are good enough for power-of-two tables.
inline uint64_t fold_hash(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ s.size();
  for (size_t i = 0; i < s.size(); i += 8) {
    h = mix(h ^ lower8(load(s.data() + i, std::min<size_t>(8, s.size() - i))));
  }
  h ^= h >> 33;  // murmur3 finaliser
  h *= 0xFF51AFD7ED558CCDULL;
  return h ^ (h >> 33);
}

// `lowered` is already lower-case.
inline bool equal_folded8(const char* lowered, std::string_view text) {
  for (size_t i = 0; i < text.size(); i += 8) {
    const size_t n = std::min<size_t>(8, text.size() - i);
    if (load(lowered + i, n) != lower8(load(text.data() + i, n))) return false;
  }
  return true;
}

// Both sides folded: `key` may be a rule's own entity, in any case.
inline bool equal_folded_both(const char* key, std::string_view text) {
  for (size_t i = 0; i < text.size(); i += 8) {
    const size_t n = std::min<size_t>(8, text.size() - i);
    if (lower8(load(key + i, n)) != lower8(load(text.data() + i, n))) return false;
  }
  return true;
}

inline size_t table_capacity(size_t entries) {  // a power of two, at most half full
  size_t capacity = 16;
  while (capacity < entries * 2) capacity *= 2;
  return capacity;
}

inline bool is_ascii(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    if (load(s.data() + i, 8) & kHighBits) return false;
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The one-byte-per-code-point reduction (see the header).

constexpr std::string_view kKelvinSign = "\xE2\x84\xAA";  // U+212A, folds with 'k'
constexpr std::string_view kLongS = "\xC5\xBF";           // U+017F, folds with 's'

// Length of the UTF-8 sequence RE2's `.` accepts at `lead`, or 0. RE2 is deliberately loose
// (overlong E0/F0 forms, surrogates, F4 beyond U+10FFFF), and so must this be.
inline size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

struct Text {
  std::string_view reduced;      // one byte per code point
  bool other_non_ascii = false;  // a code point that became 0x80
  bool newline = false;
};

// nullopt when RE2 cannot read `s` as UTF-8. `buf` holds the reduction for non-ASCII input.
inline std::optional<Text> reduce_input(std::string_view s, std::string& buf) {
  Text t;
  if (is_ascii(s)) {
    t.reduced = s;
    t.newline = s.find('\n') != std::string_view::npos;
    return t;
  }
  buf.clear();
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const size_t len = sequence_length(lead);
    if (len == 0 || i + len > s.size()) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return std::nullopt;
    }
    const std::string_view seq = s.substr(i, len);
    if (len == 1) {
      buf.push_back(s[i]);
      if (s[i] == '\n') t.newline = true;
    } else if (seq == kKelvinSign) {
      buf.push_back('k');
    } else if (seq == kLongS) {
      buf.push_back('s');
    } else {
      buf.push_back('\x80');
      t.other_non_ascii = true;
    }
    i += len;
  }
  t.reduced = buf;
  return t;
}

// A pattern's reduction: ASCII lower-cased, Kelvin sign and long s replaced, every other byte
// kept (so a pattern with other non-ASCII characters, or broken UTF-8, stays non-ASCII).
inline std::string reduce_pattern(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const size_t len = lead < 0x80 ? 1 : std::max<size_t>(1, sequence_length(lead));
    const std::string_view seq = s.substr(i, len);
    if (len == 1) {
      out.push_back(lower(s[i]));
    } else if (seq == kKelvinSign) {
      out.push_back('k');
    } else if (seq == kLongS) {
      out.push_back('s');
    } else {
      out.append(seq);
    }
    i += seq.size();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// How a rule is indexed.

enum class Shape : uint8_t {
  kLiteral,      // ASCII after reduction, no wildcard
  kGlob,         // ASCII after reduction, with wildcards
  kUnicode,      // other non-ASCII characters (or broken UTF-8): RE2
  kHashed,       // MSC4205 sha256
  kUnknown,      // unknown recommendation: never matched
  kUnmatchable,  // no entity and no usable hash
};

// `Rule`: PolicyRule or PolicyRuleView.
template <class Rule>
Shape shape_of(const Rule& rule) {
  if (rule.recommendation == Recommendation::kUnknown) return Shape::kUnknown;
  if (!rule.entity.empty()) {
    if (is_ascii(rule.entity)) return is_glob(rule.entity) ? Shape::kGlob : Shape::kLiteral;
    const std::string reduced = reduce_pattern(rule.entity);
    if (!is_ascii(reduced)) return Shape::kUnicode;
    return is_glob(reduced) ? Shape::kGlob : Shape::kLiteral;
  }
  if (!rule.sha256.empty() && decode_sha256_base64(rule.sha256)) return Shape::kHashed;
  return Shape::kUnmatchable;
}

}  // namespace tyr::engine::policy::index_detail
