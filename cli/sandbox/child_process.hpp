#pragma once
// Child processes of the sandbox and of the test fixtures (Synapse, Dendrite, nginx): spawned in
// their own process group with output to a log, reaped with a bounded wait, stopped by group.
// Also the shared-secret registration mac both homeservers check.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/result.hpp"

namespace tyr::cli::sandbox {

// Starts `argv` (argv[0] is the program's path) in `cwd` (empty: the caller's), stdin from
// /dev/null, stdout and stderr appended to `log`, no descriptors inherited beyond those three,
// as the leader of a new process group with default signal handling and an empty signal mask.
// An error (code `error_code`) names the program and the cause.
Result<pid_t> spawn_logged(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                           const std::filesystem::path& log, const char* error_code);

// Reaps `pid` if it exits within `timeout`: its wait status, or nullopt while it still runs. A
// child someone else already reaped (ECHILD) counts as gone, with status -1.
std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

// SIGTERM to the group `pid` leads, up to `grace` for it to exit, then SIGKILL and a bounded
// wait. Safe for a pid that has exited but is not reaped (it keeps its PID until then).
void stop_group(pid_t pid, std::chrono::milliseconds grace);

// "exit status 1", "killed by signal 9 (SIGKILL)".
std::string describe_status(int status);

std::string to_hex(const unsigned char* data, size_t size);

// The mac of shared-secret registration (Synapse's synapse/rest/admin/users.py, Dendrite's
// register_secret.go): HMAC-SHA1 over nonce, user, password and "admin"/"notadmin", hex.
std::string registration_mac(const std::string& secret, const std::string& nonce,
                             const std::string& username, const std::string& password, bool admin);

}  // namespace tyr::cli::sandbox
