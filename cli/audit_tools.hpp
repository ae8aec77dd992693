#pragma once
// `tyr audit`: reads the audit trail from a store offline, also while Tyr runs (a read-only
// snapshot: see Store's read_only). docs/audit.md describes the entries and the options.

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "engine/audit/audit_format.hpp"
#include "engine/audit/audit_log.hpp"
#include "engine/core/result.hpp"

namespace tyr::cli {

// The management room's formatter lives in the engine (commands cannot depend on cli/).
using engine::format_audit_for_room;

struct AuditArgs {
  std::filesystem::path data;    // --data DIR
  std::filesystem::path config;  // --config FILE: its data_dir instead of --data
  engine::AuditQuery query;      // --user --room --since --until --limit
  bool json = false;             // --json
  bool help = false;             // --help, -h
};

// The arguments after `tyr audit`. The error's message is what `tyr audit: ` prefixes.
Result<AuditArgs> parse_audit_args(const std::vector<std::string>& args, int64_t now_ms);

// The store under a data directory (Tyr keeps its RocksDB files directly in data_dir, so the
// data_dir and the store path are the same directory). Errors name the path.
Result<std::filesystem::path> find_store(const std::filesystem::path& data);

// One aligned line per entry: time, mode, action, outcome, user or target, room, reason.
std::string format_audit_table(const std::vector<engine::AuditEntry>& entries);

// `tyr audit …`: 0 on success (also when nothing matches), 2 on bad arguments or an unusable
// data directory, 1 when the store cannot be read.
int audit_command(const std::vector<std::string>& args);
int audit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  int64_t now_ms);

}  // namespace tyr::cli
