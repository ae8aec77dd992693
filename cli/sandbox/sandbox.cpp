#include "cli/sandbox/sandbox.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "engine/client/homeserver_client.hpp"
#include "engine/core/log.hpp"
#include "engine/core/private_files.hpp"

namespace tyr::cli::sandbox {

namespace {

constexpr const char* kServerName = "localhost";

#ifndef TYR_DEFAULT_RULES_DIR
#define TYR_DEFAULT_RULES_DIR "rules/default"
#endif

bool port_is_free(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

uint16_t pick_port(const nlohmann::json& saved, const char* key, uint16_t preferred) {
  if (saved.contains(key) && saved[key].is_number_unsigned()) {
    auto p = saved[key].get<uint16_t>();
    if (port_is_free(p)) return p;
  }
  if (port_is_free(preferred)) return preferred;
  return free_loopback_port();
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every sandbox file is private: sandbox.json holds passwords and the registration secret,
// registration.yaml the appservice tokens.
void write_file(const std::filesystem::path& p, const std::string& text) {
  if (auto written = write_private_file(p, text); !written) {
    throw std::runtime_error(written.error().message);
  }
}

Error sandbox_error(const std::string& what, const Error& cause) {
  return Error{"TYR_SANDBOX", what + ": " + cause.to_string(), cause.status, -1};
}

}  // namespace

Sandbox::Sandbox(std::filesystem::path dir, std::filesystem::path python)
    : dir_(std::filesystem::absolute(std::move(dir))), python_(std::move(python)) {}

Sandbox::~Sandbox() {
  synapse_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

Result<SandboxInfo> Sandbox::start() {
  if (auto made = create_private_dir(dir_); !made) {
    return sandbox_error("cannot create the sandbox", made.error());
  }
  // One Tyr per sandbox: ports, tokens and files below belong to whoever holds the lock.
  const auto lock_path = dir_ / "lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    return Error{"TYR_SANDBOX", "cannot open " + lock_path.string() + ": " + std::strerror(errno)};
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Error{"TYR_SANDBOX", "another `tyr run` is using the sandbox in " + dir_.string() +
                                    "; stop it first, or pass --sandbox-dir DIR for a second one"};
  }
  const auto state_path = dir_ / "sandbox.json";
  nlohmann::json saved = nlohmann::json::object();
  if (std::filesystem::exists(state_path)) {
    saved = nlohmann::json::parse(read_file(state_path), nullptr, false);
    if (!saved.is_object()) saved = nlohmann::json::object();
  }
  const uint16_t synapse_port = pick_port(saved, "synapse_port", 8008);
  const uint16_t tyr_port = pick_port(saved, "tyr_port", 9000);
  if (!saved.contains("operator_password"))
    saved["operator_password"] = engine::random_token().substr(0, 16);
  saved["synapse_port"] = synapse_port;
  saved["tyr_port"] = tyr_port;
  write_file(state_path, saved.dump(2) + "\n");

  // Registration: fresh tokens once; kept across runs so Synapse's stored state stays valid.
  const auto registration = dir_ / "registration.yaml";
  engine::Config reg_cfg;
  reg_cfg.homeserver.server_name = kServerName;
  reg_cfg.appservice.port = tyr_port;
  if (std::filesystem::exists(registration)) {
    // Reuse the tokens; the URL is rewritten in case the port changed.
    try {
      YAML::Node old = YAML::LoadFile(registration.string());
      reg_cfg.appservice.as_token = old["as_token"].as<std::string>("");
      reg_cfg.appservice.hs_token = old["hs_token"].as<std::string>("");
    } catch (const YAML::Exception& e) {
      log::warn("sandbox", "replacing unreadable " + registration.string() + ": " + e.what());
    }
  }
  if (reg_cfg.appservice.as_token.empty() || reg_cfg.appservice.hs_token.empty()) {
    reg_cfg.appservice.as_token = engine::random_token();
    reg_cfg.appservice.hs_token = engine::random_token();
  }
  write_file(registration, engine::registration_yaml(reg_cfg));

  const std::string management_alias = std::string("#tyr-admin:") + kServerName;
  const std::string demo_alias = std::string("#demo:") + kServerName;
  const std::string operator_user = std::string("@operator:") + kServerName;
  std::ostringstream cfg;
  cfg << "# Tyr configuration for the local sandbox (written by `tyr run`).\n"
      << "homeserver:\n  url: \"http://127.0.0.1:" << synapse_port << "\"\n"
      << "  server_name: \"" << kServerName << "\"\n"
      << "appservice:\n  bind_address: \"127.0.0.1\"\n  port: " << tyr_port << "\n"
      << "  registration: \"registration.yaml\"\n"
      << "management:\n  room: \"" << management_alias << "\"\n"
      << "  operators: [\"" << operator_user << "\"]\n"
      << "data_dir: \"tyr-data\"\n"
      << "rules:\n  dir: \"" << TYR_DEFAULT_RULES_DIR << "\"\n";
  write_file(dir_ / "tyr.yaml", cfg.str());

  SynapseOptions sopts;
  sopts.dir = dir_ / "synapse";
  sopts.python = python_;
  sopts.server_name = kServerName;
  sopts.port = synapse_port;
  sopts.appservice_registrations = {registration};
  sopts.shared_secret = saved.value("shared_secret", "");
  if (sopts.shared_secret.empty()) {
    sopts.shared_secret = engine::random_token();
    saved["shared_secret"] = sopts.shared_secret;
    write_file(state_path, saved.dump(2) + "\n");
  }
  synapse_ = std::make_unique<SynapseProcess>(sopts);
  log::info("sandbox", "starting Synapse on 127.0.0.1:" + std::to_string(synapse_port) +
                           " (files in " + sopts.dir.string() + ")");
  if (auto r = synapse_->start(); !r) return sandbox_error("Synapse did not start", r.error());

  const std::string password = saved["operator_password"].get<std::string>();
  auto op = synapse_->register_user("operator", password, /*admin=*/true);
  if (!op) return sandbox_error("cannot create the operator account", op.error());

  engine::ClientOptions copts;
  copts.base_url = synapse_->base_url();
  copts.as_token = op->access_token;
  engine::HomeserverClient operator_client(copts);
  const std::string bot = std::string("@tyr:") + kServerName;

  auto ensure_room = [&](const std::string& alias,
                         const nlohmann::json& body) -> Result<std::string> {
    if (auto found = operator_client.resolve_alias(alias)) return found->room_id;
    return operator_client.create_room(body);
  };
  auto mgmt = ensure_room(management_alias, {{"preset", "private_chat"},
                                             {"room_alias_name", "tyr-admin"},
                                             {"name", "Tyr management"},
                                             {"topic", "Talk to Tyr here: !tyr help"},
                                             {"invite", {bot}}});
  if (!mgmt) return sandbox_error("cannot create the management room", mgmt.error());
  auto demo =
      ensure_room(demo_alias, {{"preset", "public_chat"},
                               {"room_version", "12"},  // the creator's power is implicit
                               {"room_alias_name", "demo"},
                               {"name", "Tyr sandbox: a protected room"},
                               {"invite", {bot}},
                               {"power_level_content_override", {{"users", {{bot, 100}}}}}});
  if (!demo) return sandbox_error("cannot create the demo room", demo.error());

  // A visitor to post in the demo room: operators are exempt from Tyr's actions.
  if (!saved.contains("visitor_password")) {
    saved["visitor_password"] = engine::random_token().substr(0, 16);
    write_file(state_path, saved.dump(2) + "\n");
  }
  const std::string visitor_password = saved["visitor_password"].get<std::string>();
  auto visitor = synapse_->register_user("visitor", visitor_password, /*admin=*/false);
  if (!visitor) return sandbox_error("cannot create the visitor account", visitor.error());
  {
    engine::ClientOptions vopts = copts;
    vopts.as_token = visitor->access_token;
    engine::HomeserverClient visitor_client(vopts);
    if (auto joined = visitor_client.join(*demo); !joined) {
      return sandbox_error("the visitor cannot join the demo room", joined.error());
    }
  }

  SandboxInfo info;
  try {
    info.config = engine::load_config_file(dir_ / "tyr.yaml");
  } catch (const std::exception& e) {
    return Error{"TYR_SANDBOX", e.what(), 0, -1};
  }
  info.operator_user = op->user_id;
  info.operator_password = password;
  info.operator_token = op->access_token;
  info.management_alias = management_alias;
  info.demo_alias = demo_alias;
  info.demo_room_id = *demo;
  info.visitor_user = visitor->user_id;
  info.visitor_password = visitor_password;
  info.visitor_token = visitor->access_token;
  return info;
}

}  // namespace tyr::cli::sandbox
