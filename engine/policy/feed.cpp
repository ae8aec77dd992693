#include "engine/policy/feed.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <map>
#include <tuple>
#include <utility>

#include "engine/core/ascii.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"
#include "engine/policy/state_stream.hpp"

namespace tyr::engine::policy {
namespace {

using nlohmann::json;
constexpr std::string_view kSpace = " \t\r\f\v";

std::string_view trim(std::string_view s) {
  const auto begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

std::string_view strip_bom(std::string_view s) {
  return s.substr(0, 3) == "\xEF\xBB\xBF" ? s.substr(3) : s;
}

// Feed text is untrusted and ends up in logs, in the stored feed state and in the management
// room: control characters are escaped, invalid UTF-8 replaced and long entries cut.
std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 80;
  return escape_untrusted(s, kMax);
}

std::string_view family_name(Family family) {
  switch (family) {
    case Family::kStable: return "m.policy.rule";
    case Family::kLegacyRoom: return "m.room.rule";
    case Family::kMjolnir: return "org.matrix.mjolnir.rule";
  }
  return "?";
}

std::optional<Family> family_from_name(std::string_view name) {
  for (Family f : {Family::kStable, Family::kLegacyRoom, Family::kMjolnir}) {
    if (family_name(f) == name) return f;
  }
  return std::nullopt;
}

Error parse_error(std::string message) { return Error{"TYR_FEED_PARSE", std::move(message), 0}; }

// Accumulates one parse: rules unique per (kind, family, state_key) as in a room's state (the
// first occurrence wins), and at most kMaxFeedWarnings descriptions of skipped entries.
class Collector {
 public:
  explicit Collector(const FeedConfig& feed) : feed_(feed) {}

  void skip() { ++out_.skipped; }

  void warn(const std::string& where, const std::string& reason) {
    ++out_.skipped;
    ++bad_;
    if (out_.warnings.size() < kMaxFeedWarnings) {
      out_.warnings.push_back(feed_.name + ":" + where + ": " + reason);
    }
  }

  void add(PolicyRule rule, const std::string& where) {
    auto [it, inserted] =
        first_seen_.try_emplace(std::make_tuple(rule.kind, rule.family, rule.state_key), where);
    if (!inserted) {
      warn(where, "duplicate entry '" + printable(rule.state_key) + "', first at " + feed_.name +
                      ":" + it->second);
      return;
    }
    out_.rules.push_back(std::move(rule));
  }

  FeedParse finish() && {
    if (bad_ > out_.warnings.size()) {
      out_.warnings.push_back(feed_.name + ": " + std::to_string(bad_ - out_.warnings.size()) +
                              " more entries skipped");
    }
    return std::move(out_);
  }

 private:
  const FeedConfig& feed_;
  FeedParse out_;
  std::size_t bad_ = 0;
  std::map<std::tuple<EntityKind, Family, std::string>, std::string> first_seen_;
};

// A text or CSV entry as a rule: the entity is its own state key, as in the lists Mjolnir and
// Draupnir write.
PolicyRule entry_rule(const FeedConfig& feed, EntityKind kind, std::string_view entity,
                      std::string reason) {
  PolicyRule rule;
  rule.list = feed_list_id(feed.name);
  rule.kind = kind;
  rule.family = Family::kStable;
  rule.state_key = std::string(entity);
  rule.entity = std::string(entity);
  rule.recommendation = parse_recommendation(feed.recommendation);
  rule.recommendation_raw = feed.recommendation;
  rule.reason = std::move(reason);
  return rule;
}

// RFC 4180 records, one at a time. Quoted fields may hold commas, doubled quotes and newlines;
// CRLF and LF both end a record.
struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0;       // where the record starts, 1-based
  bool unterminated = false;  // a quoted field ran to the end of the input
  std::string problem;        // a malformed but delimited record
};

class CsvReader {
 public:
  explicit CsvReader(std::string_view text) : text_(text) {}

  bool next(CsvRecord& rec) {
    if (pos_ >= text_.size()) return false;
    rec = CsvRecord{};
    rec.line = line_;
    std::string field;
    for (;;) {
      if (pos_ < text_.size() && text_[pos_] == '"') {
        if (!read_quoted(field)) {
          rec.unterminated = true;
          return true;
        }
        const std::size_t junk = pos_;
        skip_to_delimiter();
        if (!trim(text_.substr(junk, pos_ - junk)).empty() && rec.problem.empty()) {
          rec.problem = "text after a closing quote";
        }
      } else {
        const std::size_t start = pos_;
        skip_to_delimiter();
        field.assign(text_.substr(start, pos_ - start));
        if (at_record_end() && !field.empty() && field.back() == '\r') field.pop_back();
      }
      rec.fields.push_back(std::move(field));
      field.clear();
      if (at_record_end()) {
        if (pos_ < text_.size()) {
          ++pos_;
          ++line_;
        }
        return true;
      }
      ++pos_;  // the comma
    }
  }

 private:
  bool at_record_end() const { return pos_ >= text_.size() || text_[pos_] == '\n'; }

  void skip_to_delimiter() {
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n') ++pos_;
  }

  // From the opening quote to just past the closing one; false when there is none.
  bool read_quoted(std::string& field) {
    ++pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') {
        if (pos_ < text_.size() && text_[pos_] == '"') {
          field += '"';
          ++pos_;
          continue;
        }
        return true;
      }
      if (c == '\n') ++line_;
      field += c;
    }
    return false;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
};

bool blank_record(const CsvRecord& rec) {
  return rec.fields.size() == 1 && trim(rec.fields[0]).empty() && !rec.unterminated;
}

json rule_to_json(const PolicyRule& rule) {
  return json{{"list", rule.list},
              {"kind", std::string(kind_name(rule.kind))},
              {"family", std::string(family_name(rule.family))},
              {"state_key", rule.state_key},
              {"entity", rule.entity},
              {"sha256", rule.sha256},
              {"recommendation", rule.recommendation_raw},
              {"reason", rule.reason},
              {"event_id", rule.event_id}};
}

PolicyRule rule_from_json(const json& j) {
  PolicyRule rule;
  j.at("list").get_to(rule.list);
  const auto kind = kind_from_name(j.at("kind").get<std::string>());
  if (!kind) throw json::type_error::create(302, "unknown entity kind in feed state", &j);
  rule.kind = *kind;
  const auto family = family_from_name(j.at("family").get<std::string>());
  if (!family) throw json::type_error::create(302, "unknown rule family in feed state", &j);
  rule.family = *family;
  j.at("state_key").get_to(rule.state_key);
  j.at("entity").get_to(rule.entity);
  j.at("sha256").get_to(rule.sha256);
  j.at("recommendation").get_to(rule.recommendation_raw);
  // Derived rather than stored, so that it follows what this version of Tyr understands.
  rule.recommendation = parse_recommendation(rule.recommendation_raw);
  j.at("reason").get_to(rule.reason);
  j.at("event_id").get_to(rule.event_id);
  return rule;
}
constexpr int kStateVersion = 1;

}  // namespace

std::string feed_list_id(std::string_view feed_name) { return "feed:" + std::string(feed_name); }

Result<FeedParse> parse_feed(const FeedConfig& feed, std::string_view body) {
  switch (feed.format) {
    case FeedConfig::Format::kJsonState: return parse_json_feed(feed, body);
    case FeedConfig::Format::kText: return parse_text_feed(feed, body);
    case FeedConfig::Format::kCsv: return parse_csv_feed(feed, body);
  }
  return parse_error(feed.name + ": unknown feed format");
}

namespace {

// One element of a JSON feed: `event` is what reading it gave (nullopt: no policy event).
void collect_event(Collector& out, std::size_t index, bool is_object,
                   std::optional<PolicyEvent> event) {
  const std::string where = "[" + std::to_string(index) + "]";
  if (!is_object) {
    out.warn(where, "not an object");
    return;
  }
  if (!event) {
    out.skip();  // some other state event
    return;
  }
  if (!event->rule) {
    // A removal means nothing in a snapshot; an invalid rule is worth a word.
    if (event->problem.empty()) {
      out.skip();
    } else {
      out.warn(where, event->problem);
    }
    return;
  }
  PolicyRule rule = std::move(*event->rule);
  rule.event_id.clear();  // an event in someone else's room: nothing Tyr can refer to
  out.add(std::move(rule), where);
}

}  // namespace

Result<FeedParse> parse_json_feed(const FeedConfig& feed, std::string_view body) {
  const std::string list = feed_list_id(feed.name);
  {
    // Streamed (state_stream.hpp): no DOM of the whole feed. A body the stream refuses goes
    // through the DOM below, which says where it is broken.
    Collector out(feed);
    auto read = read_state_events(body, [&](std::size_t i, const PolicyEventFacts* facts) {
      collect_event(out, i, facts != nullptr,
                    facts ? policy_event_from_facts(*facts, list) : std::nullopt);
    });
    if (read.ok) return std::move(out).finish();
  }
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::parse_error& e) {
    // nlohmann's text is "[json.exception.parse_error.101] parse error at line L, column C:
    // <detail>"; the line is recounted here from the byte offset, the detail kept.
    const std::string what = e.what();
    const auto column = what.find("column ");
    const auto colon = what.find(": ", column == std::string::npos ? 0 : column);
    // nlohmann quotes the bytes it last read, which may be anything.
    const std::string detail =
        escape_untrusted(colon == std::string::npos ? what : what.substr(colon + 2), 200);
    const std::size_t end = std::min(e.byte == 0 ? 0 : e.byte - 1, body.size());
    std::size_t line = 1;
    for (std::size_t i = 0; i < end; ++i) line += body[i] == '\n' ? 1 : 0;
    return parse_error(feed.name + ":" + std::to_string(line) + ": invalid JSON at byte " +
                       std::to_string(e.byte) + ": " + detail);
  }
  if (!doc.is_array()) {
    return parse_error(feed.name + ": expected a JSON array of state events, found " +
                       std::string(doc.type_name()));
  }
  Collector out(feed);
  for (std::size_t i = 0; i < doc.size(); ++i) {
    collect_event(out, i, doc[i].is_object(),
                  doc[i].is_object() ? parse_policy_event(doc[i], list) : std::nullopt);
  }
  return std::move(out).finish();
}

Result<FeedParse> parse_text_feed(const FeedConfig& feed, std::string_view body) {
  body = strip_bom(body);
  Collector out(feed);
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < body.size();) {
    const auto end = std::min(body.find('\n', pos), body.size());
    const std::string_view line = trim(body.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    const std::string_view token = line.substr(0, line.find_first_of(kSpace));
    if (line.front() == '#' && !(feed.kind == EntityKind::kRoom && tyr::is_room_alias(token))) {
      continue;
    }
    const std::string where = std::to_string(line_no);
    if (auto problem = entity_problem(feed.kind, token)) {
      out.warn(where, *problem);
      continue;
    }
    out.add(entry_rule(feed, feed.kind, token, feed.reason), where);
  }
  return std::move(out).finish();
}

Result<FeedParse> parse_csv_feed(const FeedConfig& feed, std::string_view body) {
  CsvReader reader(strip_bom(body));
  CsvRecord rec;
  bool have_header = false;
  while (reader.next(rec)) {
    if (rec.unterminated) {
      return parse_error(feed.name + ":" + std::to_string(rec.line) +
                         ": unterminated quoted field");
    }
    if (!blank_record(rec)) {
      have_header = true;
      break;
    }
  }
  if (!have_header) return parse_error(feed.name + ": empty CSV document (no header row)");

  // Mastodon writes "#domain,#severity,…"; other tools drop the '#'.
  const std::size_t header_line = rec.line;
  const std::size_t columns = rec.fields.size();
  std::optional<std::size_t> domain_col, severity_col, comment_col;
  for (std::size_t i = columns; i-- > 0;) {  // backwards, so the first of duplicates wins
    std::string_view name = trim(rec.fields[i]);
    if (!name.empty() && name.front() == '#') name.remove_prefix(1);
    const std::string lower = ascii_lower(name);
    if (lower == "domain") domain_col = i;
    if (lower == "severity") severity_col = i;
    if (lower == "public_comment") comment_col = i;
  }
  if (!domain_col) {
    return parse_error(feed.name + ":" + std::to_string(header_line) +
                       ": no 'domain' column in the CSV header");
  }

  Collector out(feed);
  while (reader.next(rec)) {
    const std::string where = std::to_string(rec.line);
    if (rec.unterminated) {
      return parse_error(feed.name + ":" + where + ": unterminated quoted field");
    }
    if (blank_record(rec)) continue;
    if (!rec.problem.empty()) {
      out.warn(where, rec.problem);
      continue;
    }
    if (rec.fields.size() != columns) {
      out.warn(where, "expected " + std::to_string(columns) + " fields, found " +
                          std::to_string(rec.fields.size()));
      continue;
    }
    if (severity_col) {
      const std::string severity = ascii_lower(trim(rec.fields[*severity_col]));
      if (severity == "silence" || severity == "noop") {
        out.skip();  // limits, not blocks: nothing for a ban list to do
        continue;
      }
      if (severity != "suspend") {
        out.warn(where, "unknown severity '" + printable(rec.fields[*severity_col]) + "'");
        continue;
      }
    }
    const std::string_view domain = trim(rec.fields[*domain_col]);
    if (auto problem = entity_problem(EntityKind::kServer, domain)) {
      out.warn(where, *problem);
      continue;
    }
    // Exports are meant to be UTF-8, but a comment typed in Latin-1 must not poison the state.
    std::string reason =
        sanitize_utf8(comment_col ? trim(rec.fields[*comment_col]) : std::string_view{});
    if (reason.empty()) reason = feed.reason;
    out.add(entry_rule(feed, EntityKind::kServer, domain, std::move(reason)), where);
  }
  return std::move(out).finish();
}

void to_json(nlohmann::json& j, const FeedState& state) {
  json rules = json::array();
  for (const PolicyRule& rule : state.rules) rules.push_back(rule_to_json(rule));
  j = json{{"version", kStateVersion},
           {"source", state.source},
           {"etag", state.etag},
           {"last_modified", state.last_modified},
           {"last_success_ms", state.last_success_ms},
           {"last_attempt_ms", state.last_attempt_ms},
           {"last_error", state.last_error},
           {"skipped", state.skipped},
           {"warnings", state.warnings},
           {"rules", std::move(rules)}};
}

void from_json(const nlohmann::json& j, FeedState& state) {
  if (j.at("version").get<int>() != kStateVersion) {
    throw json::type_error::create(302, "unsupported feed state version", &j);
  }
  FeedState out;
  j.at("source").get_to(out.source);
  j.at("etag").get_to(out.etag);
  j.at("last_modified").get_to(out.last_modified);
  j.at("last_success_ms").get_to(out.last_success_ms);
  j.at("last_attempt_ms").get_to(out.last_attempt_ms);
  j.at("last_error").get_to(out.last_error);
  j.at("skipped").get_to(out.skipped);
  j.at("warnings").get_to(out.warnings);
  const json& rules = j.at("rules");
  if (!rules.is_array()) throw json::type_error::create(302, "'rules' is not an array", &j);
  out.rules.reserve(rules.size());
  for (const json& rule : rules) out.rules.push_back(rule_from_json(rule));
  state = std::move(out);
}

}  // namespace tyr::engine::policy
