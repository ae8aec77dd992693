#include "cli/sandbox/synapse_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli/sandbox/child_process.hpp"
#include "engine/core/private_files.hpp"

// The build points this at the project's venv; the fallback keeps a standalone compile working.
#ifndef TYR_DEFAULT_SYNAPSE_PYTHON
#define TYR_DEFAULT_SYNAPSE_PYTHON ".venv/bin/python"
#endif

namespace tyr::cli::sandbox {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kSandboxCode = "TYR_SANDBOX";
constexpr const char* kNetworkCode = "TYR_NETWORK";
constexpr milliseconds kReadyPollInterval{100};
constexpr milliseconds kKillWait{5000};
constexpr size_t kTailLines = 20;

// Files inside the sandbox directory. homeserver.yaml and the log config are rewritten on every
// start; the signing key and the database persist so the sandbox survives restarts.
constexpr const char* kConfigFile = "homeserver.yaml";
constexpr const char* kLogConfigFile = "log_config.yaml";
constexpr const char* kSigningKeyFile = "signing.key";
constexpr const char* kDatabaseFile = "homeserver.db";
constexpr const char* kMediaStoreDir = "media_store";
constexpr const char* kStdoutLogFile = "synapse.stdout.log";
constexpr const char* kSynapseLogFile = "homeserver.log";
// The federation listener's certificate (tls: true); made once, like the signing key.
constexpr const char* kTlsCertFile = "tls.crt";
constexpr const char* kTlsKeyFile = "tls.key";
// Our own record of the spawned PID: Synapse writes no pid file unless daemonised, and two
// Synapses on one SQLite database corrupt it.
constexpr const char* kPidFile = "synapse.pid";

Error sandbox_error(std::string message) { return Error{kSandboxCode, std::move(message)}; }

Result<std::string> random_hex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    return sandbox_error("OpenSSL RAND_bytes failed while generating the shared secret");
  }
  return to_hex(buf.data(), buf.size());
}

// A YAML double-quoted scalar: JSON string escapes are a subset of YAML's.
std::string quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::uintmax_t file_size_or_zero(const fs::path& file) {
  std::error_code ec;
  auto size = fs::file_size(file, ec);
  return ec ? 0 : size;
}

// The last `max_lines` lines written to `file` after byte `offset` (this run's output only).
std::string tail_since(const fs::path& file, std::uintmax_t offset, size_t max_lines) {
  constexpr std::uintmax_t kMaxBytes = 64 * 1024;
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  const auto size = file_size_or_zero(file);
  if (size < offset) offset = 0;  // truncated or replaced since we looked
  offset = std::max(offset, size > kMaxBytes ? size - kMaxBytes : 0);
  in.seekg(static_cast<std::streamoff>(offset));
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(std::move(line));
    if (lines.size() > max_lines) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += "  | " + l + "\n";
  return out;
}

struct LogMarks {
  std::uintmax_t stdout_log = 0;
  std::uintmax_t synapse_log = 0;
};

LogMarks mark_logs(const fs::path& dir) {
  return {file_size_or_zero(dir / kStdoutLogFile), file_size_or_zero(dir / kSynapseLogFile)};
}

std::string log_tails(const fs::path& dir, const LogMarks& marks) {
  std::string out;
  for (auto [name, offset] : {std::pair{kStdoutLogFile, marks.stdout_log},
                              std::pair{kSynapseLogFile, marks.synapse_log}}) {
    std::string tail = tail_since(dir / name, offset, kTailLines);
    out += "\nlast lines of " + (dir / name).string() + ":\n" +
           (tail.empty() ? std::string("  (nothing)\n") : tail);
  }
  return out;
}

// homeserver.yaml holds the registration shared secret and the macaroon key: created private.
Result<void> write_file(const fs::path& file, const std::string& content) {
  if (auto written = write_private_file(file, content); !written) {
    return sandbox_error(written.error().message);
  }
  return {};
}

std::string log_config_yaml(const fs::path& dir) {
  // Unbuffered FileHandler (not Synapse's default memory buffer) so a crash leaves its cause
  // on disk for the startup error message.
  return "# Written by tyr's sandbox on every start; edits are overwritten.\n"
         "version: 1\n"
         "formatters:\n"
         "  precise:\n"
         "    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - "
         "%(message)s'\n"
         "handlers:\n"
         "  file:\n"
         "    class: logging.FileHandler\n"
         "    formatter: precise\n"
         "    filename: " +
         quoted((dir / kSynapseLogFile).string()) +
         "\n"
         "    encoding: utf8\n"
         "loggers:\n"
         "  synapse.storage.SQL:\n"
         "    level: INFO\n"
         "root:\n"
         "  level: INFO\n"
         "  handlers: [file]\n"
         "disable_existing_loggers: false\n";
}

std::string homeserver_yaml(const SynapseOptions& o, const std::vector<fs::path>& registrations) {
  std::ostringstream y;
  y << "# Written by tyr's sandbox on every start; edits are overwritten. Put additions in\n"
       "# SynapseOptions::extra_yaml (appended last, so its keys win).\n"
    << "server_name: " << quoted(o.server_name) << "\n"
    << "listeners:\n"
       "  - port: "
    << o.port
    << "\n"
       "    bind_addresses: ['127.0.0.1']\n"
       "    type: http\n"
       "    tls: false\n"
       "    x_forwarded: false\n"
       "    resources:\n"
       "      - names: "
    << (o.federation ? "[client]" : "[client, federation]")
    << "\n"
       "        compress: false\n";
  if (o.federation) {
    y << "  - port: " << o.federation->port << "\n"
      << "    bind_addresses: [" << quoted(o.federation->bind_address) << "]\n"
      << "    type: http\n"
      << "    tls: " << (o.federation->tls ? "true" : "false") << "\n"
      << "    x_forwarded: " << (o.federation->tls ? "false" : "true") << "\n"
      << "    resources:\n"
         "      - names: [federation]\n"
         "        compress: false\n";
    if (o.federation->tls) {
      y << "tls_certificate_path: " << quoted((o.dir / kTlsCertFile).string()) << "\n"
        << "tls_private_key_path: " << quoted((o.dir / kTlsKeyFile).string()) << "\n";
    }
    // Peers on loopback with self-signed certificates. Synapse 1.163 reads only the
    // `ip_range_blacklist` spelling (config/server.py); it also guards outbound federation
    // unless `federation_ip_range_blacklist` is set. Its default covers 127.0.0.0/8 and ::1.
    y << "federation_verify_certificates: false\n"
         "ip_range_blacklist: []\n";
  }
  y << "database:\n"
       "  name: sqlite3\n"
       "  args:\n"
       "    database: "
    << quoted((o.dir / kDatabaseFile).string()) << "\n"
    << "log_config: " << quoted((o.dir / kLogConfigFile).string()) << "\n"
    << "media_store_path: " << quoted((o.dir / kMediaStoreDir).string()) << "\n"
    << "signing_key_path: " << quoted((o.dir / kSigningKeyFile).string()) << "\n"
    << "registration_shared_secret: " << quoted(o.shared_secret) << "\n"
    << "report_stats: false\n"
       "trusted_key_servers: []\n"
       "suppress_key_server_warning: true\n"
       "enable_registration: false\n"
       "app_service_config_files:";
  if (registrations.empty()) y << " []";
  y << "\n";
  for (const auto& r : registrations) y << "  - " << quoted(r.string()) << "\n";

  // Tests and the sandbox drive Synapse far harder than a person would; Synapse's defaults
  // (e.g. rc_message 0.2/s, rc_joins.local 0.1/s) would turn them into 429 storms.
  // Every key below is parsed by synapse/config/ratelimiting.py (1.163).
  constexpr const char* kRelaxed = "{per_second: 1000, burst_count: 1000}";
  y << "# Rate limits relaxed for tests.\n";
  for (const char* key :
       {"rc_message", "rc_registration", "rc_registration_token_validity", "rc_joins_per_room",
        "rc_room_creation", "rc_reports", "rc_admin_redaction", "rc_media_create",
        "rc_3pid_validation", "rc_third_party_invite", "rc_delayed_event_mgmt", "rc_user_directory",
        "rc_profile", "rc_key_requests"}) {
    y << key << ": " << kRelaxed << "\n";
  }
  y << "rc_joins:\n  local: " << kRelaxed << "\n  remote: " << kRelaxed << "\n"
    << "rc_login:\n  address: " << kRelaxed << "\n  account: " << kRelaxed
    << "\n  failed_attempts: " << kRelaxed << "\n"
    << "rc_invites:\n  per_room: " << kRelaxed << "\n  per_user: " << kRelaxed
    << "\n  per_issuer: " << kRelaxed << "\n"
    << "rc_presence:\n  per_user: " << kRelaxed << "\n"
    << "rc_federation: {window_size: 1000, sleep_limit: 1000, reject_limit: 1000, "
       "concurrent: 100}\n";

  if (!o.extra_yaml.empty()) {
    y << "# extra_yaml\n" << o.extra_yaml;
    if (o.extra_yaml.back() != '\n') y << "\n";
  }
  return y.str();
}

// Refuses to start a second Synapse on a directory whose earlier Synapse still runs (e.g. left
// behind by a killed Tyr). The cwd check keeps a recycled PID from looking like ours.
Result<void> check_no_stale_synapse(const fs::path& dir) {
  const fs::path pid_file = dir / kPidFile;
  std::ifstream in(pid_file);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return {};
  std::error_code ec;
  fs::path cwd = fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec);
  if (!ec && kill(static_cast<pid_t>(pid), 0) == 0 && fs::equivalent(cwd, dir, ec)) {
    return sandbox_error("a Synapse from an earlier run (pid " + std::to_string(pid) +
                         ") still uses " + dir.string() + "; stop it (kill " + std::to_string(pid) +
                         ") or use another directory");
  }
  fs::remove(pid_file, ec);
  return {};
}

fs::path absolute_or_same(const fs::path& p) {
  if (p.empty()) return p;
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return ec ? p : abs.lexically_normal();
}

// Error for a Matrix error answer, keeping errcode and status.
Error matrix_error(const std::string& what, const httplib::Result& res) {
  Error e{kSandboxCode, what + ": HTTP " + std::to_string(res->status), res->status};
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (body.is_object()) {
    if (auto it = body.find("errcode"); it != body.end() && it->is_string()) e.code = *it;
    if (auto it = body.find("error"); it != body.end() && it->is_string()) {
      e.message = what + ": " + it->get<std::string>();
    }
  }
  return e;
}

Error network_error(const std::string& what, const httplib::Result& res) {
  return Error{kNetworkCode, what + ": " + httplib::to_string(res.error())};
}

// Reads the string `field` of a JSON object answer; a missing field is an error, not "".
Result<std::string> string_field(const nlohmann::json& body, const char* field,
                                 const std::string& what) {
  if (body.is_object()) {
    if (auto it = body.find(field); it != body.end() && it->is_string())
      return it->get<std::string>();
  }
  return sandbox_error(what + ": answer has no string \"" + field + "\"");
}

Result<RegisteredUser> parse_user(const std::string& raw, const std::string& what) {
  auto body = nlohmann::json::parse(raw, nullptr, false);
  auto user_id = string_field(body, "user_id", what);
  if (!user_id) return user_id.error();
  auto token = string_field(body, "access_token", what);
  if (!token) return token.error();
  auto device = string_field(body, "device_id", what);
  if (!device) return device.error();
  return RegisteredUser{std::move(*user_id), std::move(*token), std::move(*device)};
}

}  // namespace

SynapseProcess::SynapseProcess(SynapseOptions options) : options_(std::move(options)) {
  options_.dir = absolute_or_same(options_.dir);
  // Relative paths would otherwise resolve against the sandbox dir, Synapse's cwd.
  options_.python = absolute_or_same(options_.python);
}

SynapseProcess::~SynapseProcess() { stop(); }

Result<void> SynapseProcess::start() {
  if (pid_ > 0) {
    if (running())
      return sandbox_error("Synapse already running (pid " + std::to_string(pid_) + ")");
    (void)wait_for_exit(pid_, milliseconds(0));
    pid_ = -1;
  }
  if (options_.python.empty() || access(options_.python.c_str(), X_OK) != 0) {
    return sandbox_error("Synapse python not found: " + options_.python.string() +
                         " (set TYR_SYNAPSE_PYTHON, or create the venv: python3 -m venv .venv "
                         "&& .venv/bin/pip install matrix-synapse)");
  }
  if (options_.dir.empty()) return sandbox_error("no sandbox directory given");
  const fs::path& dir = options_.dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return sandbox_error("cannot create " + dir.string() + ": " + ec.message());

  std::vector<fs::path> registrations;
  for (const auto& r : options_.appservice_registrations) {
    fs::path abs = absolute_or_same(r);
    if (!fs::is_regular_file(abs, ec)) {
      return sandbox_error("appservice registration not found: " + abs.string());
    }
    registrations.push_back(abs);
  }
  if (auto r = check_no_stale_synapse(dir); !r) return r;

  if (options_.port == 0) {
    options_.port = free_loopback_port();
    if (options_.port == 0) return sandbox_error("no free loopback port");
  }
  if (options_.federation && options_.federation->port == 0) {
    options_.federation->port = free_port(options_.federation->bind_address);
    if (options_.federation->port == 0) {
      return sandbox_error("no free port on " + options_.federation->bind_address);
    }
  }
  if (options_.federation && options_.federation->tls && !fs::exists(dir / kTlsCertFile, ec)) {
    const std::string& name = options_.server_name;
    const std::string host = name.back() == ']' ? name : name.substr(0, name.rfind(':'));
    if (auto r = write_self_signed_certificate(dir / kTlsCertFile, dir / kTlsKeyFile, host); !r) {
      return r;
    }
  }
  if (options_.shared_secret.empty()) {
    auto secret = random_hex(32);
    if (!secret) return secret.error();
    options_.shared_secret = std::move(*secret);
  }

  const fs::path config = dir / kConfigFile;
  if (auto r = write_file(dir / kLogConfigFile, log_config_yaml(dir)); !r) return r;
  if (auto r = write_file(config, homeserver_yaml(options_, registrations)); !r) return r;

  const fs::path stdout_log = dir / kStdoutLogFile;
  const auto start_deadline = Clock::now() + options_.start_timeout;
  auto remaining = [&] {
    return std::max(milliseconds(0),
                    std::chrono::duration_cast<milliseconds>(start_deadline - Clock::now()));
  };

  // Only the first start of a directory generates the key; it must persist, since remote
  // servers (and Synapse's own database) remember it.
  if (!fs::exists(dir / kSigningKeyFile, ec)) {
    const LogMarks marks = mark_logs(dir);
    auto pid = spawn_logged({options_.python.string(), "-m", "synapse.app.homeserver", "-c",
                             config.string(), "--generate-keys"},
                            dir, stdout_log, kSandboxCode);
    if (!pid) return pid.error();
    auto status = wait_for_exit(*pid, remaining());
    if (!status) {
      kill(-*pid, SIGKILL);
      (void)wait_for_exit(*pid, kKillWait);
      return sandbox_error("generating the signing key took longer than the start timeout" +
                           log_tails(dir, marks));
    }
    if (*status != 0 || !fs::exists(dir / kSigningKeyFile, ec)) {
      return sandbox_error("generating the signing key failed (" + describe_status(*status) + ")" +
                           log_tails(dir, marks));
    }
  }

  const LogMarks marks = mark_logs(dir);
  auto pid = spawn_logged(
      {options_.python.string(), "-m", "synapse.app.homeserver", "-c", config.string()}, dir,
      stdout_log, kSandboxCode);
  if (!pid) return pid.error();
  pid_ = *pid;
  (void)write_file(dir / kPidFile, std::to_string(pid_) + "\n");  // best effort

  httplib::Client client("127.0.0.1", options_.port);
  client.set_connection_timeout(std::chrono::seconds(1));
  client.set_read_timeout(std::chrono::seconds(1));
  while (true) {
    const auto tick = Clock::now();
    if (auto status = wait_for_exit(pid_, milliseconds(0))) {
      pid_ = -1;
      fs::remove(dir / kPidFile, ec);
      return sandbox_error("Synapse exited during startup (" + describe_status(*status) + ")" +
                           log_tails(dir, marks));
    }
    if (auto res = client.Get("/_matrix/client/versions"); res && res->status == 200) return {};
    if (tick >= start_deadline) break;
    std::this_thread::sleep_until(tick + kReadyPollInterval);
  }
  std::string tails = log_tails(dir, marks);
  stop(milliseconds(5000));
  return sandbox_error("Synapse did not answer GET " + base_url() +
                       "/_matrix/client/versions within " +
                       std::to_string(options_.start_timeout.count()) + " s" + tails);
}

void SynapseProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  // The whole group: Synapse is its leader (POSIX_SPAWN_SETPGROUP). An unreaped child keeps its
  // PID, so this never hits a recycled one.
  stop_group(pid_, grace);
  pid_ = -1;
  std::error_code ec;
  fs::remove(options_.dir / kPidFile, ec);
}

bool SynapseProcess::running() const {
  if (pid_ <= 0) return false;
  // WNOWAIT: look without reaping, so a const query leaves the zombie (and its PID) to stop().
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == 0;
}

std::string SynapseProcess::base_url() const {
  return "http://127.0.0.1:" + std::to_string(options_.port);
}

uint16_t SynapseProcess::port() const { return options_.port; }

uint16_t SynapseProcess::federation_port() const {
  return options_.federation ? options_.federation->port : 0;
}

const std::string& SynapseProcess::server_name() const { return options_.server_name; }

const std::filesystem::path& SynapseProcess::dir() const { return options_.dir; }

std::filesystem::path SynapseProcess::log_file() const { return options_.dir / kSynapseLogFile; }

Result<RegisteredUser> SynapseProcess::register_user(const std::string& localpart,
                                                     const std::string& password, bool admin) {
  if (pid_ <= 0) return sandbox_error("register " + localpart + ": Synapse is not running");
  httplib::Client client("127.0.0.1", options_.port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(30));  // password hashing is deliberately slow

  const std::string what = "register " + localpart;
  auto nonce_res = client.Get("/_synapse/admin/v1/register");
  if (!nonce_res) return network_error(what, nonce_res);
  if (nonce_res->status != 200) return matrix_error(what, nonce_res);
  auto nonce = string_field(nlohmann::json::parse(nonce_res->body, nullptr, false), "nonce", what);
  if (!nonce) return nonce.error();

  nlohmann::json body = {
      {"nonce", *nonce},
      {"username", localpart},
      {"password", password},
      {"admin", admin},
      {"mac", registration_mac(options_.shared_secret, *nonce, localpart, password, admin)},
  };
  auto res = client.Post("/_synapse/admin/v1/register", body.dump(), "application/json");
  if (!res) return network_error(what, res);
  if (res->status == 200) return parse_user(res->body, what);
  Error err = matrix_error(what, res);
  if (err.code != "M_USER_IN_USE") return err;

  // Re-runs of the sandbox find their users already there: log in instead.
  const std::string login_what = "log in " + localpart;
  nlohmann::json login = {
      {"type", "m.login.password"},
      {"identifier", {{"type", "m.id.user"}, {"user", localpart}}},
      {"password", password},
  };
  auto login_res = client.Post("/_matrix/client/v3/login", login.dump(), "application/json");
  if (!login_res) return network_error(login_what, login_res);
  if (login_res->status != 200) return matrix_error(login_what, login_res);
  return parse_user(login_res->body, login_what);
}

uint16_t free_loopback_port() { return free_port("127.0.0.1"); }

uint16_t free_port(const std::string& ipv4_address) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (inet_pton(AF_INET, ipv4_address.c_str(), &addr.sin_addr) != 1) return 0;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  socklen_t len = sizeof(addr);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

Result<void> write_self_signed_certificate(const fs::path& cert_file, const fs::path& key_file,
                                           const std::string& host) {
  using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
  using Cert = std::unique_ptr<X509, decltype(&X509_free)>;
  using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
  const std::string what = "self-signed certificate for " + host + ": ";
  Key key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  Cert cert(X509_new(), X509_free);
  if (!key || !cert) return sandbox_error(what + "OpenSSL could not make a key");
  unsigned char serial[8];
  if (RAND_bytes(serial, sizeof serial) != 1) return sandbox_error(what + "RAND_bytes failed");
  uint64_t serial_value = 0;
  for (unsigned char b : serial) serial_value = (serial_value << 8) | b;
  X509_NAME* name = X509_get_subject_name(cert.get());
  const bool ok =
      X509_set_version(cert.get(), 2) == 1 &&
      ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial_value >> 1) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600) != nullptr &&
      X509_set_pubkey(cert.get(), key.get()) == 1 &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(cert.get(), name) == 1 &&
      X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) return sandbox_error(what + "OpenSSL could not sign it");
  Bio cert_pem(BIO_new(BIO_s_mem()), BIO_free);
  Bio key_pem(BIO_new(BIO_s_mem()), BIO_free);
  if (!cert_pem || !key_pem || PEM_write_bio_X509(cert_pem.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return sandbox_error(what + "OpenSSL could not write PEM");
  }
  auto text = [](BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(size));
  };
  if (auto r = write_file(key_file, text(key_pem.get())); !r) return r;
  return write_file(cert_file, text(cert_pem.get()));
}

std::filesystem::path default_synapse_python() {
  if (const char* env = std::getenv("TYR_SYNAPSE_PYTHON"); env != nullptr && *env != '\0') {
    return env;
  }
  return TYR_DEFAULT_SYNAPSE_PYTHON;
}

}  // namespace tyr::cli::sandbox
