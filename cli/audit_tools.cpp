#include "cli/audit_tools.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>

#include <unistd.h>

#include "engine/config/config.hpp"
#include "engine/core/clock.hpp"
#include "engine/store/store.hpp"

namespace tyr::cli {

namespace {

constexpr const char* kUsage =
    "usage: tyr audit (--data DIR | --config FILE) [--user @U:S] [--room !R:S] [--since T]\n"
    "                 [--until T] [--limit N] [--json]\n"
    "  T: 2026-11-28T12:00:00Z, 2026-11-28, unix seconds, or an age: 90s, 30m, 2h, 7d, 2w\n"
    "  --limit N: the newest N entries (default 100; 0: all). Newest first.\n";

Error arg_error(std::string message) { return Error{"TYR_USAGE", std::move(message), 0, -1}; }

size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;  // code points, close enough for ids
  return n;
}

std::string pad(const std::string& s, size_t w) {
  return s + std::string(w - std::min(w, width(s)), ' ');
}

}  // namespace

Result<AuditArgs> parse_audit_args(const std::vector<std::string>& args, int64_t now_ms) {
  AuditArgs out;
  std::optional<std::string> since, until;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> value;
    if (auto eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "--json" || name == "--help" || name == "-h") {
      if (value) return arg_error(name + " takes no value");
      (name == "--json" ? out.json : out.help) = true;
      continue;
    }
    static const char* kValued[] = {"--data",  "--config", "--user", "--room",
                                    "--since", "--until",  "--limit"};
    if (std::find(std::begin(kValued), std::end(kValued), name) == std::end(kValued)) {
      if (name.rfind("-", 0) == 0) return arg_error("unknown option '" + name + "'");
      return arg_error("unexpected argument '" + name + "'");
    }
    if (!value) {
      if (i + 1 >= args.size()) return arg_error(name + " needs a value");
      value = args[++i];
    }
    if (value->empty()) return arg_error(name + " needs a value");
    if (name == "--data") {
      out.data = *value;
    } else if (name == "--config") {
      out.config = *value;
    } else if (name == "--user") {
      if (value->front() != '@' || value->find(':') == std::string::npos) {
        return arg_error("--user: '" + *value + "' is not a user ID (@name:server)");
      }
      out.query.user = *value;
    } else if (name == "--room") {
      if (value->front() == '#') {
        return arg_error("--room: '" + *value +
                         "' is an alias; give the room ID (!id:server), aliases are not resolved "
                         "offline");
      }
      if (value->front() != '!' || value->find(':') == std::string::npos) {
        return arg_error("--room: '" + *value + "' is not a room ID (!id:server)");
      }
      out.query.room = *value;
    } else if (name == "--since") {
      since = *value;
    } else if (name == "--until") {
      until = *value;
    } else {  // --limit
      const bool digits =
          value->size() <= 9 &&
          std::all_of(value->begin(), value->end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) {
        return arg_error("--limit: '" + *value + "' is not a count (a whole number; 0 for all)");
      }
      out.query.limit = std::stoul(*value);
    }
  }
  if (out.help) return out;
  if (!out.data.empty() && !out.config.empty())
    return arg_error("give --data or --config, not both");
  if (out.data.empty() && out.config.empty()) {
    return arg_error("--data DIR is required (Tyr's data_dir; or --config FILE to read it there)");
  }
  for (auto [name, text, dest] : {std::tuple{"--since", &since, &out.query.since_ms},
                                  std::tuple{"--until", &until, &out.query.until_ms}}) {
    if (!*text) continue;
    auto t = engine::parse_time(**text, now_ms);
    if (!t) return arg_error(std::string(name) + ": " + t.error().message);
    *dest = *t;
  }
  if (since && until && out.query.since_ms >= out.query.until_ms) {
    return arg_error("--since " + *since + " is not before --until " + *until);
  }
  return out;
}

Result<std::filesystem::path> find_store(const std::filesystem::path& data) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(data, ec);
  if (!fs::exists(status)) {
    return arg_error(data.string() + ": no such directory");
  }
  if (!fs::is_directory(status)) return arg_error(data.string() + ": not a directory");
  if (::access(data.c_str(), R_OK | X_OK) != 0) {
    return arg_error(data.string() + ": cannot read: " + std::strerror(errno));
  }
  if (!fs::exists(data / "CURRENT", ec)) {
    return arg_error(data.string() +
                     ": no Tyr store here (expected Tyr's data_dir, which holds "
                     "the RocksDB files CURRENT, MANIFEST-…)");
  }
  if (::access((data / "CURRENT").c_str(), R_OK) != 0) {
    return arg_error((data / "CURRENT").string() + ": cannot read: " + std::strerror(errno));
  }
  return data;
}

std::string format_audit_table(const std::vector<engine::AuditEntry>& entries) {
  struct Row {
    std::string cols[6];
    std::string reason;
  };
  std::vector<Row> rows;
  size_t w[6] = {};
  for (const auto& e : entries) {
    Row r{{engine::format_utc(e.ts_ms), e.mode, e.action, e.outcome,
           e.user.empty() ? e.target : e.user, e.room},
          engine::short_reason(e)};
    if (e.outcome != "ok" && e.outcome != "would" && !e.detail.empty() && r.reason != e.detail) {
      r.reason += r.reason.empty() ? e.detail : " (" + e.detail + ")";
    }
    for (size_t i = 0; i < 6; ++i) {
      if (r.cols[i].empty()) r.cols[i] = "-";
      w[i] = std::max(w[i], width(r.cols[i]));
    }
    rows.push_back(std::move(r));
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < 6; ++i) line += pad(r.cols[i], w[i]) + "  ";
    line += r.reason;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

int audit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  int64_t now) {
  auto parsed = parse_audit_args(args, now);
  if (!parsed) {
    err << "tyr audit: " << parsed.error().message << "\n" << kUsage;
    return 2;
  }
  if (parsed->help) {
    out << kUsage;
    return 0;
  }
  std::filesystem::path data = parsed->data;
  if (!parsed->config.empty()) {
    try {
      data = engine::load_config_file(parsed->config, /*read_tokens=*/false).data_dir;
    } catch (const std::exception& e) {
      err << "tyr audit: " << e.what() << "\n";
      return 2;
    }
  }
  auto dir = find_store(data);
  if (!dir) {
    err << "tyr audit: " << dir.error().message << "\n";
    return 2;
  }
  std::vector<engine::AuditEntry> entries;
  try {
    engine::Store store(*dir, /*read_only=*/true);
    engine::AuditLog log(store);
    entries = log.query(parsed->query);
  } catch (const std::exception& e) {
    err << "tyr audit: " << e.what() << "\n";
    return 1;
  }
  if (parsed->json) {
    for (const auto& e : entries) {
      out << engine::to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
          << "\n";
    }
  } else if (entries.empty()) {
    err << "tyr audit: no entries match\n";
  } else {
    out << format_audit_table(entries);
  }
  out.flush();
  return 0;
}

int audit_command(const std::vector<std::string>& args) {
  return audit_command(args, std::cout, std::cerr, now_ms());
}

}  // namespace tyr::cli
