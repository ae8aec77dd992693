#include "engine/core/glob.hpp"

#include "engine/core/utf8.hpp"

#include <re2/re2.h>

#include <cstdio>

namespace tyr {

namespace {

// RE2 rejects repeat counts over 1000; Synapse's Rust regex accepts them (up to its 10 MiB
// program limit, ~10,485 '?'), so longer runs are written as consecutive repeats.
constexpr size_t kMaxRepeat = 1000;

void append_wildcards(std::string& out, size_t questions, bool star) {
  while (questions > kMaxRepeat) {
    out += ".{1000}";
    questions -= kMaxRepeat;
  }
  if (star) {
    out += questions == 0 ? ".*" : ".{" + std::to_string(questions) + ",}";
  } else {
    out += questions == 1 ? "." : ".{" + std::to_string(questions) + "}";
  }
}

// Simple case pairs new in Unicode 16. Synapse's Rust regex folds them; the RE2 Tyr builds
// against (Debian 12: 20220601) does not, so they are spelled out as classes. Harmless once RE2
// knows them.
char32_t unicode16_case_partner(char32_t c) {
  switch (c) {
    case 0x1C89: return 0x1C8A;
    case 0x1C8A: return 0x1C89;
    case 0x0264: return 0xA7CB;
    case 0xA7CB: return 0x0264;
    case 0xA7CC: return 0xA7CD;
    case 0xA7CD: return 0xA7CC;
    case 0xA7DA: return 0xA7DB;
    case 0xA7DB: return 0xA7DA;
    case 0x019B: return 0xA7DC;
    case 0xA7DC: return 0x019B;
    default: break;
  }
  if (c >= 0x10D50 && c <= 0x10D65) return c + 0x20;  // Garay
  if (c >= 0x10D70 && c <= 0x10D85) return c - 0x20;
  return 0;
}

std::string hex_escape(char32_t c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\x{%X}", static_cast<unsigned>(c));
  return buf;
}

}  // namespace

std::string glob_to_regex_body(std::string_view glob) {
  std::string out;
  out.reserve(glob.size() * 2);
  size_t i = 0;
  while (i < glob.size()) {
    char c = glob[i];
    if (c == '*' || c == '?') {
      size_t questions = 0;
      bool star = false;
      while (i < glob.size() && (glob[i] == '*' || glob[i] == '?')) {
        if (glob[i] == '?')
          ++questions;
        else
          star = true;
        ++i;
      }
      append_wildcards(out, questions, star);
      continue;
    }
    const auto uc = static_cast<unsigned char>(c);
    if (uc >= 0x80) {
      char32_t cp = 0;
      const size_t len = decode_utf8(glob, i, cp);
      if (cp != kReplacementChar && unicode16_case_partner(cp) != 0) {
        out += "[" + hex_escape(cp) + hex_escape(unicode16_case_partner(cp)) + "]";
        i += len;
        continue;
      }
    }
    if ((uc >= '0' && uc <= '9') || (uc >= 'a' && uc <= 'z') || (uc >= 'A' && uc <= 'Z') ||
        uc >= 0x80 || c == '_' || c == '@' || c == ':' || c == '-' || c == '#' || c == '!' ||
        c == '=' || c == '/' || c == ',' || c == ';' || c == '\'' || c == '"' || c == '~' ||
        c == '%' || c == '&' || c == '<' || c == '>' || c == '`' || c == ' ') {
      out.push_back(c);
    } else if (c == '\0') {
      out += "\\x00";
    } else {
      out.push_back('\\');
      out.push_back(c);
    }
    ++i;
  }
  return out;
}

bool glob_matches(std::string_view glob, std::string_view text) {
  RE2::Options opts;
  opts.set_case_sensitive(false);  // Unicode simple case folding, like Rust's regex
  opts.set_log_errors(false);
  RE2 strict(glob_to_regex_body(glob), opts);  // `.` excludes '\n' (no (?s)), like Synapse
  return strict.ok() && RE2::FullMatch(re2::StringPiece(text.data(), text.size()), strict);
}

bool is_ip_literal(std::string_view s) {
  if (!s.empty() && s.front() == '[') return true;
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    unsigned value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      if (i - start >= 3 || value > 255) return false;
      ++i;
    }
    const size_t len = i - start;
    if (len == 0) return false;
    if (len > 1 && s[start] == '0') return false;  // Rust rejects leading zeros
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

}  // namespace tyr
