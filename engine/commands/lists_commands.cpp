// `lists`, `lists watch|unwatch|create|shadow|enforce`: the policy lists Tyr follows.

#include "engine/commands/handlers.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine::commands {

void lists(CommandContext& ctx) {
  PolicyBook& book = ctx.host.policy_book();
  auto lists = book.lists();
  if (lists.empty()) {
    ctx.reply("No lists. Watch one with `" + ctx.prefix() +
              " lists watch <#alias|!room>` or create one with `" + ctx.prefix() +
              " lists create <shortcode>`.");
    return;
  }
  std::string text = "Lists (" + std::to_string(lists.size()) + "):";
  for (const auto& l : lists) {
    auto c = book.counts(l.id);
    text += "\n  " + l.id;
    if (!l.alias.empty()) text += " (" + l.alias + ")";
    if (!l.shortcode.empty()) text += " [" + l.shortcode + "]";
    if (l.writable) text += " writable";
    if (l.shadow) text += " shadow";
    text += ": " + std::to_string(c[0]) + " user, " + std::to_string(c[2]) + " server, " +
            std::to_string(c[1]) + " room rules";
    if (auto ignored = book.ignored_rules(l.id)) {
      text += " (+" + std::to_string(ignored) + " with a recommendation Tyr ignores)";
    }
  }
  ctx.reply(text);
}

// The executor's watch_list action joins the room, reads its rules and answers.
void lists_watch(CommandContext& ctx) {
  if (ctx.args.size() != 1 || (!is_room_id(ctx.args[0]) && !is_room_alias(ctx.args[0]))) {
    ctx.reply("Usage: " + ctx.prefix() + " lists watch <!room|#alias>");
    return;
  }
  if (auto l = ctx.host.policy_book().find(ctx.args[0])) {
    ctx.reply("Already watching " + l->id + ".");
    return;
  }
  ctx.enqueue(actions::WatchList{.room = ctx.args[0], .reply_to = ctx.event_id(), .quiet = false});
}

void lists_unwatch(CommandContext& ctx) {
  if (ctx.args.size() != 1) {
    ctx.reply("Usage: " + ctx.prefix() + " lists unwatch <list>");
    return;
  }
  auto l = ctx.host.policy_book().find(ctx.args[0]);
  if (!l || l->feed) {
    ctx.reply(ctx.args[0] + " is not a watched list room.");
    return;
  }
  auto diffs = ctx.host.policy_book().unwatch(ctx.batch, l->id);
  ctx.host.apply_rule_diffs(diffs, ctx.batch);
  ctx.reply("No longer watching " + l->id + " (" + std::to_string(diffs.size()) +
            " rules dropped; bans made because of them will be lifted).");
}

// The executor's create_list action creates the room and answers.
void lists_create(CommandContext& ctx) {
  if (ctx.args.size() != 1 || ctx.args[0].empty() || ctx.args[0].size() > 32 ||
      ctx.args[0].find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") !=
          std::string::npos) {
    ctx.reply("Usage: " + ctx.prefix() +
              " lists create <shortcode> (lower-case letters, digits, '-' and '_')");
    return;
  }
  if (ctx.host.policy_book().find(ctx.args[0])) {
    ctx.reply("A list named " + ctx.args[0] + " exists already.");
    return;
  }
  ctx.enqueue(actions::CreateList{ctx.args[0], ctx.event_id()});
}

// `lists shadow|enforce <list>`: whether a watched list's rules act or are only reported.
void lists_mode(CommandContext& ctx, bool shadow) {
  const std::string verb = shadow ? "shadow" : "enforce";
  if (ctx.args.size() != 1) {
    ctx.reply("Usage: " + ctx.prefix() + " lists " + verb + " <list>");
    return;
  }
  PolicyBook& book = ctx.host.policy_book();
  auto list = book.find(ctx.args[0]);
  if (!list) {
    ctx.reply("No list " + escape_untrusted(ctx.args[0], kMaxQuotedName) + ". `" + ctx.prefix() +
              " lists` shows the lists Tyr follows.");
    return;
  }
  const std::string name = list->alias.empty() ? list->id : list->alias;
  if (list->feed) {
    ctx.reply(name + " is a feed: its mode is `shadow:` in its feeds entry of the config.");
    return;
  }
  if (list->shadow == shadow) {
    ctx.reply(name + (shadow ? " is already in shadow mode." : " is already enforced."));
    return;
  }
  book.set_shadow(ctx.batch, list->id, shadow);
  if (shadow) {
    ctx.reply(name +
              " is now in shadow mode: its matches are reported, not acted on. Bans it already "
              "caused stay; lift one with `" +
              ctx.prefix() + " unban` in the list, or by hand.");
    return;
  }
  ctx.host.schedule_enforcement(ctx.batch);  // apply its rules to every protected room now
  ctx.reply(name + " is now enforced: its rules act from now on, and the protected rooms are " +
            "being checked against it.");
}

void lists_shadow(CommandContext& ctx) { lists_mode(ctx, true); }
void lists_enforce(CommandContext& ctx) { lists_mode(ctx, false); }

}  // namespace tyr::engine::commands
