// `learn spam|ham <event> [room]`, `learn undo <event>` and `learn stats`: a moderator teaching
// the statistical classifier (engine/classifier/classifier.hpp, docs/classifier.md) by hand.
// A message Tyr remembers is learned at once; an older one is fetched first (a Learn action).

#include "engine/commands/handlers.hpp"
#include "engine/core/clock.hpp"
#include "engine/metrics/tyr_metrics.hpp"

namespace tyr::engine::commands {

namespace {

// An event ID, or a matrix.to permalink (https://matrix.to/#/!room:hs/$event?via=…) whose room
// fills `room` when it is empty.
std::string event_of(const std::string& arg, std::string& room) {
  if (!arg.empty() && arg[0] == '$') return arg;
  const size_t hash = arg.find("#/");
  if (arg.rfind("https://matrix.to/", 0) != 0 || hash == std::string::npos) return {};
  std::string rest = arg.substr(hash + 2);
  if (const size_t q = rest.find('?'); q != std::string::npos) rest.resize(q);
  const size_t slash = rest.find('/');
  if (slash == std::string::npos) return {};
  auto unescape = [](std::string s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  };
  std::string event;
  try {
    if (room.empty()) room = unescape(rest.substr(0, slash));
    event = unescape(rest.substr(slash + 1));
  } catch (...) {
    return {};
  }
  return !event.empty() && event[0] == '$' ? event : std::string();
}

}  // namespace

void learn(CommandContext& ctx) {
  const std::string usage = "Usage: " + ctx.prefix() + " learn spam|ham <event> [room], " +
                            ctx.prefix() + " learn undo <event>, or " + ctx.prefix() +
                            " learn stats";
  classifier::Classifier* c = ctx.host.classifier();
  if (c == nullptr) {
    ctx.reply("The classifier is off (classifier.enabled in Tyr's config).");
    return;
  }
  if (ctx.args.size() == 1 && ctx.args[0] == "stats") {
    std::string text;
    for (const auto& line : c->stats()) text += (text.empty() ? "" : "\n") + line;
    ctx.reply(text);
    return;
  }
  if (ctx.args.size() < 2 || ctx.args.size() > 3 ||
      (ctx.args[0] != "spam" && ctx.args[0] != "ham" && ctx.args[0] != "undo")) {
    ctx.reply(usage);
    return;
  }
  std::string room;
  if (ctx.args.size() == 3) {
    room = ctx.host.find_protected_room(ctx.args[2]);
    if (room.empty()) {
      ctx.reply(ctx.args[2] + " is not a protected room.");
      return;
    }
  }
  const std::string event_id = event_of(ctx.args[1], room);
  if (event_id.empty()) {
    ctx.reply("Not an event ID or matrix.to link: " + ctx.args[1] + ". " + usage);
    return;
  }
  if (ctx.args[0] == "undo") {
    auto r = c->unlearn(ctx.batch, event_id, now_ms());
    ctx.reply(r ? "Classifier: " + *r : "Nothing to undo: " + r.error().message);
    return;
  }
  const bool spam = ctx.args[0] == "spam";
  auto r = c->learn_recent(ctx.batch, event_id, classifier::Source::kCommand, spam);
  if (r) {
    metrics::tyr_metrics().classifier_learned.with("command").inc();
    ctx.reply("Classifier: " + *r);
    return;
  }
  if (r.error().code != "TYR_NOT_SEEN") {
    ctx.reply("Not learned: " + r.error().message);
    return;
  }
  if (room.empty()) {
    ctx.reply("Tyr does not remember " + event_id + "; name its room to fetch it: " + ctx.prefix() +
              " learn " + ctx.args[0] + " " + event_id + " <room>");
    return;
  }
  ctx.enqueue(actions::Learn{room, event_id, ctx.args[0], "command", ctx.event_id()});
  ctx.reply("Fetching " + event_id + " to learn it as " + ctx.args[0] + ".");
}

}  // namespace tyr::engine::commands
