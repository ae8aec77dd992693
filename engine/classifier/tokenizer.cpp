#include "engine/classifier/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <bit>

#include "engine/core/utf8.hpp"

namespace tyr::engine::classifier {

namespace {

// Most tokens a message yields: eight per word (the word, its shape, two money tokens, four
// pairs) and the whole-message shapes. The dedupe table is twice this at most.
constexpr size_t kMaxTokens = 8 * Tokenizer::kMaxWords + 64;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;

constexpr uint64_t kind_seed(TokenKind k) {
  return mix64(0x7479720000000000ULL + static_cast<uint64_t>(k) * 0x9E3779B97F4A7C15ULL);
}
constexpr FeatureHash value_hash(TokenKind k, uint64_t value) {
  return mix64(kind_seed(k) ^ (value * kFnvPrime + 1));
}

constexpr bool ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// Scripts written without spaces: each character is a word of its own (and pairs join them).
constexpr bool single_char_word(char32_t c) {
  return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0x20000 && c <= 0x2FFFF) || (c >= 0x1F000 && c <= 0x1FAFF) ||
         (c >= 0x2600 && c <= 0x27BF) || (c >= 0x2B00 && c <= 0x2BFF);
}

// Letters, digits and marks continue a word; punctuation, symbols, spaces, controls and U+FFFD
// (what a malformed byte decodes to) end it.
constexpr bool word_char(char32_t c) {
  if (c < 0x80) return ascii_alnum(static_cast<unsigned char>(c));
  if (c < 0xC0 || c == 0xD7 || c == 0xF7) return false;
  if (c >= 0x2000 && c <= 0x2BFF) return false;  // punctuation, currency, arrows, dingbats
  if (c >= 0xD800 && c <= 0xDFFF) return false;  // surrogates (decode_utf8 lets them through)
  if (c >= 0x3000 && c <= 0x303F) return false;  // CJK punctuation
  if (c >= 0xFE00 && c <= 0xFE0F) return false;  // variation selectors
  if (c >= 0xFE30 && c <= 0xFE4F) return false;
  if ((c >= 0xFF00 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20)) return false;
  if (c >= 0xFFF0 && c <= 0xFFFF) return false;
  if (c >= 0xE0000) return false;  // tags
  return !single_char_word(c);
}

// Simple case folding for the scripts chat mostly uses: ASCII, Latin-1, Latin Extended-A,
// Greek and Cyrillic. Enough to make "PRIZE", "Prize" and "prize" one word; "ẞ"-style
// special cases are left alone.
constexpr bool is_upper(char32_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
         (c >= 0x100 && c <= 0x17F && c % 2 == 0) || (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) ||
         (c >= 0x400 && c <= 0x42F);
}
constexpr char32_t fold(char32_t c) {
  if (!is_upper(c)) return c == 0x2019 ? U'\'' : c;
  if (c >= 0x100 && c <= 0x17F) return c + 1;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c + 0x20;
}
constexpr bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// `text` folded to lower case; with `digits_as_hash`, every digit written '#'.
std::string lower_text(std::string_view text, bool digits_as_hash) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    char32_t c;
    i += decode_utf8(text, i, c);
    // Explanations end up in JSON: no surrogates, nothing above U+10FFFF.
    if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = kReplacementChar;
    append_utf8(out, digits_as_hash && is_digit(c) ? U'#' : fold(c));
  }
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (ascii_lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

bool equals_ci(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_ci(a, b);
}

// Top-level domains a link without "http://" or "www." may end in (chat writes "bit.ly/x").
constexpr std::array<std::string_view, 26> kBareTlds = {
    "com", "net", "org",  "info",   "biz",  "io",  "co",   "uk",   "me",
    "ly",  "gl",  "xyz",  "ru",     "de",   "tv",  "us",   "eu",   "app",
    "cc",  "ws",  "club", "online", "site", "top", "link", "click"};

// Second-level labels under which registrations happen one level down ("example.co.uk").
constexpr std::array<std::string_view, 7> kSecondLevel = {"co", "com", "net", "org",
                                                          "ac", "gov", "edu"};

FeatureHash hash_ci(std::string_view s, TokenKind kind) {
  uint64_t h = kFnvBasis;
  for (char c : s) h = (h ^ static_cast<unsigned char>(ascii_lower(c))) * kFnvPrime;
  return mix64(h ^ kind_seed(kind));
}

// Currency symbols, as their UTF-8 bytes; a match sets the money token's symbol.
constexpr std::array<std::string_view, 6> kCurrencies = {
    "$", "\xC2\xA3", "\xE2\x82\xAC", "\xC2\xA5", "\xE2\x82\xB9", "\xE2\x82\xBF"};

// The currency symbol ending at `end` (a space between allowed): its index + 1, or 0.
// On a match, `end` moves back to where the symbol begins.
size_t currency_before(std::string_view text, size_t& end) {
  size_t p = end;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t k = 0; k < kCurrencies.size(); ++k) {
      const auto& sym = kCurrencies[k];
      if (p >= sym.size() && text.substr(p - sym.size(), sym.size()) == sym) {
        end = p - sym.size();
        return k + 1;
      }
    }
    if (p == 0 || text[p - 1] != ' ') return 0;
    --p;
  }
  return 0;
}

// On a match, `begin` moves past the symbol.
size_t currency_after(std::string_view text, size_t& begin) {
  size_t p = begin < text.size() && text[begin] == ' ' ? begin + 1 : begin;
  for (size_t k = 0; k < kCurrencies.size(); ++k) {
    if (text.substr(p).starts_with(kCurrencies[k])) {
      begin = p + kCurrencies[k].size();
      return k + 1;
    }
  }
  return 0;
}

}  // namespace

void Tokenizer::add(TokenList& out, FeatureHash h, const TokenOrigin& origin) {
  if (out.hashes_.size() >= std::min(kMaxTokens, seen_keys_.size() / 2)) return;
  const size_t mask = seen_keys_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    if (seen_stamps_[i] != stamp_) {
      seen_stamps_[i] = stamp_;
      seen_keys_[i] = h;
      out.hashes_.push_back(h);
      out.origins_.push_back(origin);
      return;
    }
    if (seen_keys_[i] == h) return;
  }
}

void Tokenizer::tokenize(std::string_view text, TokenList& out) {
  out.hashes_.clear();
  out.origins_.clear();
  words_.clear();
  links_ = 0;
  // Spans are uint32_t; the engine caps bodies far below this, and the rest is ignored.
  if (text.size() > UINT32_MAX / 2) text = text.substr(0, UINT32_MAX / 2);
  const size_t want = std::bit_ceil(2 * std::min(kMaxTokens, 8 * text.size() + 64));
  if (seen_keys_.size() < want) {
    seen_keys_.assign(want, 0);
    seen_stamps_.assign(want, 0);
    stamp_ = 0;
  }
  if (++stamp_ == 0) {
    std::fill(seen_stamps_.begin(), seen_stamps_.end(), 0);
    stamp_ = 1;
  }

  size_t letters = 0, upper = 0, code_points = 0;
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (ascii_alnum(b) && (i == 0 || (!ascii_alnum(static_cast<unsigned char>(text[i - 1])) &&
                                      text[i - 1] != '.' && text[i - 1] != '@'))) {
      if (const size_t end = scan_url(text, i, out); end > i) {
        code_points += end - i;
        i = end;
        continue;
      }
    }
    char32_t c;
    size_t len = decode_utf8(text, i, c);
    ++code_points;
    if (word_char(c)) {
      const size_t begin = i;
      size_t j = i + len;
      while (j < text.size()) {
        len = decode_utf8(text, j, c);
        if (word_char(c)) {
          if (is_upper(c)) ++upper;
          if (!is_digit(c)) ++letters;
        } else if (c == '\'' || c == 0x2019) {
          char32_t next;
          if (j + len >= text.size()) break;
          decode_utf8(text, j + len, next);
          if (!word_char(next)) break;
        } else {
          break;
        }
        ++code_points;
        j += len;
      }
      // The loop above counted from the second character on; count the first.
      char32_t first;
      decode_utf8(text, begin, first);
      if (is_upper(first)) ++upper;
      if (!is_digit(first)) ++letters;
      add_word(text, begin, j, out);
      i = j;
    } else {
      if (single_char_word(c)) add_word(text, i, i + len, out);
      i += len;
    }
  }

  // Orthogonal sparse bigrams: each word with each of the next four, the distance hashed in.
  for (size_t i = 0; i < words_.size(); ++i) {
    for (size_t gap = 1; gap <= pair_window_ && i + gap < words_.size(); ++gap) {
      const Word& a = words_[i];
      const Word& b = words_[i + gap];
      const FeatureHash h = mix64(a.hash * 0x9E3779B97F4A7C15ULL ^ mix64(b.hash + gap));
      add(out, h, {TokenKind::kPair, static_cast<uint8_t>(gap), a.begin, a.end, b.begin, b.end});
    }
  }
  add_numbers(text, out);

  if (letters >= 6) {
    const auto fifth = static_cast<uint8_t>(std::min<size_t>(4, upper * 5 / letters));
    add(out, value_hash(TokenKind::kCaps, fifth), {TokenKind::kCaps, fifth, 0, 0, 0, 0});
  }
  const auto links = static_cast<uint8_t>(std::min<size_t>(links_, 3));
  add(out, value_hash(TokenKind::kLinks, links), {TokenKind::kLinks, links, 0, 0, 0, 0});
  const auto length = static_cast<uint8_t>(std::min<size_t>(std::bit_width(code_points), 10));
  add(out, value_hash(TokenKind::kLength, length), {TokenKind::kLength, length, 0, 0, 0, 0});
}

void Tokenizer::add_word(std::string_view text, size_t begin, size_t end, TokenList& out) {
  const auto b32 = static_cast<uint32_t>(begin), e32 = static_cast<uint32_t>(end);
  if (words_.size() >= kMaxWords) return;
  if (end - begin > kMaxWordBytes) {
    add(out, value_hash(TokenKind::kLongWord, 0), {TokenKind::kLongWord, 0, b32, e32, 0, 0});
    return;
  }
  uint64_t word = kFnvBasis, shape = kFnvBasis;
  bool digits = false, all_digits = true;
  for (size_t i = begin; i < end;) {
    char32_t c;
    i += decode_utf8(text, i, c);
    c = fold(c);
    word = (word ^ c) * kFnvPrime;
    const bool digit = is_digit(c);
    shape = (shape ^ (digit ? U'#' : c)) * kFnvPrime;
    digits = digits || digit;
    all_digits = all_digits && digit;
  }
  const FeatureHash h = mix64(word ^ kind_seed(TokenKind::kWord));
  add(out, h, {TokenKind::kWord, 0, b32, e32, 0, 0});
  if (digits) {
    add(out, mix64(shape ^ kind_seed(TokenKind::kShape)), {TokenKind::kShape, 0, b32, e32, 0, 0});
  }
  words_.push_back({b32, e32, h, all_digits});
}

// Phone numbers are digit groups joined by one or two of " -.()" ("07712 345678",
// "+44 20 7946 0958"); money is a currency symbol before or after a number.
void Tokenizer::add_numbers(std::string_view text, TokenList& out) {
  for (size_t i = 0; i < words_.size();) {
    if (!words_[i].all_digits) {
      ++i;
      continue;
    }
    size_t j = i, digits = words_[i].end - words_[i].begin;
    while (j + 1 < words_.size() && words_[j + 1].all_digits) {
      const std::string_view gap = text.substr(words_[j].end, words_[j + 1].begin - words_[j].end);
      if (gap.empty() || gap.size() > 2 || gap.find_first_not_of(" -.()") != gap.npos) break;
      ++j;
      digits += words_[j].end - words_[j].begin;
    }
    const bool plus = words_[i].begin > 0 && text[words_[i].begin - 1] == '+';
    if (digits >= 8 && digits <= 15 && (j > i || plus)) {
      add(out, value_hash(TokenKind::kPhone, digits),
          {TokenKind::kPhone, static_cast<uint8_t>(digits), words_[i].begin, words_[j].end, 0, 0});
    }
    i = j + 1;
  }
  for (const Word& w : words_) {
    if (!is_digit(static_cast<unsigned char>(text[w.begin]))) continue;
    size_t begin = w.begin, end = w.end;
    size_t symbol = currency_before(text, begin);
    if (symbol == 0) symbol = currency_after(text, end);
    if (symbol == 0) continue;
    size_t digits = 0;
    while (w.begin + digits < w.end && is_digit(static_cast<unsigned char>(text[w.begin + digits])))
      ++digits;
    const auto b32 = static_cast<uint32_t>(begin), e32 = static_cast<uint32_t>(end);
    add(out, value_hash(TokenKind::kMoney, symbol * 64 + std::min<size_t>(digits, 63)),
        {TokenKind::kMoney, 1, b32, e32, 0, 0});
    add(out, value_hash(TokenKind::kMoney, 0), {TokenKind::kMoney, 0, b32, e32, 0, 0});
  }
}

// A link at text[i]: "http(s)://host…", "www.host…" or a bare "name.tld" with a TLD from
// kBareTlds. Adds its host, registrable domain and TLD and returns where the host ends, so the
// path is read as words; returns i when there is no link here.
size_t Tokenizer::scan_url(std::string_view text, size_t i, TokenList& out) {
  const std::string_view rest = text.substr(i);
  size_t p = starts_with_ci(rest, "https://") ? 8 : starts_with_ci(rest, "http://") ? 7 : 0;
  const bool scheme = p != 0;
  const size_t host_begin = i + p;
  size_t end = host_begin;
  while (end < text.size()) {
    const auto c = static_cast<unsigned char>(text[end]);
    // Past a scheme, a host may be an IDN: its non-ASCII bytes are whole code points, since
    // the host only ever ends at an ASCII byte or at the end of the text.
    if (ascii_alnum(c) || c == '-' || c == '.' || (scheme && c >= 0x80)) {
      ++end;
    } else {
      break;
    }
  }
  while (end > host_begin && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
  const std::string_view host = text.substr(host_begin, end - host_begin);
  const size_t last_dot = host.rfind('.');
  if (host.empty() || host.front() == '.' || host.find("..") != host.npos) return i;
  if (!scheme) {
    if (last_dot == host.npos) return i;
    const std::string_view tld = host.substr(last_dot + 1);
    const bool www = starts_with_ci(host, "www.") && host.find('.', 4) != host.npos;
    const bool known = std::any_of(kBareTlds.begin(), kBareTlds.end(),
                                   [&](std::string_view t) { return equals_ci(tld, t); });
    if (!www && !known) return i;
  }
  ++links_;
  const auto b32 = static_cast<uint32_t>(host_begin);
  // The registrable domain: the last two labels, or three under a kSecondLevel label.
  size_t domain_begin = 0;
  if (last_dot != host.npos) {
    const size_t second = host.rfind('.', last_dot - 1);
    domain_begin = second == host.npos ? 0 : second + 1;
    if (second != host.npos && host.size() - last_dot - 1 == 2) {
      const std::string_view label = host.substr(second + 1, last_dot - second - 1);
      if (std::any_of(kSecondLevel.begin(), kSecondLevel.end(),
                      [&](std::string_view l) { return equals_ci(label, l); })) {
        const size_t third = host.rfind('.', second - 1);
        domain_begin = third == host.npos || second == 0 ? 0 : third + 1;
      }
    }
    const std::string_view tld = host.substr(last_dot + 1);
    add(out, hash_ci(tld, TokenKind::kTld),
        {TokenKind::kTld, 0, static_cast<uint32_t>(host_begin + last_dot + 1),
         static_cast<uint32_t>(end), 0, 0});
  }
  const std::string_view domain = host.substr(domain_begin);
  add(out, hash_ci(domain, TokenKind::kDomain),
      {TokenKind::kDomain, 0, static_cast<uint32_t>(host_begin + domain_begin),
       static_cast<uint32_t>(end), 0, 0});
  if (domain_begin != 0) {
    add(out, hash_ci(host, TokenKind::kHost),
        {TokenKind::kHost, 0, b32, static_cast<uint32_t>(end), 0, 0});
  }
  return end;
}

std::string TokenList::describe(FeatureHash hash, std::string_view text) const {
  const auto it = std::find(hashes_.begin(), hashes_.end(), hash);
  if (it == hashes_.end()) return {};
  const TokenOrigin& o = origins_[static_cast<size_t>(it - hashes_.begin())];
  auto span = [&](uint32_t b, uint32_t e) {
    return b <= e && e <= text.size() ? text.substr(b, e - b) : std::string_view{};
  };
  const std::string_view a = span(o.a_begin, o.a_end);
  static constexpr std::array<std::string_view, 5> kFifths = {"0-20%", "20-40%", "40-60%", "60-80%",
                                                              "80-100%"};
  switch (o.kind) {
    case TokenKind::kWord: return lower_text(a, false);
    case TokenKind::kPair:
      return lower_text(a, false) + (o.value > 1 ? " … " : " ") +
             lower_text(span(o.b_begin, o.b_end), false);
    case TokenKind::kHost: return "host:" + lower_text(a, false);
    case TokenKind::kDomain: return "domain:" + lower_text(a, false);
    case TokenKind::kTld: return "tld:" + lower_text(a, false);
    case TokenKind::kShape: return lower_text(a, true);
    case TokenKind::kPhone: return "phone number (" + std::to_string(o.value) + " digits)";
    case TokenKind::kMoney: return o.value == 0 ? "money" : lower_text(a, true);
    case TokenKind::kCaps: return "capitals " + std::string(kFifths[o.value % 5]);
    case TokenKind::kLinks:
      return o.value >= 3 ? "3+ links"
                          : std::to_string(o.value) + (o.value == 1 ? " link" : " links");
    case TokenKind::kLength: {
      const size_t lo = o.value == 0 ? 0 : size_t{1} << (o.value - 1);
      return o.value >= 10 ? "length 512+"
                           : "length " + std::to_string(lo) + "-" +
                                 std::to_string(o.value == 0 ? 0 : 2 * lo - 1);
    }
    case TokenKind::kLongWord: return "long word";
  }
  return {};
}

}  // namespace tyr::engine::classifier
