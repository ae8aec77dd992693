#include "engine/core/text.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace tyr {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

unsigned char byte_at(std::string_view s, std::size_t i) {
  return static_cast<unsigned char>(s[i]);
}

// The code point of the well-formed sequence of `len` bytes at s[i].
char32_t code_point(std::string_view s, std::size_t i, std::size_t len) {
  if (len == 1) return byte_at(s, i);
  char32_t cp = byte_at(s, i) & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (byte_at(s, i + k) & 0x3F);
  return cp;
}

bool needs_escape(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

void append_escape(std::string& out, char32_t cp) {
  switch (cp) {
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    default: break;
  }
  char buf[16];
  if (cp < 0x80) {
    std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
  } else {
    std::snprintf(buf, sizeof buf, "\\u{%04X}", static_cast<unsigned>(cp));
  }
  out += buf;
}

// Appends "…" when `s` (valid UTF-8) is longer than max_bytes, after cutting it at the last code
// point boundary within them.
std::string cut(std::string s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t n = max_bytes;
  while (n > 0 && (byte_at(s, n) & 0xC0) == 0x80) --n;
  s.resize(n);
  s += kEllipsis;
  return s;
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const unsigned char lead = byte_at(s, i);
  if (lead < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte (RFC 3629, table 3-7)
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  const unsigned char second = byte_at(s, i + 1);
  if (second < lo || second > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((byte_at(s, i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string truncate_utf8(std::string_view s, std::size_t max_bytes) {
  // Only what can be kept is sanitised: an excerpt of a huge body costs its cap, not the body.
  return cut(sanitize_utf8(s.substr(0, max_bytes + 1)), max_bytes);
}

std::string escape_untrusted(std::string_view s, std::size_t max_bytes) {
  std::string out, unit;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence_length(s, i);
    unit.clear();
    if (len == 0) {
      unit = kReplacement;
      ++i;
    } else {
      if (const char32_t cp = code_point(s, i, len); needs_escape(cp)) {
        append_escape(unit, cp);
      } else {
        unit = s.substr(i, len);
      }
      i += len;
    }
    if (out.size() + unit.size() > max_bytes) {  // an escape is kept whole or not at all
      out += kEllipsis;
      break;
    }
    out += unit;
  }
  return out;
}

std::string quote_untrusted(std::string_view s, std::size_t max_bytes) {
  return "\xE2\x80\x9C" + escape_untrusted(s, max_bytes) + "\xE2\x80\x9D";
}

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string number_text(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep,
                 std::size_t max_shown) {
  std::string out;
  const std::size_t shown = std::min(parts.size(), max_shown);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  if (shown < parts.size()) out += " and " + std::to_string(parts.size() - shown) + " more";
  return out;
}

}  // namespace tyr
