#include "tests/e2e/harness.hpp"

#include "tests/e2e/file_tail.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <yaml-cpp/yaml.h>

#include "engine/config/config.hpp"

namespace tyr::e2e {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_counter{0};

std::string unique_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000) + "-" +
         std::to_string(g_counter++);
}

template <class T>
T must(Result<T> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().to_string());
  return std::move(r).value();
}

void must(Result<void> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().to_string());
}

}  // namespace

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

Harness::Harness(HarnessOptions options)
    : homeserver_(options.homeserver), extra_config_(std::move(options.extra_config)) {
  dir_ = fs::temp_directory_path() / ("tyr-e2e-" + unique_suffix());
  fs::create_directories(dir_);
  tyr_port_ = cli::sandbox::free_loopback_port();

  const bool dendrite = homeserver_ == Homeserver::dendrite;
  if (dendrite && (options.federation || !options.synapse_yaml.empty())) {
    throw std::logic_error("the Dendrite harness has no federation and takes no synapse_yaml");
  }
  cli::sandbox::SynapseOptions so;
  so.dir = dir_ / "synapse";
  so.python = cli::sandbox::default_synapse_python();
  so.appservice_registrations = {dir_ / "registration.yaml"};
  so.extra_yaml = std::move(options.synapse_yaml);
  if (options.federation) {
    federation_ = std::make_unique<Federation>(dir_ / "federation");
    federation_->configure_local(so);
  }
  server_name_ = so.server_name;

  // Tyr's config, then its registration written by `tyr registration`, loaded unchanged by
  // the homeserver. The operator's ID is known in advance: the shared-secret API registers it
  // below.
  op_user_ = "@operator:" + server_name_;
  write_config("http://127.0.0.1:1");
  const std::string cmd = std::string(TYR_BINARY) + " registration --config '" +
                          (dir_ / "tyr.yaml").string() + "' > '" +
                          (dir_ / "registration.log").string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("tyr registration failed: " + cmd);
  YAML::Node reg = YAML::LoadFile((dir_ / "registration.yaml").string());
  as_token_ = reg["as_token"].as<std::string>();
  hs_token_ = reg["hs_token"].as<std::string>();

  if (dendrite) {
    DendriteOptions d;
    d.dir = dir_ / "dendrite";
    d.bin = default_dendrite_bin();
    d.server_name = server_name_;
    d.appservice_registrations = {dir_ / "registration.yaml"};
    dendrite_ = std::make_unique<DendriteProcess>(d);
    must(dendrite_->start(), "starting Dendrite");
  } else {
    synapse_ = std::make_unique<cli::sandbox::SynapseProcess>(so);
  }
  if (federation_) {
    // nginx and B start while A does; the future's destructor waits for them if A fails.
    auto others = std::async(std::launch::async, [this] { federation_->start(); });
    must(synapse_->start(), "starting Synapse");
    others.get();
  } else if (synapse_) {
    must(synapse_->start(), "starting Synapse");
  }

  auto op = must(register_user("operator", "operator-pw", true), "register operator");
  auto stranger = must(register_user("stranger", "stranger-pw", false), "register stranger");
  if (op.user_id != op_user_) throw std::runtime_error("unexpected operator id " + op.user_id);
  stranger_user_ = stranger.user_id;
  const std::string url = homeserver_url();
  op_client_ = test_client(url, op.access_token);
  op_token_ = op.access_token;
  stranger_client_ = test_client(url, stranger.access_token);
  as_client_ = test_client(url, as_token_);
  if (options.tyr_first) {
    write_config(url);
    spawn_tyr();
    spawned_early_ = true;
  }

  mgmt_room_ = must(op_client_->create_room({{"preset", "private_chat"},
                                             {"room_alias_name", "tyr-admin"},
                                             {"name", "Tyr management"},
                                             {"invite", {bot_user(), stranger_user_}}}),
                    "create management room");
  must(stranger_client_->join(mgmt_room_), "stranger joins the management room");

  write_config(url);
}

std::string Harness::homeserver_url() const {
  return dendrite_ ? dendrite_->base_url() : synapse_->base_url();
}

Result<cli::sandbox::RegisteredUser> Harness::register_user(const std::string& localpart,
                                                            const std::string& password,
                                                            bool admin) {
  return dendrite_ ? dendrite_->register_user(localpart, password, admin)
                   : synapse_->register_user(localpart, password, admin);
}

void Harness::set_extra_config(std::string extra_config) {
  extra_config_ = std::move(extra_config);
  write_config(homeserver_url());
}

void Harness::write_config(const std::string& homeserver_url) {
  std::ofstream(dir_ / "tyr.yaml")
      << "homeserver:\n  url: \"" << homeserver_url << "\"\n  server_name: \"" << server_name_
      << "\"\n"
      // Before the operator exists (registration time) the admin token is not known yet.
      << "  admin_token: \"" << (op_token_.empty() ? std::string("unknown-yet") : op_token_)
      << "\"\n"
      << "appservice:\n  bind_address: 127.0.0.1\n  port: " << tyr_port_
      << "\n  registration: registration.yaml\n"
      << "management:\n  room: \"#tyr-admin:" << server_name_ << "\"\n  operators: [\"" << op_user_
      << "\"]\n"
      << "data_dir: tyr-data\nlog_level: debug\n"
      << extra_config_;
}

Harness::~Harness() {
  if (tyr_pid_ > 0) kill_tyr(SIGTERM);
  if (synapse_) synapse_->stop();
  if (dendrite_) dendrite_->stop();
  if (federation_) federation_->stop();
  if (!std::getenv("TYR_E2E_KEEP")) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

void Harness::spawn_tyr() {
  const std::string log = (dir_ / "tyr.log").string();
  const std::string config = (dir_ / "tyr.yaml").string();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(TYR_BINARY, TYR_BINARY, "run", "--config", config.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  tyr_pid_ = pid;
  ++tyr_starts_;
}

void Harness::start_tyr() {
  if (spawned_early_) {
    spawned_early_ = false;  // running since the constructor: only wait for it
  } else {
    if (tyr_pid_ > 0) throw std::logic_error("tyr is already running");
    spawn_tyr();
  }
  // Ready = Tyr answers a ping in the management room. Events sent before Tyr joined the room
  // are never pushed to it, so ask again until it answers.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  wait_until(
      [&] {
        auto members = op().joined_members(mgmt_room_);
        return !tyr_running() || (members && members.value()["joined"].contains(bot_user()));
      },
      30s);
  for (int attempt = 1; std::chrono::steady_clock::now() < deadline; ++attempt) {
    const std::string token = "ready-" + std::to_string(tyr_starts_) + "-" +
                              std::to_string(attempt) + "-" + unique_suffix();
    try {
      say(op(), mgmt_room_, "!tyr ping " + token);
    } catch (const std::exception&) {
      // A veto module that fails closed refuses messages until Tyr's listener is up.
      std::this_thread::sleep_for(200ms);
      continue;
    }
    if (!wait_reply("pong " + token, 3s).empty()) return;
    if (!tyr_running()) break;
  }
  throw std::runtime_error("tyr did not answer within 60 s; log tail:\n" + tyr_log_tail());
}

void Harness::kill_tyr(int signal) {
  if (tyr_pid_ <= 0) return;
  ::kill(tyr_pid_, signal);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (::waitpid(tyr_pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(tyr_pid_, SIGKILL);
      ::waitpid(tyr_pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  tyr_pid_ = -1;
}

void Harness::kill_tyr_signal(int signal) {
  if (tyr_pid_ > 0) ::kill(tyr_pid_, signal);
}

bool Harness::tyr_running() const {
  return tyr_pid_ > 0 && ::waitpid(tyr_pid_, nullptr, WNOHANG) == 0;
}

std::string Harness::say(engine::HomeserverClient& who, const std::string& room,
                         const std::string& text) {
  return must(who.send_event(room, "m.room.message", {{"msgtype", "m.text"}, {"body", text}},
                             "e2e-" + unique_suffix()),
              "send '" + text + "'");
}

std::vector<nlohmann::json> Harness::messages(const std::string& room) {
  return messages(room, op());
}

std::vector<nlohmann::json> Harness::messages(const std::string& room,
                                              engine::HomeserverClient& reader) {
  std::vector<nlohmann::json> out;
  std::string from;
  for (int page = 0; page < 100; ++page) {
    auto res =
        must(reader.messages(room, "b", from, 200, nlohmann::json{{"types", {"m.room.message"}}}),
             "read messages");
    for (auto& ev : res["chunk"]) out.push_back(ev);
    if (!res.contains("end") || res["chunk"].empty()) break;
    from = res["end"].get<std::string>();
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<bool> Harness::is_redacted(const std::string& room, const std::string& event_id) {
  for (const auto& ev : messages(room)) {
    if (ev.value("event_id", "") == event_id)
      return ev.value("content", nlohmann::json::object()).empty();
  }
  return std::nullopt;
}

std::vector<std::string> Harness::tyr_replies() {
  std::vector<std::string> out;
  for (const auto& ev : messages(mgmt_room_)) {
    if (ev.value("sender", "") == bot_user()) out.push_back(ev["content"].value("body", ""));
  }
  return out;
}

std::string Harness::wait_reply(const std::string& needle, std::chrono::milliseconds timeout) {
  std::string found;
  wait_until(
      [&] {
        for (const auto& body : tyr_replies()) {
          if (body.find(needle) != std::string::npos) {
            found = body;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

std::string Harness::create_room_with_tyr(const std::string& alias_localpart) {
  nlohmann::json request = {
      {"preset", "public_chat"}, {"room_alias_name", alias_localpart}, {"invite", {bot_user()}}};
  if (dendrite_) {
    // Dendrite has no room version 12: its default version lists the creator's power.
    request["power_level_content_override"] = {{"users", {{op_user_, 100}, {bot_user(), 100}}}};
  } else {
    request["room_version"] = "12";  // the creator's power is implicit
    request["power_level_content_override"] = {{"users", {{bot_user(), 100}}}};
  }
  return must(op().create_room(request), "create room " + alias_localpart);
}

std::string Harness::make_list_room(const std::string& alias_localpart) {
  nlohmann::json request = {{"preset", "public_chat"}, {"room_alias_name", alias_localpart}};
  if (!dendrite_) request["room_version"] = "12";  // Dendrite has no room version 12
  return must(op().create_room(request), "create list room " + alias_localpart);
}

void Harness::put_rule(const std::string& list, const std::string& type, const std::string& key,
                       const nlohmann::json& content) {
  must(op().send_state(list, type, key, content), "put " + type + " " + key);
}

engine::HomeserverClient& Harness::add_user(const std::string& localpart) {
  // Dendrite refuses passwords under 8 characters.
  auto u = must(register_user(localpart, localpart + "-password", false), "register " + localpart);
  user_clients_.push_back(test_client(homeserver_url(), u.access_token));
  return *user_clients_.back();
}

std::string Harness::membership(const std::string& room, const std::string& user) {
  auto r = op().state_event(room, "m.room.member", user);
  return r ? r->value("membership", "") : "";
}

nlohmann::json Harness::state(const std::string& room, const std::string& type,
                              const std::string& key) {
  auto r = op().state_event(room, type, key);
  return r ? *r : nlohmann::json::object();
}

void Harness::protect(const std::string& room) {
  say(op(), mgmt_room_, "!tyr rooms add " + room);
  if (wait_reply("Now protecting " + room, 30s).empty()) {
    throw std::runtime_error("tyr did not protect " + room + "; log tail:\n" + tyr_log_tail());
  }
}

const Federation& Harness::fed() const {
  if (!federation_) throw std::logic_error("the harness runs without federation");
  return *federation_;
}

Federation& Harness::federation() { return const_cast<Federation&>(fed()); }

engine::HomeserverClient& Harness::remote_user(const std::string& localpart) {
  return federation().remote_user(localpart);
}

std::string Harness::remote_user_id(const std::string& localpart) const {
  return fed().remote_user_id(localpart);
}

const std::string& Harness::remote_server_name() const { return fed().remote_server_name(); }

const std::string& Harness::remote_host() const { return fed().remote_host(); }

uint16_t Harness::federation_port() const { return fed().proxy_port(); }

uint16_t Harness::policy_port() const { return fed().policy_port(); }

std::string Harness::nginx_log(size_t lines) const { return fed().nginx_log(lines); }

std::string Harness::tyr_log_tail(size_t lines) const { return file_tail(dir_ / "tyr.log", lines); }

std::unique_ptr<engine::HomeserverClient> test_client(const std::string& url,
                                                      const std::string& token) {
  engine::ClientOptions o;
  o.base_url = url;
  o.as_token = token;
  o.max_attempts = 3;
  o.request_timeout = std::chrono::milliseconds(15000);
  return std::make_unique<engine::HomeserverClient>(o);
}

std::string command_output(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::filesystem::path Harness::copy_rules() const {
  const std::filesystem::path rules = dir_ / "rules";
  std::filesystem::create_directories(rules);
  std::filesystem::copy_file(std::filesystem::path(TYR_FIXTURES_DIR) / "e2e-rules" / "rules.yaml",
                             rules / "rules.yaml",
                             std::filesystem::copy_options::overwrite_existing);
  return rules;
}

}  // namespace tyr::e2e
