// `lists`, `lists watch|unwatch|create|shadow|enforce|default`: the policy lists Tyr follows;
// `import`: a room's bans into a list.

#include "engine/commands/handlers.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/text.hpp"

namespace tyr::engine::commands {

namespace {

std::string list_name(const WatchedList& l) {
  return !l.shortcode.empty() ? l.shortcode : !l.alias.empty() ? l.alias : l.id;
}

}  // namespace

void lists(CommandContext& ctx) {
  PolicyBook& book = ctx.host.policy_book();
  auto lists = book.lists();
  const auto fallback = ctx.host.policy_book().default_list();
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
    if (fallback && fallback->id == l.id) text += " default";
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

namespace tyr::engine::commands {

// `lists default [list]`: show or set the list `ban`, `unban` and `takedown` use when none is
// named. Without a choice, the one list Tyr writes (when there is exactly one) is the default.
void lists_default(CommandContext& ctx) {
  if (ctx.args.size() > 1) {
    ctx.reply("Usage: " + ctx.prefix() + " lists default [list]");
    return;
  }
  if (ctx.args.empty()) {
    auto l = ctx.host.policy_book().default_list();
    ctx.reply(l ? "The default list is " + list_name(*l) + " (" + l->id + ")."
                : "No default list: name one with `" + ctx.prefix() +
                      " lists default <list>` (a list Tyr writes; `" + ctx.prefix() +
                      " lists create <shortcode>` makes one).");
    return;
  }
  auto l = ctx.host.policy_book().find(ctx.args[0]);
  if (!l || !l->writable) {
    ctx.reply(escape_untrusted(ctx.args[0], kMaxQuotedName) +
              " is not a list Tyr can write. Create one with `" + ctx.prefix() +
              " lists create <shortcode>`.");
    return;
  }
  auto before = ctx.host.policy_book().default_list();
  ctx.host.policy_book().set_default(ctx.batch, l->id);
  ctx.reply("The default list is now " + list_name(*l) + " (was " +
            (before ? list_name(*before) : std::string("none")) + "): `" + ctx.prefix() +
            " ban <entity>` writes there.");
}

// `import <room> <list>`: the executor reads the room's bans and writes a ban rule for each
// banned user not in the list yet.
void import_bans(CommandContext& ctx) {
  if (ctx.args.size() < 1 || ctx.args.size() > 2 ||
      !(is_room_id(ctx.args[0]) || is_room_alias(ctx.args[0]))) {
    ctx.reply("Usage: " + ctx.prefix() + " import <room> [list] (the default list when none)");
    return;
  }
  const std::string room = ctx.host.find_protected_room(ctx.args[0]);
  if (room.empty()) {
    ctx.reply(escape_untrusted(ctx.args[0], kMaxQuotedName) +
              " is not a room Tyr protects (by room ID, or the alias it was added with). `" +
              ctx.prefix() + " rooms` lists them.");
    return;
  }
  std::optional<WatchedList> l = ctx.args.size() == 2 ? ctx.host.policy_book().find(ctx.args[1])
                                                      : ctx.host.policy_book().default_list();
  if (!l || !l->writable) {
    ctx.reply(ctx.args.size() == 2
                  ? escape_untrusted(ctx.args[1], kMaxQuotedName) + " is not a list Tyr can write."
                  : "No default list: name the list, or set one with `" + ctx.prefix() +
                        " lists default <list>`.");
    return;
  }
  ctx.enqueue(actions::ImportBans{room, l->id, ctx.event_id()});
}

}  // namespace tyr::engine::commands
