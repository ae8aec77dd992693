#include "cli/sandbox/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace tyr::cli::sandbox {

namespace {
using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kExitPollInterval{20};
constexpr std::chrono::milliseconds kKillWait{5000};
}  // namespace

Result<pid_t> spawn_logged(const std::vector<std::string>& argv_in,
                           const std::filesystem::path& cwd, const std::filesystem::path& log,
                           const char* error_code) {
  if (argv_in.empty()) return Error{error_code, "nothing to start"};
  std::vector<std::string> storage = argv_in;
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  const std::string cwd_s = cwd.string();
  const std::string log_s = log.string();
  if (!cwd_s.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd_s.c_str());
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_s.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);

  sigset_t empty;
  sigset_t all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, storage[0].c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Error{error_code, "cannot start " + storage[0] + (cwd_s.empty() ? "" : " in " + cwd_s) +
                                 ": " + std::strerror(rc)};
  }
  return pid;
}

std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kExitPollInterval);
  }
}

void stop_group(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  if (kill(-pid, SIGTERM) != 0) kill(pid, SIGTERM);
  if (!wait_for_exit(pid, grace)) {
    if (kill(-pid, SIGKILL) != 0) kill(pid, SIGKILL);
    (void)wait_for_exit(pid, kKillWait);
  }
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return "killed by signal " + std::to_string(WTERMSIG(status)) +
           (name != nullptr ? std::string(" (SIG") + name + ")" : std::string());
  }
  return "wait status " + std::to_string(status);
}

std::string to_hex(const unsigned char* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

std::string registration_mac(const std::string& secret, const std::string& nonce,
                             const std::string& username, const std::string& password, bool admin) {
  std::string msg;
  msg.append(nonce).push_back('\0');
  msg.append(username).push_back('\0');
  msg.append(password).push_back('\0');
  msg.append(admin ? "admin" : "notadmin");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &md_len);
  return to_hex(md, md_len);
}

}  // namespace tyr::cli::sandbox
