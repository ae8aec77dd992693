#pragma once
// Server ACLs (`m.room.server_acl`): Synapse's evaluation of an ACL, and the planning of the ACL
// Tyr writes from the banned-server globs of its policy lists.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tyr::engine::policy {

// Synapse refuses a PDU whose canonical JSON is longer than this (413 M_TOO_LARGE).
inline constexpr size_t kMaxEventBytes = 65536;

// Bytes an ACL state event adds around its content once Synapse has built it: type, state_key,
// room_id, sender, origin_server_ts, depth, ~4 auth_events and 1-2 prev_events (~50 bytes
// each), hashes and one ed25519 signature, plus the "content" key itself. ~450-550 bytes for
// ordinary room and user IDs; 600 leaves a margin for long ones. It is an estimate: an ACL a few
// hundred bytes under the limit may still be refused.
inline constexpr size_t kAclEnvelopeBytes = 600;

// Whether Synapse admits a federation request from `server_name` under ACL content
// `acl_content` (the caller handles "no ACL at all", which admits everyone). Exactly Synapse's
// order: port stripped (a name ending in ']' is kept whole); IP literal and not
// allow_ip_literals -> deny; any deny glob -> deny; any allow glob -> allow; else deny.
// Parsing is Synapse's lenient one: non-bool allow_ip_literals -> true, non-list allow/deny ->
// [], non-string entries dropped, so missing `allow` (or a redacted ACL `{}`) denies everyone.
// Content that is not an object counts as `{}`. Compiles each glob per call: a cold path.
bool acl_allows(const nlohmann::json& acl_content, std::string_view server_name);

struct AclPlan {
  // {"allow": [...], "allow_ip_literals": false, "deny": [...]}; deny globs are ASCII-lower-cased
  // (same meaning, matching ignores case), de-duplicated and sorted bytewise.
  nlohmann::json content;
  // `content` differs semantically from the current ACL: allow list, deny set (order and ASCII
  // case ignored) or effective allow_ip_literals.
  bool changed = false;
  // Estimated canonical-JSON size of the whole event: content + kAclEnvelopeBytes.
  size_t event_bytes = 0;
  // Deny globs left out because they match our own server or a protected one, sorted.
  std::vector<std::string> withheld;
  // Set when `content` must not be sent (it would deny us, or exceed the event size limit).
  std::optional<std::string> error;
};

// Plans the ACL for a protected room. `deny_globs` are the banned server globs (any case, any
// order, duplicates allowed); `current` is the room's current ACL content, or null when there is
// none. `allow` keeps the current allow list when it is a non-empty list of strings, else ["*"].
// Globs matching `own_server` or a `protected_servers` entry (case-insensitively, with and
// without the port, since Synapse checks its own configured server_name port and all) are
// withheld. No rule is ever dropped for size: an oversized plan carries an error instead.
AclPlan plan_server_acl(const std::vector<std::string>& deny_globs, const nlohmann::json& current,
                        std::string_view own_server,
                        const std::vector<std::string>& protected_servers);

}  // namespace tyr::engine::policy
