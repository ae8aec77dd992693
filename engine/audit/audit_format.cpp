#include "engine/audit/audit_format.hpp"

#include <cctype>
#include <chrono>
#include <cstdio>

#include "engine/core/utf8.hpp"

namespace tyr::engine {

namespace {

using namespace std::chrono;

constexpr const char* kAccepted =
    "use 2026-11-28T12:00:00Z, 2026-11-28, unix seconds, or an age like 30m, 2h, 7d";

Error time_error(std::string_view text, std::string_view why) {
  return Error{"TYR_BAD_TIME", "'" + std::string(text) + "' " + std::string(why), 0, -1};
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Reads exactly `width` digits at s[pos] into `out`.
bool digits(std::string_view s, size_t pos, size_t width, int& out) {
  if (pos + width > s.size() || !all_digits(s.substr(pos, width))) return false;
  out = 0;
  for (size_t i = 0; i < width; ++i) out = out * 10 + (s[pos + i] - '0');
  return true;
}

// Cuts `s` to `max` code points, the last of them "…" when anything was cut.
std::string truncate(const std::string& s, size_t max) {
  if (max == 0) return {};
  size_t keep = 0;  // bytes of the first max - 1 code points
  size_t points = 0;
  for (size_t i = 0; i < s.size(); ++points) {
    if (points == max - 1) keep = i;
    if (points == max) return s.substr(0, keep) + "…";
    char32_t cp;
    i += decode_utf8(s, i, cp);
  }
  return s;
}

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

std::string scalar(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

std::string format_utc(int64_t ts_ms) {
  const sys_time<milliseconds> tp{milliseconds(ts_ms)};
  const auto day = floor<days>(tp);
  const year_month_day ymd(day);
  const hh_mm_ss hms(floor<seconds>(tp - day));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

Result<int64_t> parse_time(std::string_view text, int64_t now_ms) {
  if (text.empty()) return time_error(text, std::string("is not a time (") + kAccepted + ")");
  // An age: digits and one unit.
  const char unit = text.back();
  const std::string_view count = text.substr(0, text.size() - 1);
  if (all_digits(count) && std::string_view("smhdw").find(unit) != std::string_view::npos) {
    if (count.size() > 9) return time_error(text, "is too long ago");
    const int64_t n = std::stoll(std::string(count));
    const int64_t unit_ms = unit == 's'   ? 1000
                            : unit == 'm' ? 60'000
                            : unit == 'h' ? 3'600'000
                            : unit == 'd' ? 86'400'000
                                          : 7 * 86'400'000LL;
    return now_ms - n * unit_ms;
  }
  if (all_digits(text)) {
    // 10^11 s is the year 5138: a number that large is a timestamp in milliseconds.
    if (text.size() > 11 || std::stoll(std::string(text)) >= 100'000'000'000LL) {
      return time_error(text,
                        "is too large for unix seconds (milliseconds? drop the last three digits)");
    }
    return std::stoll(std::string(text)) * 1000;
  }
  // YYYY-MM-DD, then optionally THH:MM[:SS[.fff…]] and a zone.
  int y, mo, d;
  if (!digits(text, 0, 4, y) || text.size() < 10 || text[4] != '-' || !digits(text, 5, 2, mo) ||
      text[7] != '-' || !digits(text, 8, 2, d)) {
    return time_error(text, std::string("is not a time (") + kAccepted + ")");
  }
  const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)),
                           day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return time_error(text, "is not a valid date");
  int64_t ms = duration_cast<milliseconds>(sys_days(ymd).time_since_epoch()).count();
  if (text.size() == 10) return ms;

  const auto not_a_time = [&] {
    return time_error(text, std::string("is not a time (") + kAccepted + ")");
  };
  size_t p = 10;
  int h, mi, s = 0;
  if ((text[p] != 'T' && text[p] != 't' && text[p] != ' ') || !digits(text, p + 1, 2, h) ||
      p + 3 >= text.size() || text[p + 3] != ':' || !digits(text, p + 4, 2, mi)) {
    return not_a_time();
  }
  p += 6;
  if (p < text.size() && text[p] == ':') {
    if (!digits(text, p + 1, 2, s)) return not_a_time();
    p += 3;
    if (p < text.size() && text[p] == '.') {
      size_t q = p + 1;
      int64_t frac_ms = 0;
      int places = 0;
      while (q < text.size() && std::isdigit(static_cast<unsigned char>(text[q]))) {
        if (places < 3) frac_ms = frac_ms * 10 + (text[q] - '0');
        ++places;
        ++q;
      }
      if (places == 0) return not_a_time();
      for (int k = places; k < 3; ++k) frac_ms *= 10;
      ms += frac_ms;
      p = q;
    }
  }
  if (h > 23 || mi > 59 || s > 60) return time_error(text, "is not a valid time of day");
  ms += ((h * 60LL + mi) * 60 + std::min(s, 59)) * 1000;
  if (p == text.size()) return time_error(text, "has no time zone (add Z for UTC)");
  if ((text[p] == 'Z' || text[p] == 'z') && p + 1 == text.size()) return ms;
  int oh, om;
  if ((text[p] == '+' || text[p] == '-') && p + 6 == text.size() && digits(text, p + 1, 2, oh) &&
      text[p + 3] == ':' && digits(text, p + 4, 2, om) && oh <= 23 && om <= 59) {
    const int64_t offset = (oh * 60LL + om) * 60'000;
    return text[p] == '+' ? ms - offset : ms + offset;
  }
  return not_a_time();
}

std::string short_reason(const AuditEntry& e, size_t max_chars) {
  if (!e.reason_text.empty()) return truncate(one_line(e.reason_text), max_chars);
  std::string out;
  auto part = [&](const std::string& s) {
    if (s.empty()) return;
    if (!out.empty()) out += "; ";
    out += s;
  };
  const auto& r = e.reason;
  if (r.is_object()) {
    if (auto p = r.find("protection"); p != r.end()) part("protection " + scalar(*p));
    if (auto rules = r.find("rules"); rules != r.end() && rules->is_array()) {
      std::string s;
      for (const auto& rule : *rules) {
        if (!s.empty()) s += ", ";
        if (rule.is_object()) {
          s += rule.contains("id") ? scalar(rule["id"]) : std::string("?");
          if (rule.contains("score")) s += "(" + scalar(rule["score"]) + ")";
        } else {
          s += scalar(rule);
        }
      }
      if (!s.empty()) part("rules " + s);
    }
    if (auto l = r.find("list"); l != r.end()) {
      std::string s = "list " + scalar(*l);
      if (auto k = r.find("state_key"); k != r.end()) s += " " + scalar(*k);
      part(s);
    }
    if (auto t = r.find("threshold"); t != r.end()) part("threshold " + scalar(*t));
  }
  if (out.empty()) out = e.detail;
  return truncate(one_line(out), max_chars);
}

std::string format_audit_for_room(const std::vector<AuditEntry>& entries, size_t max) {
  if (entries.empty()) return "No audit entries.";
  std::string out;
  const size_t shown = std::min(entries.size(), max);
  for (size_t i = 0; i < shown; ++i) {
    const auto& e = entries[i];
    std::string line = "- " + format_utc(e.ts_ms) + " ";
    if (e.mode != "live") line += e.mode + " ";
    line += e.action;
    if (!e.user.empty()) line += " " + e.user;
    if (!e.target.empty() && e.target != e.user) line += " " + e.target;
    if (!e.room.empty()) line += " in " + e.room;
    line += " → " + e.outcome;
    if (e.outcome != "ok" && e.outcome != "would" && !e.detail.empty()) {
      line += " (" + truncate(one_line(e.detail), 60) + ")";
    }
    const std::string why = short_reason(e, 100);
    if (!why.empty() && why != e.detail) line += ": " + why;
    out += line + "\n";
  }
  if (entries.size() > max) out += "… and more; narrow by user, room or time, or run tyr audit.\n";
  out.pop_back();
  return out;
}

}  // namespace tyr::engine
