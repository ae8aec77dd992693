#include "tests/e2e/federation.hpp"
#include "cli/sandbox/child_process.hpp"
#include "tests/e2e/file_tail.hpp"
#include "tests/e2e/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <httplib.h>

namespace tyr::e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kNginxStartTimeout = 15s;
constexpr auto kNginxStopGrace = 5s;

std::string tail(const fs::path& file, size_t lines) {
  return "--- " + file.string() + "\n" + file_tail(file, lines);
}

// Every address `host` resolves to through the system resolver (/etc/hosts first on Debian),
// as Synapse's own resolver would see them; IPv6 ones in brackets.
std::vector<std::string> addresses_of(const std::string& host, int family) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::vector<std::string> out;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ai->ai_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, buf, sizeof buf);
      out.emplace_back(buf);
    } else if (ai->ai_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, buf,
                  sizeof buf);
      out.push_back("[" + std::string(buf) + "]");
    }
  }
  ::freeaddrinfo(res);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool plain_hostname(const std::string& s) {
  in_addr ignored{};
  return !s.empty() && s != "localhost" && ::inet_pton(AF_INET, s.c_str(), &ignored) != 1 &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
         });
}

struct RemoteHost {
  std::string name;
  std::string address;  // IPv4 that B binds
};

// B's host: TYR_E2E_REMOTE_HOST, else the machine's host name. Falls back to the IP literal
// 127.0.0.2 (documented caveat: an ACL Tyr writes for any rule then cuts B off).
RemoteHost pick_remote_host() {
  if (const char* env = std::getenv("TYR_E2E_REMOTE_HOST"); env != nullptr && *env != '\0') {
    auto v4 = addresses_of(env, AF_INET);
    if (v4.empty())
      throw std::runtime_error(std::string("TYR_E2E_REMOTE_HOST does not resolve: ") + env);
    return {env, v4.front()};
  }
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) == 0 && plain_hostname(buf)) {
    for (const std::string& address : addresses_of(buf, AF_INET)) {
      if (cli::sandbox::free_port(address) != 0) return {buf, address};
    }
  }
  static bool warned = false;
  if (!warned) {
    std::cerr << "federation fixture: host name '" << buf
              << "' is not usable for B; using 127.0.0.2 (Tyr's ACLs deny IP literals)\n";
    warned = true;
  }
  return {"127.0.0.2", "127.0.0.2"};
}

fs::path nginx_binary() {
  if (const char* env = std::getenv("TYR_NGINX"); env != nullptr && *env != '\0') return env;
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/usr/local/sbin";  // a non-root PATH on Debian lacks sbin
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find(':', start), path.size());
    fs::path candidate = fs::path(path.substr(start, end - start)) / "nginx";
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  throw std::runtime_error("nginx not found (run scripts/setup.sh, or set TYR_NGINX)");
}

}  // namespace

Federation::Federation(fs::path dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_ / "nginx" / "tmp");
  proxy_port_ = cli::sandbox::free_loopback_port();
  local_backend_port_ = cli::sandbox::free_loopback_port();
  policy_port_ = cli::sandbox::free_loopback_port();
  const RemoteHost remote = pick_remote_host();
  remote_host_ = remote.name;
  remote_address_ = remote.address;
  remote_port_ = cli::sandbox::free_port(remote_address_);
  if (proxy_port_ == 0 || local_backend_port_ == 0 || policy_port_ == 0 || remote_port_ == 0) {
    throw std::runtime_error("federation fixture: no free ports");
  }
  local_name_ = "localhost:" + std::to_string(proxy_port_);
  remote_name_ = remote_host_ + ":" + std::to_string(remote_port_);
}

Federation::~Federation() { stop(); }

void Federation::configure_local(cli::sandbox::SynapseOptions& a) const {
  a.server_name = local_name_;
  a.federation = cli::sandbox::FederationListener{"127.0.0.1", local_backend_port_, false};
}

void Federation::write_nginx_config() const {
  const fs::path d = dir_ / "nginx";
  auto r = cli::sandbox::write_self_signed_certificate(d / "tls.crt", d / "tls.key", "localhost");
  if (!r) throw std::runtime_error("nginx certificate: " + r.error().to_string());
  // Every address `localhost` has, so a peer that tries ::1 first finds nginx there too.
  std::string listen;
  for (const std::string& address : addresses_of("localhost", AF_UNSPEC)) {
    listen += "    listen " + address + ":" + std::to_string(proxy_port_) + " ssl;\n";
  }
  if (listen.empty()) listen = "    listen 127.0.0.1:" + std::to_string(proxy_port_) + " ssl;\n";
  const std::string headers =
      "      proxy_set_header Host $host:$server_port;\n"
      "      proxy_set_header X-Forwarded-For $remote_addr;\n"
      "      proxy_set_header X-Forwarded-Proto https;\n";
  const std::string t = (d / "tmp").string();
  std::ofstream(d / "nginx.conf")
      << "# Written by the e2e federation fixture (tests/e2e/federation.cpp).\n"
      << "daemon off;\nworker_processes 1;\n"
      << "pid " << (d / "nginx.pid").string() << ";\n"
      << "error_log " << (d / "error.log").string() << " notice;\n"
      << "events { worker_connections 256; }\n"
      << "http {\n"
      << "  log_format routed '$remote_addr \"$request\" $status -> $upstream_addr "
         "($upstream_status) ${request_time}s';\n"
      << "  access_log " << (d / "access.log").string() << " routed;\n"
      << "  client_body_temp_path " << t << "/body;\n  proxy_temp_path " << t << "/proxy;\n"
      << "  fastcgi_temp_path " << t << "/fastcgi;\n  uwsgi_temp_path " << t << "/uwsgi;\n"
      << "  scgi_temp_path " << t << "/scgi;\n"
      << "  server {\n"
      << listen << "    server_name localhost;\n"
      << "    ssl_certificate " << (d / "tls.crt").string() << ";\n"
      << "    ssl_certificate_key " << (d / "tls.key").string() << ";\n"
      << "    client_max_body_size 50m;\n"
      << "    location /_matrix/policy/ {\n"
      << "      proxy_pass http://127.0.0.1:" << policy_port_ << ";\n"
      << headers << "    }\n"
      << "    location / {\n"
      << "      proxy_pass http://127.0.0.1:" << local_backend_port_ << ";\n"
      << "      proxy_http_version 1.1;\n"
      << headers << "    }\n"
      << "  }\n"
      << "}\n";
}

void Federation::start_nginx() {
  const fs::path d = dir_ / "nginx";
  const fs::path binary = nginx_binary();
  // -e: the error log before the config is read (the default is a system path); -p: prefix.
  std::vector<std::string> args = {
      binary.string(),           "-p", d.string() + "/", "-c", (d / "nginx.conf").string(), "-e",
      (d / "error.log").string()};
  // Its own group: stop() stops the workers with it.
  auto pid = cli::sandbox::spawn_logged(args, {}, d / "nginx.stdout.log", "TYR_NGINX");
  if (!pid) throw std::runtime_error(pid.error().message);
  nginx_pid_ = *pid;

  // Up = it answers TLS on the proxy port (a 502 while A is still starting is fine).
  httplib::SSLClient probe("127.0.0.1", proxy_port_);
  probe.enable_server_certificate_verification(false);
  probe.set_connection_timeout(1s);
  probe.set_read_timeout(2s);
  const auto deadline = Clock::now() + kNginxStartTimeout;
  while (Clock::now() < deadline) {
    if (cli::sandbox::wait_for_exit(nginx_pid_, 0ms)) {
      nginx_pid_ = -1;
      throw std::runtime_error("nginx exited at start\n" + nginx_log(20) +
                               tail(d / "nginx.stdout.log", 20));
    }
    if (probe.Get("/_matrix/federation/v1/version")) return;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("nginx did not answer on 127.0.0.1:" + std::to_string(proxy_port_) +
                           "\n" + nginx_log(20));
}

void Federation::start() {
  write_nginx_config();
  cli::sandbox::SynapseOptions b;
  b.dir = dir_ / "synapse-b";
  b.python = cli::sandbox::default_synapse_python();
  b.server_name = remote_name_;
  b.federation = cli::sandbox::FederationListener{remote_address_, remote_port_, true};
  remote_ = std::make_unique<cli::sandbox::SynapseProcess>(b);
  // B's start (a few seconds of Python) overlaps nginx's; the future's destructor joins it
  // when nginx fails.
  auto started = std::async(std::launch::async, [this] { return remote_->start(); });
  start_nginx();
  if (auto r = started.get(); !r) {
    throw std::runtime_error("starting Synapse B (" + remote_name_ + "): " + r.error().to_string());
  }
}

void Federation::stop() {
  if (nginx_pid_ > 0) {
    // SIGTERM is nginx's fast shutdown; SIGQUIT would wait for keep-alive connections.
    cli::sandbox::stop_group(nginx_pid_, kNginxStopGrace);
    nginx_pid_ = -1;
  }
  remote_users_.clear();
  if (remote_) remote_->stop();
}

engine::HomeserverClient& Federation::remote_user(const std::string& localpart) {
  if (auto it = remote_users_.find(localpart); it != remote_users_.end()) return *it->second;
  if (!remote_) throw std::logic_error("federation fixture not started");
  auto u = remote_->register_user(localpart, localpart + "-pw", false);
  if (!u) throw std::runtime_error("register " + localpart + " on B: " + u.error().to_string());
  auto& slot = remote_users_[localpart];
  slot = test_client(remote_->base_url(), u->access_token);
  return *slot;
}

std::string Federation::remote_user_id(const std::string& localpart) const {
  return "@" + localpart + ":" + remote_name_;
}

std::string Federation::nginx_log(size_t lines) const {
  return tail(dir_ / "nginx" / "error.log", lines) + tail(dir_ / "nginx" / "access.log", lines);
}

std::string Federation::remote_log(size_t lines) const {
  return tail(dir_ / "synapse-b" / "homeserver.log", lines);
}

}  // namespace tyr::e2e
