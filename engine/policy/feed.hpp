#pragma once
// HTTP feeds: lists of bad servers or users published over plain HTTP(S), read as read-only
// policy lists named "feed:<name>". Parsing is pure and tolerant of junk lines (they are skipped
// and reported); FeedPoller fetches with conditional GETs and never replaces the last good
// contents with a failed fetch or an unreadable document.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/config/config.hpp"
#include "engine/core/entity.hpp"
#include "engine/core/result.hpp"
#include "engine/policy/policy_rule.hpp"

namespace tyr::engine::policy {

using engine::FeedConfig;

// Skipped entries beyond this many are counted but not described.
inline constexpr std::size_t kMaxFeedWarnings = 10;

struct FeedParse {
  std::vector<PolicyRule> rules;  // in document order, one per (kind, family, state_key)
  // "<feed>:<line>: <reason>" for the first kMaxFeedWarnings bad entries (JSON: "<feed>:[<i>]"),
  // then one "<feed>: <n> more entries skipped" line.
  std::vector<std::string> warnings;
  // Entries that gave no rule: bad or duplicate lines, CSV rows whose severity is not a block
  // (silence, noop), JSON events that are not policy rules or that remove one.
  std::size_t skipped = 0;
};

// "feed:<name>", the `list` of every rule a feed yields.
std::string feed_list_id(std::string_view feed_name);

// The parser `feed.format` names. An error means the document as a whole is unreadable
// (invalid JSON, CSV without a domain column, unterminated quote): "<feed>:<line>: <reason>".
Result<FeedParse> parse_feed(const FeedConfig& feed, std::string_view body);

// A JSON array of client-format state events, each read with parse_policy_event; kind and
// recommendation come from each event, reasons from its content.
Result<FeedParse> parse_json_feed(const FeedConfig& feed, std::string_view body);

// One entity per line: its first whitespace-separated token. Blank lines and lines starting
// with '#' are ignored, except that in a room feed a line whose first token is a room alias
// ("#room:server") is an entity.
Result<FeedParse> parse_text_feed(const FeedConfig& feed, std::string_view body);

// A Mastodon domain-block export (RFC 4180 CSV). The header names the columns, with or without
// a leading '#': `domain` (required), `severity` (suspend -> rule; silence, noop -> skipped;
// absent column -> every row is a rule), `public_comment` (the rule's reason when not empty).
// Obfuscated domains ("ex**ple.com") are kept as globs. Always server rules.
Result<FeedParse> parse_csv_feed(const FeedConfig& feed, std::string_view body);

// What Tyr knows about one feed: the last good contents and how fetching went. Persisted as
// JSON so that a restart starts from the last good contents rather than from nothing.
struct FeedState {
  std::vector<PolicyRule> rules;    // from the last successful fetch
  std::string etag, last_modified;  // validators of the last successful fetch
  int64_t last_success_ms = 0;      // wall clock, ms since the epoch; 0 = never
  int64_t last_attempt_ms = 0;
  std::string last_error;             // empty after a success
  std::size_t skipped = 0;            // FeedParse::skipped of the last successful fetch
  std::vector<std::string> warnings;  // FeedParse::warnings of the last successful fetch
  // The feed settings `rules` were parsed with. When the configured feed differs, the validators
  // are not sent, so a 304 cannot keep rules made under other settings.
  std::string source;
};

void to_json(nlohmann::json& j, const FeedState& state);
// Throws nlohmann::json::exception when `j` is not a document written by to_json.
void from_json(const nlohmann::json& j, FeedState& state);

struct FetchLimits {
  std::chrono::milliseconds timeout{30000};  // to connect, and for each read or write
  // The whole fetch: name resolution aside, connecting, headers and body, over every redirect.
  // A server that trickles its answer is cut off when it runs out.
  std::chrono::milliseconds total_timeout{600000};
  std::size_t max_body_bytes = std::size_t{64} << 20;  // after decompression
};

// Why a feed may not connect to `address` (IPv4 or IPv6, as text) unless its allow_private is
// set: "a loopback address", "a private address (RFC 1918)", "a shared address (CGNAT,
// 100.64.0.0/10)", "a link-local address", "a unique-local address", "an unspecified address",
// "a multicast address"…; nullopt for an address on the internet. IPv4-mapped and NAT64 IPv6
// addresses are judged by the IPv4 address they carry.
std::optional<std::string> address_problem(std::string_view address);

// Why a fetch may not follow a redirect from the URL `from` to the URL `to`; nullopt when it may:
// the same scheme, or http to https. Never https to http.
std::optional<std::string> redirect_problem(std::string_view from, std::string_view to);

// Fetches one feed. Holds no connection between polls (they are minutes apart); poll() may run
// concurrently for different states.
class FeedPoller {
 public:
  explicit FeedPoller(FeedConfig feed, FetchLimits limits = {});

  const FeedConfig& feed() const { return feed_; }

  // One conditional GET (up to 5 redirects followed, each to the same scheme or http to https).
  // Every address the URL's and each redirect's host resolves to must be public unless the
  // feed's allow_private is set. 304 -> unchanged; 200 -> parsed and stored, true when the rules
  // differ from before. Anything else -> an Error (code TYR_NETWORK, TYR_FEED_HTTP,
  // TYR_FEED_REFUSED, TYR_FEED_TOO_LARGE or TYR_FEED_PARSE), also kept in state.last_error;
  // rules and validators are then left as they were.
  Result<bool> poll(FeedState& state) const;

 private:
  FeedConfig feed_;
  FetchLimits limits_;
  std::string source_;  // FeedState::source for feed_
};

}  // namespace tyr::engine::policy
