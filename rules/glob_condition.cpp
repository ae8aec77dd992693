#include "rules/glob_condition.hpp"

#include <re2/re2.h>

#include <cstdio>

namespace tyr::rules {

namespace {

constexpr size_t kMaxRepeat = 1000;  // RE2's repeat limit; longer runs are chained

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

// Simple case pairs new in Unicode 16, which Debian 12's RE2 does not fold (see
// engine/policy/glob.cpp).
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
  if (c >= 0x10D50 && c <= 0x10D65) return c + 0x20;
  if (c >= 0x10D70 && c <= 0x10D85) return c - 0x20;
  return 0;
}

size_t decode_utf8(std::string_view s, size_t i, char32_t& cp) {
  const auto lead = static_cast<unsigned char>(s[i]);
  size_t len = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
  if (len == 0 || lead > 0xF4 || i + len > s.size()) return 0;
  cp = lead & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  return len;
}

std::string hex_escape(char32_t c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\x{%X}", static_cast<unsigned>(c));
  return buf;
}

}  // namespace

std::string glob_to_re2(std::string_view glob) {
  std::string out;
  out.reserve(glob.size() * 2);
  size_t i = 0;
  while (i < glob.size()) {
    const char c = glob[i];
    if (c == '*' || c == '?') {
      size_t questions = 0;
      bool star = false;
      while (i < glob.size() && (glob[i] == '*' || glob[i] == '?')) {
        if (glob[i] == '?') ++questions; else star = true;
        ++i;
      }
      append_wildcards(out, questions, star);
      continue;
    }
    const auto uc = static_cast<unsigned char>(c);
    if (uc >= 0x80) {
      char32_t cp = 0;
      const size_t len = decode_utf8(glob, i, cp);
      if (len != 0 && unicode16_case_partner(cp) != 0) {
        out += "[" + hex_escape(cp) + hex_escape(unicode16_case_partner(cp)) + "]";
        i += len;
        continue;
      }
      out.push_back(c);
    } else if ((uc >= '0' && uc <= '9') || (uc >= 'a' && uc <= 'z') || (uc >= 'A' && uc <= 'Z')) {
      out.push_back(c);
    } else if (c == '\0') {
      out += "\\x00";
    } else if (c == '_' || c == ' ' || c == '@' || c == ':' || c == '#' || c == '!' ||
               c == '/' || c == ',' || c == '\'' || c == '"' || c == '~' || c == '%' ||
               c == '&' || c == '<' || c == '>' || c == '`' || c == ';' || c == '=' || c == '-') {
      out.push_back(c);
    } else {
      out.push_back('\\');
      out.push_back(c);
    }
    ++i;
  }
  return out;
}

std::shared_ptr<const re2::RE2> compile_globs(const std::vector<std::string>& globs) {
  std::string alternation;
  for (const auto& g : globs) {
    if (!alternation.empty()) alternation.push_back('|');
    alternation += "(?:" + glob_to_re2(g) + ")";
  }
  RE2::Options opts;
  opts.set_case_sensitive(false);
  opts.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(alternation, opts);
  if (!re->ok()) return nullptr;
  return re;
}

}  // namespace tyr::rules
