// The `tyr` binary: the only composition root. Subcommands are listed in kCommands, which
// also gives `tyr help` its text.

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cli/audit_tools.hpp"
#include "cli/plugins_tools.hpp"
#include "cli/policy_tools.hpp"
#include "cli/rules_tools.hpp"
#include "cli/sandbox/sandbox.hpp"
#include "cli/service.hpp"
#include "engine/client/homeserver_client.hpp"
#include "engine/config/config.hpp"
#include "engine/core/log.hpp"
#include "engine/core/private_files.hpp"
#include "engine/core/version.hpp"
#include "engine/veto/veto.hpp"

namespace {

using namespace tyr;

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void on_signal(int) { g_stop = true; }
void on_hangup(int) { g_reload = true; }

struct Args {
  std::vector<std::string> raw;  // everything after the command, as given
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;           // --name value (the last one given)
  std::multimap<std::string, std::string> all_options;  // every --name value, in order
  std::vector<std::string> flags;                       // --name
  bool has_flag(const std::string& f) const {
    return std::find(flags.begin(), flags.end(), f) != flags.end();
  }
};

// Options that take a value; anything else starting with "--" is a flag.
const std::vector<std::string> kValueOptions = {"--config", "--output",      "--sandbox-dir",
                                                "--list",   "--server-name", "--current",
                                                "--rules",  "--model"};

bool parse_args(int argc, char** argv, int start, Args& out, std::string& error) {
  for (int i = start; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      if (std::find(kValueOptions.begin(), kValueOptions.end(), a) != kValueOptions.end()) {
        if (i + 1 >= argc) {
          error = "option " + a + " needs a value";
          return false;
        }
        out.options[a] = argv[i + 1];
        out.all_options.emplace(a, argv[++i]);
      } else {
        out.flags.push_back(a);
      }
    } else {
      out.positional.push_back(a);
    }
  }
  return true;
}

int cmd_check_config(const Args& args) {
  auto it = args.options.find("--config");
  if (it == args.options.end()) {
    std::fprintf(stderr, "tyr check-config: --config FILE is required\n");
    return 2;
  }
  try {
    // The registration file is checked when it exists; before `tyr registration` has written
    // it, the config alone is checked and the next step named.
    auto cfg = engine::load_config_file(it->second, /*read_tokens=*/false);
    const auto& reg = cfg.appservice.registration;
    const bool reg_missing = !reg.empty() && !std::filesystem::exists(reg);
    if (!reg_missing) cfg = engine::load_config_file(it->second);
    std::printf("%s: OK (homeserver %s, appservice %s on %s:%u, %zu operators)\n",
                it->second.c_str(), cfg.homeserver.url.c_str(), cfg.appservice.id.c_str(),
                cfg.appservice.bind_address.c_str(), cfg.appservice.port,
                cfg.management.operators.size());
    if (reg_missing) {
      std::printf(
          "Note: the registration file %s does not exist yet; write it with "
          "`tyr registration --config %s`.\n",
          reg.c_str(), it->second.c_str());
    }
    return 0;
  } catch (const engine::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

int cmd_synapse_config(const Args& args) {
  auto it = args.options.find("--config");
  if (it == args.options.end()) {
    std::fprintf(stderr, "tyr synapse-config: --config FILE is required\n");
    return 2;
  }
  engine::Config cfg;
  try {
    cfg = engine::load_config_file(it->second, /*read_tokens=*/false);
  } catch (const engine::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  std::printf("# homeserver.yaml additions for Tyr (from %s)\n", it->second.c_str());
  std::printf("app_service_config_files:\n  - %s\n",
              cfg.appservice.registration.empty()
                  ? "/path/to/tyr-registration.yaml"
                  : std::filesystem::absolute(cfg.appservice.registration).c_str());
  if (!cfg.veto.enabled) {
    std::printf(
        "# No inline veto: add a `veto:` section to %s to refuse spam before it is stored.\n",
        it->second.c_str());
    return 0;
  }
  const std::string base = "http://" + cfg.veto.bind_address + ":" + std::to_string(cfg.veto.port) +
                           std::string(engine::veto::Server::kPathPrefix.substr(
                               0, engine::veto::Server::kPathPrefix.size() - 1));
  std::printf(
      "# Inline veto: pip install synapse-http-antispam==0.5.1 into Synapse's environment.\n"
      "# fail_open %s: while Tyr is unreachable, joins, invites and messages are %s.\n%s",
      cfg.veto.fail_open ? "true" : "false", cfg.veto.fail_open ? "allowed" : "refused",
      engine::veto::synapse_module_yaml(cfg.veto, base).c_str());
  return 0;
}

int cmd_registration(const Args& args) {
  auto it = args.options.find("--config");
  if (it == args.options.end()) {
    std::fprintf(stderr, "tyr registration: --config FILE is required\n");
    return 2;
  }
  engine::Config cfg;
  try {
    cfg = engine::load_config_file(it->second, /*require_tokens=*/false);
  } catch (const engine::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  std::filesystem::path out;
  if (auto o = args.options.find("--output"); o != args.options.end()) {
    out = o->second;
  } else if (!cfg.appservice.registration.empty()) {
    out = cfg.appservice.registration;
  }
  if (!cfg.appservice.as_token.empty() && cfg.appservice.registration.empty()) {
    std::fprintf(stderr,
                 "tyr registration: %s has inline tokens; the registration would not match them.\n"
                 "Remove appservice.as_token/hs_token and set appservice.registration instead.\n",
                 it->second.c_str());
    return 1;
  }
  cfg.appservice.as_token = engine::random_token();
  cfg.appservice.hs_token = engine::random_token();
  const std::string yaml = engine::registration_yaml(cfg);
  if (out.empty() || out == "-") {
    std::fputs(yaml.c_str(), stdout);
    return 0;
  }
  if (std::filesystem::exists(out) && !args.has_flag("--force")) {
    std::fprintf(stderr,
                 "tyr registration: %s exists; pass --force to replace it (new tokens: the "
                 "homeserver must then load the new file)\n",
                 out.c_str());
    return 1;
  }
  // Created 0600 and renamed into place: the tokens are never readable by other users, not even
  // for a moment, and the homeserver never reads half a file.
  if (auto written = write_private_file(out, yaml); !written) {
    std::fprintf(stderr, "tyr registration: %s\n", written.error().message.c_str());
    return 1;
  }
  std::printf(
      "Wrote %s. Load it in the homeserver and restart it:\n"
      "  Synapse:  app_service_config_files in homeserver.yaml (`tyr synapse-config` prints it)\n"
      "  Dendrite: app_service_api.config_files in dendrite.yaml\n",
      out.c_str());
  return 0;
}

// Prints the management room's new messages to the console while the sandbox runs.
void mirror_management_room(const std::string& base_url, const std::string& token,
                            const std::string& room_id) {
  engine::ClientOptions opts;
  opts.base_url = base_url;
  opts.as_token = token;
  opts.max_attempts = 1;
  engine::HomeserverClient client(opts);
  std::string from;
  if (auto first = client.messages(room_id, "b", "", 1)) from = first->value("start", "");
  while (!g_stop) {
    auto page = client.messages(room_id, "f", from, 50);
    if (page) {
      for (const auto& ev : page->value("chunk", nlohmann::json::array())) {
        if (ev.value("type", "") != "m.room.message") continue;
        std::string body = ev["content"].value("body", "");
        std::printf("[%s] %s\n", ev.value("sender", "").c_str(), body.c_str());
        std::fflush(stdout);
      }
      if (auto end = page->value("end", ""); !end.empty()) from = end;
    }
    for (int i = 0; i < 10 && !g_stop; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Once Tyr protects the demo room, the visitor posts one spam message there, so the console shows
// Tyr redacting it and explaining why.
void post_demo_spam(const std::string& base_url, const std::string& operator_token,
                    const std::string& visitor_token, const std::string& mgmt_room,
                    const std::string& demo_room, const std::string& stamp) {
  engine::ClientOptions opts;
  opts.base_url = base_url;
  opts.max_attempts = 1;
  opts.as_token = operator_token;
  engine::HomeserverClient op(opts);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool ready = false;
  while (!ready && !g_stop && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto page = op.messages(mgmt_room, "b", "", 20);
    if (!page) continue;
    for (const auto& ev : page->value("chunk", nlohmann::json::array())) {
      const std::string body = ev.value("content", nlohmann::json::object()).value("body", "");
      if (body.rfind("Now protecting " + demo_room, 0) == 0 ||
          body.find("is already protected") != std::string::npos) {
        ready = true;
      }
    }
  }
  if (!ready || g_stop) return;
  opts.as_token = visitor_token;
  engine::HomeserverClient visitor(opts);
  // Strong enough to be redacted, not to cost the visitor a kick or a ban.
  const std::string text = "Get FREE crypto now: bit.ly/free-btc giveaway";
  if (visitor.send_event(demo_room, "m.room.message", {{"msgtype", "m.text"}, {"body", text}},
                         "sandbox-spam-" + stamp)) {
    std::printf("[@visitor:localhost in #demo] %s\n", text.c_str());
    std::fflush(stdout);
  }
}

int run_sandbox(const Args& args) {
  std::filesystem::path dir = ".tyr-sandbox";
  if (auto it = args.options.find("--sandbox-dir"); it != args.options.end()) dir = it->second;
  cli::sandbox::Sandbox sb(dir, cli::sandbox::default_synapse_python());
  auto info = sb.start();
  if (!info) {
    std::fprintf(stderr, "tyr: the sandbox could not start: %s\n", info.error().message.c_str());
    return 1;
  }
  std::thread mirror, demo;
  cli::ServiceHooks hooks;
  hooks.reload = &g_reload;
  hooks.on_ready = [&](const std::string& mgmt_room) {
    const std::string url = sb.synapse().base_url();
    std::printf(
        "\n================ Tyr sandbox is running ================\n"
        "Homeserver:   %s  (server name: localhost)\n"
        "Log in with any Matrix client (Element Desktop, Cinny, gomuks, nheko…):\n"
        "  homeserver  %s\n  user        operator\n  password    %s\n"
        "Open the room %s (the management room) and type:  !tyr help\n"
        "The demo room %s is protected by Tyr with the default rule pack. Operators are\n"
        "exempt from Tyr's actions: to try it, log in as visitor (password %s) and post spam\n"
        "there. The visitor's first spam message is posted for you in a moment.\n"
        "Tyr's config: %s  (reuse with: tyr run --config %s)\n"
        "Stop with Ctrl-C; the sandbox keeps its state in %s.\n"
        "=========================================================\n\n",
        url.c_str(), url.c_str(), info->operator_password.c_str(), info->management_alias.c_str(),
        info->demo_alias.c_str(), info->visitor_password.c_str(), info->config.source.c_str(),
        info->config.source.c_str(), std::filesystem::absolute(dir).c_str());
    std::fflush(stdout);
    mirror = std::thread(mirror_management_room, url, info->operator_token, mgmt_room);
    // Show Tyr at work at once: the operator protects the demo room and asks for the status.
    engine::ClientOptions opts;
    opts.base_url = url;
    opts.as_token = info->operator_token;
    engine::HomeserverClient op(opts);
    const std::string stamp = std::to_string(std::time(nullptr));
    for (const std::string& cmd :
         {"!tyr rooms add " + info->demo_alias, std::string("!tyr status")}) {
      auto sent = op.send_event(mgmt_room, "m.room.message", {{"msgtype", "m.text"}, {"body", cmd}},
                                "sandbox-" + stamp + "-" + cmd.substr(5, 6));
      if (!sent) log::warn("sandbox", "could not send '" + cmd + "': " + sent.error().to_string());
    }
    demo = std::thread(post_demo_spam, url, info->operator_token, info->visitor_token, mgmt_room,
                       info->demo_room_id, stamp);
  };
  int rc = cli::run_service(info->config, g_stop, hooks);
  g_stop = true;
  if (mirror.joinable()) mirror.join();
  if (demo.joinable()) demo.join();
  return rc;
}

int cmd_run(const Args& args) {
  // Everything Tyr (and the sandbox's Synapse) creates from here on is private: the store holds
  // message text, the sandbox's files hold passwords and tokens.
  restrict_umask();
  std::string path;
  if (auto it = args.options.find("--config"); it != args.options.end()) {
    path = it->second;
  } else if (std::filesystem::exists("tyr.yaml")) {
    path = "tyr.yaml";
  }
  if (path.empty()) return run_sandbox(args);
  engine::Config cfg;
  try {
    cfg = engine::load_config_file(path);
  } catch (const engine::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  log::set_level(cfg.log_level);
  cli::ServiceHooks hooks;
  hooks.reload = &g_reload;
  return cli::run_service(cfg, g_stop, hooks);
}

int cmd_plugins(const Args& args) {
  if (args.positional.empty()) return cli::cmd_plugins_list();
  if (args.positional.size() == 1 && args.positional[0] == "docs") {
    auto out = args.options.find("--output");
    return cli::cmd_plugins_docs(out == args.options.end() ? "docs" : out->second,
                                 args.has_flag("--check"));
  }
  std::fprintf(stderr, "usage: tyr plugins | tyr plugins docs [--output DOCS] [--check]\n");
  return 2;
}

int cmd_rules(const Args& args) {
  if (args.positional.size() == 2 && args.positional[0] == "lint") {
    return cli::cmd_rules_lint(args.positional[1]);
  }
  std::fprintf(stderr, "usage: tyr rules lint DIR\n");
  return 2;
}

std::vector<std::string> list_options(const Args& args) {
  std::vector<std::string> lists;
  auto [b, e] = args.all_options.equal_range("--list");
  for (auto it = b; it != e; ++it) lists.push_back(it->second);
  return lists;
}

int cmd_check(const Args& args) {
  if (auto rules = args.options.find("--rules"); rules != args.options.end()) {
    auto model = args.options.find("--model");
    return cli::cmd_check_rules(rules->second, list_options(args), args.positional,
                                args.has_flag("--summary"),
                                model == args.options.end() ? "" : model->second);
  }
  return cli::cmd_check(list_options(args), args.positional);
}

int cmd_learn(const Args& args) {
  auto model = args.options.find("--model");
  return cli::cmd_learn(model == args.options.end() ? "" : model->second, args.positional,
                        args.has_flag("--stats"));
}

int cmd_acl(const Args& args) {
  auto name = args.options.find("--server-name");
  auto current = args.options.find("--current");
  return cli::cmd_acl(list_options(args), name == args.options.end() ? "" : name->second,
                      current == args.options.end() ? "" : current->second);
}

int cmd_audit(const Args& args) { return cli::audit_command(args.raw); }

int cmd_version(const Args&) {
  std::printf("tyr %s\n", kVersion);
  return 0;
}

int cmd_help(const Args&);

// One subcommand: the names that select it, its lines under "Commands:" in `tyr help` (also
// what `tyr <command> --help` prints), what runs it, and the options it accepts (space-separated;
// anything else is a usage error, exit 2, before the command does anything). `raw`: the command
// reads its own arguments (Args::raw only). `max_positional`: -1 for any number.
struct Command {
  std::array<std::string_view, 3> names;  // unused slots empty
  std::string_view help;
  int (*run)(const Args& args);
  bool raw = false;
  std::string_view options = "";  // "--config --output --force"
  int max_positional = 0;
};

// In the order `tyr help` lists them.
constexpr Command kCommands[] = {
    {{"run"},
     "  run [--config FILE]          Run Tyr as an appservice of the configured homeserver.\n"
     "                               Without --config (and no ./tyr.yaml) Tyr starts a local\n"
     "                               Synapse sandbox in ./.tyr-sandbox (or --sandbox-dir DIR).\n",
     cmd_run,
     false,
     "--config --sandbox-dir"},
    {{"registration"},
     "  registration --config FILE [--output FILE] [--force]\n"
     "                               Write the appservice registration YAML for the homeserver,\n"
     "                               with fresh random tokens (default output: the config's\n"
     "                               appservice.registration path).\n",
     cmd_registration,
     false,
     "--config --output --force"},
    {{"check-config"},
     "  check-config --config FILE   Validate a config file and report the first error.\n",
     cmd_check_config,
     false,
     "--config"},
    {{"synapse-config"},
     "  synapse-config --config FILE Print the homeserver.yaml additions: the registration and,\n"
     "                               with a veto: section, the synapse-http-antispam module.\n",
     cmd_synapse_config,
     false,
     "--config"},
    {{"check"},
     "  check --list FILE... EVENTS.jsonl\n"
     "                               Judge each event's sender against policy lists (FILE: a\n"
     "                               JSON array of state events, as /rooms/{id}/state returns);\n"
     "                               prints one JSON object per event.\n"
     "  check --rules DIR [--model DIR] [--list FILE...] [--summary] EVENTS.jsonl\n"
     "                               Score each event with the rules (and the classifier model\n"
     "                               `tyr learn` made): score, hits, verdict; --summary: counts,\n"
     "                               spam caught, ham blocked, precision, recall for events\n"
     "                               labelled \"label\": \"spam\"|\"ham\".\n",
     cmd_check,
     false,
     "--list --rules --summary --model",
     -1},
    {{"learn"},
     "  learn --model DIR EVENTS.jsonl...\n"
     "                               Teach the classifier model in DIR (made when missing) every\n"
     "                               event labelled \"label\": \"spam\"|\"ham\".\n"
     "  learn --model DIR --stats    What the model in DIR holds.\n",
     cmd_learn,
     false,
     "--model --stats",
     -1},
    {{"rules"},
     "  rules lint DIR               Load a rule directory as the service would; report errors.\n",
     cmd_rules,
     false,
     "",
     2},
    {{"acl"},
     "  acl --list FILE... --server-name NAME [--current ACL.json]\n"
     "                               Print the m.room.server_acl content Tyr would set.\n",
     cmd_acl,
     false,
     "--list --server-name --current"},
    {{"audit"},
     "  audit (--data DIR | --config FILE) [--user U] [--room R] [--since T] [--until T]\n"
     "        [--limit N] [--json]   Print the audit trail, newest first (safe while Tyr runs).\n",
     cmd_audit,
     /*raw=*/true},
    {{"plugins"},
     "  plugins                      List the protections: symbols, default scores, config.\n"
     "  plugins docs [--output DOCS] [--check]\n"
     "                               Regenerate the reference sections of DOCS/protections/*.md\n"
     "                               (default ./docs) from the descriptors; --check only "
     "reports.\n",
     cmd_plugins,
     false,
     "--output --check",
     1},
    {{"version", "--version"}, "  version, --version           Print the version.\n", cmd_version},
    {{"help", "--help", "-h"},
     "  help [COMMAND], --help       This text, or one command's usage.\n",
     cmd_help,
     false,
     "",
     1},
};

void print_usage(const Command& c, FILE* to) {
  std::fprintf(to, "Usage: tyr ");
  // The help lines start with two spaces; the usage is the rest.
  std::string_view h = c.help;
  while (!h.empty()) {
    const size_t eol = h.find('\n');
    std::string_view line = h.substr(0, eol);
    h = eol == std::string_view::npos ? std::string_view() : h.substr(eol + 1);
    std::fprintf(to, "%.*s\n", static_cast<int>(line.size() - std::min<size_t>(line.size(), 2)),
                 line.data() + std::min<size_t>(line.size(), 2));
    if (!h.empty()) std::fprintf(to, "      ");
  }
}

bool wants_help(const std::vector<std::string>& raw) {
  return std::any_of(raw.begin(), raw.end(),
                     [](const std::string& a) { return a == "--help" || a == "-h"; });
}

// What the command does not accept, or "" when everything is.
std::string unaccepted(const Command& c, const Args& args) {
  auto accepted = [&c](const std::string& name) {
    for (size_t at = 0; at < c.options.size();) {
      size_t end = c.options.find(' ', at);
      if (end == std::string_view::npos) end = c.options.size();
      if (c.options.substr(at, end - at) == name) return true;
      at = end + 1;
    }
    return false;
  };
  for (const auto& [name, value] : args.all_options) {
    if (!accepted(name)) return "unknown option " + name;
  }
  for (const auto& flag : args.flags) {
    if (!accepted(flag)) return "unknown option " + flag;
  }
  if (c.max_positional >= 0 && args.positional.size() > static_cast<size_t>(c.max_positional)) {
    return "unexpected argument '" + args.positional[static_cast<size_t>(c.max_positional)] + "'";
  }
  return "";
}

const Command* find_command(std::string_view name) {
  for (const Command& c : kCommands) {
    for (std::string_view n : c.names) {
      if (!n.empty() && n == name) return &c;
    }
  }
  return nullptr;
}

int cmd_help(const Args& args) {
  if (!args.positional.empty()) {  // tyr help <command>
    const Command* c = find_command(args.positional[0]);
    if (c == nullptr) {
      std::fprintf(stderr, "tyr: unknown command '%s'. Run 'tyr help' for the list.\n",
                   args.positional[0].c_str());
      return 2;
    }
    print_usage(*c, stdout);
    return 0;
  }
  std::printf(
      "Tyr %s — moderation and anti-spam policy engine for Matrix\n\n"
      "Usage: tyr <command> [options]   (tyr <command> --help: that command's usage)\n\n"
      "Commands:\n",
      kVersion);
  for (const Command& c : kCommands) std::fwrite(c.help.data(), 1, c.help.size(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, on_hangup);
  std::string cmd = argc > 1 ? argv[1] : "help";
  const Command* command = find_command(cmd);
  if (command == nullptr) {
    std::fprintf(stderr, "tyr: unknown command '%s'. Run 'tyr help' for the list.\n", cmd.c_str());
    return 2;
  }
  Args args;
  if (argc > 2) args.raw.assign(argv + 2, argv + argc);
  // `tyr <command> --help` prints the command's usage and does nothing else.
  if (command->run != cmd_help && command->run != cmd_version && wants_help(args.raw)) {
    print_usage(*command, stdout);
    return 0;
  }
  if (command->raw) return command->run(args);
  std::string error;
  if (!parse_args(argc, argv, 2, args, error) || !(error = unaccepted(*command, args)).empty()) {
    std::fprintf(stderr, "tyr %s: %s\n", cmd.c_str(), error.c_str());
    print_usage(*command, stderr);
    return 2;
  }
  return command->run(args);
}
