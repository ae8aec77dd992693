#pragma once
// Text forms of the audit trail shared by `tyr audit` and the management room's `!tyr audit`:
// UTC times both ways, one-line reasons, and the room's reply.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/audit/audit_log.hpp"
#include "engine/core/result.hpp"

namespace tyr::engine {

// "2026-11-28T12:00:00Z" (whole seconds, UTC): what parse_time reads back.
std::string format_utc(int64_t ts_ms);

// A point in time as operators type it, in milliseconds since the epoch:
//   2026-11-28T12:00:00Z, 2026-11-28T12:00Z, …T12:00:00.250Z, …T13:00:00+01:00 (ISO-8601, a zone
//   is required), 2026-11-28 (midnight UTC), 1795867200 (unix seconds), or an age before `now`:
//   90s, 30m, 2h, 7d, 2w.
// The error message quotes the text and says what is accepted (no "error:" prefix).
Result<int64_t> parse_time(std::string_view text, int64_t now_ms);

// The reason on one line, at most `max_chars` code points: reason_text, else a summary of the
// structured reason (protection, rules and scores, list, threshold), else detail.
std::string short_reason(const AuditEntry& e, size_t max_chars = 80);

// The reply to `!tyr audit …`: one "- " line per entry, newest first as given, at most `max`;
// passing max + 1 entries adds a last line saying that there are more.
std::string format_audit_for_room(const std::vector<AuditEntry>& entries, size_t max);

}  // namespace tyr::engine
