#include "engine/core/private_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

namespace tyr {
namespace {

namespace fs = std::filesystem;

Error io_error(const std::string& what, const fs::path& path, int err) {
  return Error{"TYR_IO", "cannot " + what + " " + path.string() + ": " + std::strerror(err), 0};
}

// "a/b/" names the directory "a/b"; mkdir and parent_path() should see it that way.
fs::path without_trailing_separator(const fs::path& p) {
  fs::path out = p.lexically_normal();
  if (!out.has_filename() && out.has_parent_path()) out = out.parent_path();
  return out;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Result<void> write_private_file(const fs::path& path, std::string_view content) {
  std::error_code ec;
  fs::path target = path;
  if (fs::is_symlink(path, ec)) {
    target = fs::canonical(path, ec);
    if (ec) {
      return Error{"TYR_IO", "cannot resolve the link " + path.string() + ": " + ec.message(), 0};
    }
  }
  target = without_trailing_separator(target);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");

  // mkostemp opens with O_CREAT | O_EXCL and mode 0600: the secret is never readable by others,
  // and a file someone else planted under the temporary name is never written to.
  std::string name = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  std::vector<char> buf(name.begin(), name.end());
  buf.push_back('\0');
  const int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) return io_error("create a file in", dir, errno);
  const fs::path temp(buf.data());
  auto fail = [&](const std::string& what, int err) -> Result<void> {
    ::close(fd);
    ::unlink(temp.c_str());
    return io_error(what, path, err);
  };
  if (!write_all(fd, content)) return fail("write", errno);
  if (::fsync(fd) != 0) return fail("write", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return io_error("write", path, err);
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return io_error("replace", path, err);
  }
  // The rename itself is durable once the directory is synced; a failure here loses nothing
  // the caller could act on, so it is not reported.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Result<unsigned> create_private_dir(const fs::path& dir) {
  const fs::path p = without_trailing_separator(dir);
  std::error_code ec;
  if (p.has_parent_path()) {
    fs::create_directories(p.parent_path(), ec);
    if (ec) {
      return Error{"TYR_IO", "cannot create " + p.parent_path().string() + ": " + ec.message(), 0};
    }
  }
  if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return io_error("create", p, errno);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return io_error("read the mode of", p, errno);
  if (!S_ISDIR(st.st_mode)) return Error{"TYR_IO", p.string() + " is not a directory", 0};
  return static_cast<unsigned>(st.st_mode & 0777);
}

unsigned restrict_umask() { return static_cast<unsigned>(::umask(077)); }

}  // namespace tyr
