#pragma once
// Files and directories that hold secrets (tokens, passwords) or private data (the store: message
// text, user IDs) are created readable by their owner only from the first byte. Changing the mode
// after writing would leave a window in which another local user can open the file, and an open
// descriptor outlives any later chmod.

#include <filesystem>
#include <string_view>

#include "engine/core/result.hpp"

namespace tyr {

// The permission bits a private file or directory may have beyond its owner's: none.
inline constexpr unsigned kNonOwnerBits = 077;

// Writes `content` to `path` atomically: a temporary file in the same directory, created 0600
// with O_EXCL, written, fsync'd and renamed over `path`. Readers see the old file or the new one,
// never a part; an existing file is replaced, mode 0600 included. A symbolic link at `path` is
// followed, so the file it points to is replaced and the link kept. Errors name the path.
Result<void> write_private_file(const std::filesystem::path& path, std::string_view content);

// Creates `dir` with mode 0700 (missing parents get the process's default mode). An existing
// directory is left as it is. Returns the directory's permission bits (0700 when private), so
// the caller can warn about a directory an operator made shared (`mode & kNonOwnerBits`).
Result<unsigned> create_private_dir(const std::filesystem::path& dir);

// Sets the process umask to 077, so every file created afterwards without an explicit mode
// (RocksDB's tables, WAL and LOG, the sandbox homeserver's database) is private. For the
// long-running commands; returns the previous umask.
unsigned restrict_umask();

}  // namespace tyr
