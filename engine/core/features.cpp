#include "engine/core/features.hpp"

#include "engine/core/utf8.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

#include "engine/core/ids.hpp"

namespace tyr {

std::string_view field_name(Field f) {
  static constexpr std::array<std::string_view, kFields> kNames = {
      "body",         "formatted_body", "urls",          "domains",
      "display_name", "sender",         "sender_server", "room"};
  return kNames[static_cast<int>(f)];
}

std::string_view feature_name(Feature f) {
  static constexpr std::array<std::string_view, kFeatures> kNames = {
      "mentions",         "links", "length", "uppercase_ratio", "letters",
      "distinct_domains", "lines", "digits", "digit_run",       "emoji"};
  return kNames[static_cast<int>(f)];
}

std::string_view Features::field(Field f) const {
  switch (f) {
    case Field::kBody: return body;
    case Field::kFormattedBody: return formatted_body;
    case Field::kUrls: return urls;
    case Field::kDomains: return domains;
    case Field::kDisplayName: return display_name;
    case Field::kSender: return sender;
    case Field::kSenderServer: return sender_server;
    case Field::kRoom: return room;
  }
  return {};
}

namespace {

std::string_view string_at(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  const auto& s = it->get_ref<const std::string&>();
  return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

// Top-level domains a scheme-less "word.tld/…" must end in to count as a link: the common
// generic ones and those spam favours. A message saying "e.g." or "file.txt" is not a link.
bool known_tld(std::string_view tld) {
  static constexpr std::array<std::string_view, 40> kTlds = {
      "com",  "net",   "org", "info", "biz",   "io",     "ly",   "me",  "co",   "uk",
      "ru",   "cn",    "xyz", "top",  "club",  "online", "site", "app", "gg",   "tk",
      "ml",   "ga",    "cf",  "gq",   "to",    "de",     "fr",   "us",  "link", "live",
      "shop", "store", "win", "bid",  "click", "ws",     "cc",   "tv",  "im",   "chat"};
  return std::find(kTlds.begin(), kTlds.end(), tld) != kTlds.end();
}

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

// Appends `item` to a '\n'-separated list unless present; returns whether it was new.
bool add_unique(std::string& list, std::string_view item) {
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find('\n', pos);
    if (end == std::string::npos) end = list.size();
    if (std::string_view(list).substr(pos, end - pos) == item) return false;
    pos = end + 1;
  }
  if (!list.empty()) list.push_back('\n');
  list.append(item);
  return true;
}

// Host of a URL-ish token (lower case already): scheme, userinfo, port and path removed.
std::string_view host_of(std::string_view url) {
  if (auto p = url.find("://"); p != std::string_view::npos) url.remove_prefix(p + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  return strip_port(url);
}

struct LinkCounter {
  Features& f;
  size_t links = 0;

  void add(std::string_view url_original, std::string_view url_lower) {
    const std::string_view host = host_of(url_lower);
    if (host.empty()) return;
    // Pills (matrix.to/#/@user) are mentions, not links.
    if (host == "matrix.to" && url_lower.find("/#/@") != std::string_view::npos) return;
    if (host == "matrix.to" && url_lower.find("/#/%40") != std::string_view::npos) return;
    ++links;
    add_unique(f.urls, url_original);
    add_unique(f.domains, host);
  }
};

// Characters that end a URL-ish token, as a table: the tokenizer asks once per byte.
constexpr std::array<bool, 256> kTokenEnd = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : std::string_view(" \n\t\r<>\"'()[]{}|,")) t[c] = true;
  return t;
}();

bool token_end(char c) { return kTokenEnd[static_cast<unsigned char>(c)]; }

// Finds URLs in plain text: tokens with a scheme, "www." tokens, and "name.tld[/…]" tokens
// whose TLD is known. `lower` is `text` ASCII-lower-cased (same length).
void scan_text_urls(std::string_view text, std::string_view lower, LinkCounter& lc) {
  size_t i = 0;
  while (i < lower.size()) {
    while (i < lower.size() && token_end(lower[i])) ++i;
    size_t j = i;
    while (j < lower.size() && !token_end(lower[j])) ++j;
    std::string_view tok = lower.substr(i, j - i);
    size_t start = i;
    i = j;
    // Trailing punctuation belongs to the sentence.
    while (!tok.empty() && (tok.back() == '.' || tok.back() == '!' || tok.back() == '?' ||
                            tok.back() == ';' || tok.back() == ':')) {
      tok.remove_suffix(1);
    }
    if (tok.size() < 4) continue;
    // Every kind of link below has a '.' or (in its scheme) a ':'; most words have neither.
    if (tok.find_first_of(".:") == std::string_view::npos) continue;
    // A token may start with text before the scheme ("visit:http://…").
    size_t scheme = tok.find("http://");
    if (scheme == std::string_view::npos) scheme = tok.find("https://");
    if (scheme != std::string_view::npos) {
      tok.remove_prefix(scheme);
      start += scheme;
      lc.add(text.substr(start, tok.size()), tok);
      continue;
    }
    if (tok.find('@') != std::string_view::npos) continue;  // e-mail, Matrix ID
    if (starts_with(tok, "www.")) {
      lc.add(text.substr(start, tok.size()), tok);
      continue;
    }
    std::string_view host = tok.substr(0, tok.find_first_of("/?#"));
    host = strip_port(host);
    const size_t dot = host.rfind('.');
    if (dot == std::string_view::npos || dot == 0) continue;
    if (!std::all_of(host.begin(), host.end(), host_char)) continue;
    if (!known_tld(host.substr(dot + 1))) continue;
    lc.add(text.substr(start, tok.size()), tok);
  }
}

// href="…" targets in formatted_body (HTML), counted as links unless they are pills; distinct
// pill targets are collected in `pills` (cleared first; capacity kept across events).
void scan_hrefs(std::string_view html, LinkCounter& lc, std::string& lowered,
                std::vector<std::string>& pills, size_t& pill_count) {
  pill_count = 0;
  size_t pos = 0;
  while ((pos = html.find("href=", pos)) != std::string_view::npos) {
    pos += 5;
    if (pos >= html.size()) break;
    const char quote = html[pos];
    if (quote != '"' && quote != '\'') continue;
    const size_t end = html.find(quote, pos + 1);
    if (end == std::string_view::npos) break;
    const std::string_view url = html.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    lowered.assign(url);
    for (char& c : lowered) c = lower(c);
    size_t target = lowered.find("matrix.to/#/@");
    size_t skip = 13;
    if (target == std::string::npos) {
      target = lowered.find("matrix.to/#/%40");
      skip = 15;
    }
    if (target == std::string::npos) {
      lc.add(url, lowered);
      continue;
    }
    std::string_view user = std::string_view(lowered).substr(target + skip);
    user = user.substr(0, user.find('?'));
    if (user.empty()) continue;
    const auto seen = pills.begin() + static_cast<std::ptrdiff_t>(pill_count);
    if (std::find(pills.begin(), seen, user) != seen) continue;
    if (pill_count < pills.size()) {
      pills[pill_count].assign(user);
    } else {
      pills.emplace_back(user);
    }
    ++pill_count;
  }
}

bool is_emoji(char32_t c) {
  return (c >= 0x1F300 && c <= 0x1FAFF) || (c >= 0x2600 && c <= 0x27BF) ||
         (c >= 0x1F000 && c <= 0x1F2FF);
}

}  // namespace

void extract_features(const nlohmann::json& event, std::string_view display_name, Features& f) {
  EventFields e;
  e.type = string_at(event, "type");
  e.sender = string_at(event, "sender");
  e.room = string_at(event, "room_id");
  const nlohmann::json* content = nullptr;
  if (event.is_object()) {
    auto it = event.find("content");
    if (it != event.end() && it->is_object()) content = &*it;
  }
  if (content != nullptr) {
    const nlohmann::json& c = *content;
    e.msgtype = string_at(c, "msgtype");
    e.body = string_at(c, "body");
    e.formatted_body = string_at(c, "formatted_body");
    if (e.type == "m.room.member") e.member_display_name = string_at(c, "displayname");
    if (auto m = c.find("m.mentions"); m != c.end() && m->is_object()) {
      if (auto ids = m->find("user_ids"); ids != m->end() && ids->is_array()) {
        e.mentioned_user_ids = ids->size();
      }
    }
  }
  extract_features(e, display_name, f);
}

void extract_features(const EventFields& e, std::string_view display_name, Features& f) {
  f.type = e.type;
  f.sender = e.sender;
  f.room = e.room;
  f.sender_server = strip_port(server_of(f.sender));
  f.msgtype = e.msgtype;
  f.body = e.body;
  f.formatted_body = e.formatted_body;
  f.display_name = display_name;
  if (f.display_name.empty() && f.type == "m.room.member") f.display_name = e.member_display_name;

  f.body_lower.assign(f.body);
  for (char& ch : f.body_lower) ch = lower(ch);
  f.urls.clear();
  f.domains.clear();
  LinkCounter lc{f};
  scan_text_urls(f.body, f.body_lower, lc);
  thread_local std::string lowered;
  thread_local std::vector<std::string> pill_targets;
  size_t pills = 0;
  if (!f.formatted_body.empty()) scan_hrefs(f.formatted_body, lc, lowered, pill_targets, pills);

  const size_t user_ids = e.mentioned_user_ids;

  size_t length = 0, upper = 0, letters = 0, lines = f.body.empty() ? 0 : 1, digits = 0;
  size_t run = 0, best_run = 0, emoji = 0;
  bool separator = false;  // one ' ', '-' or '.' between digits keeps a run going
  for (size_t i = 0; i < f.body.size();) {
    char32_t cp = 0;
    i += decode_utf8(f.body, i, cp);
    ++length;
    if (cp >= '0' && cp <= '9') {
      ++digits;
      ++run;
      separator = false;
      best_run = std::max(best_run, run);
      continue;
    }
    if (run > 0 && !separator && (cp == ' ' || cp == '-' || cp == '.')) {
      separator = true;
    } else {
      run = 0;
      separator = false;
    }
    if (cp >= 'A' && cp <= 'Z')
      ++upper, ++letters;
    else if (cp >= 'a' && cp <= 'z')
      ++letters;
    else if (cp == '\n')
      ++lines;
    else if (is_emoji(cp))
      ++emoji;
  }
  auto set = [&f](Feature k, double v) { f.numbers[static_cast<int>(k)] = v; };
  set(Feature::kMentions, static_cast<double>(std::max(user_ids, pills)));
  set(Feature::kLinks, static_cast<double>(lc.links));
  set(Feature::kLength, static_cast<double>(length));
  set(Feature::kUppercaseRatio,
      letters == 0 ? 0.0 : static_cast<double>(upper) / static_cast<double>(letters));
  set(Feature::kLetters, static_cast<double>(letters));
  size_t distinct =
      f.domains.empty()
          ? 0
          : 1 + static_cast<size_t>(std::count(f.domains.begin(), f.domains.end(), '\n'));
  set(Feature::kDistinctDomains, static_cast<double>(distinct));
  set(Feature::kLines, static_cast<double>(lines));
  set(Feature::kDigits, static_cast<double>(digits));
  set(Feature::kDigitRun, static_cast<double>(best_run));
  set(Feature::kEmoji, static_cast<double>(emoji));
}

}  // namespace tyr
