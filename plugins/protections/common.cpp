#include "plugins/protections/common.hpp"

#include "engine/core/utf8.hpp"

#include <algorithm>
#include <utility>

namespace tyr::plugins::protections {

std::string_view join_key(std::string& buf, std::string_view a, std::string_view b) {
  buf.assign(a);
  buf.push_back('\x1f');
  buf.append(b);
  return buf;
}

std::string normalise_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  }
  return out;
}

namespace {

// Look-alikes of Latin letters (lower case targets). A basic set, not Unicode's full table.
constexpr std::pair<char32_t, char> kConfusables[] = {
    // Cyrillic
    {0x0430, 'a'},
    {0x0410, 'a'},
    {0x0435, 'e'},
    {0x0415, 'e'},
    {0x043E, 'o'},
    {0x041E, 'o'},
    {0x0440, 'p'},
    {0x0420, 'p'},
    {0x0441, 'c'},
    {0x0421, 'c'},
    {0x0443, 'y'},
    {0x0423, 'y'},
    {0x0445, 'x'},
    {0x0425, 'x'},
    {0x0456, 'i'},
    {0x0406, 'i'},
    {0x0458, 'j'},
    {0x0408, 'j'},
    {0x0455, 's'},
    {0x0405, 's'},
    {0x041C, 'm'},
    {0x043C, 'm'},
    {0x041D, 'h'},
    {0x043D, 'h'},
    {0x0422, 't'},
    {0x0442, 't'},
    {0x0412, 'b'},
    {0x0432, 'b'},
    {0x041A, 'k'},
    {0x043A, 'k'},
    {0x0501, 'd'},
    {0x04CF, 'l'},
    // Greek
    {0x03B1, 'a'},
    {0x0391, 'a'},
    {0x03B2, 'b'},
    {0x0392, 'b'},
    {0x03B5, 'e'},
    {0x0395, 'e'},
    {0x0396, 'z'},
    {0x0397, 'h'},
    {0x03B9, 'i'},
    {0x0399, 'i'},
    {0x039A, 'k'},
    {0x03BA, 'k'},
    {0x039C, 'm'},
    {0x039D, 'n'},
    {0x03BD, 'v'},
    {0x03BF, 'o'},
    {0x039F, 'o'},
    {0x03C1, 'p'},
    {0x03A1, 'p'},
    {0x03A4, 't'},
    {0x03C4, 't'},
    {0x03C5, 'u'},
    {0x03A5, 'y'},
    {0x03C7, 'x'},
    {0x03A7, 'x'},
    // Roman numerals and letter-like symbols
    {0x2160, 'i'},
    {0x216C, 'l'},
    {0x216D, 'c'},
    {0x216E, 'd'},
    {0x216F, 'm'},
    {0x2170, 'i'},
    {0x217C, 'l'},
    {0x217D, 'c'},
    {0x217E, 'd'},
    {0x217F, 'm'},
    {0x2113, 'l'},
};

char fold_ascii(char32_t c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c + 32);
  if ((c >= 'a' && c <= 'z')) return static_cast<char>(c);
  switch (c) {
    case '0': return 'o';
    case '1': return 'l';
    case '3': return 'e';
    case '4': return 'a';
    case '5': return 's';
    case '7': return 't';
    case '@': return 'a';
    case '$': return 's';
    case '|': return 'l';
    default: break;
  }
  if (c >= '0' && c <= '9') return static_cast<char>(c);
  return 0;
}

}  // namespace

std::string fold_confusables(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size();) {
    char32_t cp = 0;
    i += decode_utf8(name, i, cp);
    if (cp >= 0xFF01 && cp <= 0xFF5E) cp = cp - 0xFF01 + 0x21;  // fullwidth ASCII
    char c = 0;
    if (cp < 0x80) {
      c = fold_ascii(cp);
    } else {
      for (const auto& [from, to] : kConfusables) {
        if (from == cp) c = to;
      }
    }
    if (c != 0) out.push_back(c);
  }
  // "rn" reads as "m" in most fonts.
  for (size_t p = 0; (p = out.find("rn", p)) != std::string::npos;) out.replace(p, 2, "m");
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b, size_t limit) {
  if (a.size() > b.size()) std::swap(a, b);
  if (b.size() - a.size() > limit) return limit + 1;
  std::vector<size_t> row(a.size() + 1);
  for (size_t i = 0; i <= a.size(); ++i) row[i] = i;
  for (size_t j = 1; j <= b.size(); ++j) {
    size_t diag = row[0];
    row[0] = j;
    size_t best = row[0];
    for (size_t i = 1; i <= a.size(); ++i) {
      const size_t up = row[i];
      row[i] = std::min({row[i] + 1, row[i - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
      best = std::min(best, row[i]);
    }
    if (best > limit) return limit + 1;
  }
  return std::min(row[a.size()], limit + 1);
}

bool domain_in(std::string_view host, const std::vector<std::string>& domains) {
  for (const auto& d : domains) {
    if (host == d) return true;
    if (host.size() > d.size() && host.ends_with(d) && host[host.size() - d.size() - 1] == '.')
      return true;
  }
  return false;
}

std::string seconds_text(int64_t ms) { return std::to_string(ms / 1000) + " s"; }

nlohmann::json save_windows(const engine::protection::BoundedMap<engine::protection::Window>& m) {
  return m.to_json([](const engine::protection::Window& w) { return w.to_json(); });
}

bool load_windows(const nlohmann::json& j,
                  engine::protection::BoundedMap<engine::protection::Window>& m) {
  return m.from_json(
      j, [](const nlohmann::json& v, engine::protection::Window& w) { return w.from_json(v); });
}

}  // namespace tyr::plugins::protections
