// name_abuse: display names and avatars impersonating room moderators or Tyr's operators
// (equal or within an edit distance after folding case and look-alike characters), and banned
// words in display names. Checked on joins and profile changes (with a notice) and on messages
// (scored, so an impersonator's messages are redacted).

#include "engine/core/text.hpp"
#include "plugins/protections/builtins.hpp"
#include "plugins/protections/common.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"max_distance", ConfigType::kInteger, "1",
     "Edits (after folding) within which a name counts as similar to a moderator's.", 0, 5},
    {"min_length", ConfigType::kInteger, "4",
     "Folded names shorter than this are only flagged when equal, never when merely similar.", 1,
     100},
    {"banned_words", ConfigType::kStringList, "[]",
     "Words (folded the same way) that must not appear in display names.", 0, 10000},
    {"kick", ConfigType::kBoolean, "false",
     "Also ask to kick an impersonator when they join or rename."},
};
constexpr SymbolSpec kSymbols[] = {
    {"IMPERSONATION", 6, "Display name equal or similar to a moderator's or an operator's."},
    {"AVATAR_IMPERSONATION", 4, "Avatar identical to a moderator's or an operator's."},
    {"BANNED_NAME_WORD", 4, "Display name contains a word from banned_words."},
};

struct Finding {
  std::string symbol, match;
};

void check(std::string_view user, std::string_view name, std::string_view avatar,
           std::span<const Moderator> mods, std::span<const Moderator> ops,
           const ProtectionConfig& cfg, std::vector<Finding>& out) {
  const std::string folded = protections::fold_confusables(name);
  const auto max = static_cast<size_t>(cfg.integer("max_distance"));
  const auto min_len = static_cast<size_t>(cfg.integer("min_length"));
  bool name_hit = false, avatar_hit = false;
  for (auto list : {mods, ops}) {
    for (const auto& m : list) {
      if (m.user_id == user) continue;
      if (!name_hit && !folded.empty() && !m.display_name.empty()) {
        const std::string theirs = protections::fold_confusables(m.display_name);
        const bool similar =
            folded == theirs || (folded.size() >= min_len && theirs.size() >= min_len &&
                                 protections::edit_distance(folded, theirs, max) <= max);
        if (similar) {
          out.push_back(
              {"IMPERSONATION", quote_untrusted(name, kMaxQuotedName) + " resembles " + m.user_id});
          name_hit = true;
        }
      }
      if (!avatar_hit && !avatar.empty() && avatar == m.avatar_url) {
        out.push_back({"AVATAR_IMPERSONATION", "avatar of " + m.user_id});
        avatar_hit = true;
      }
    }
  }
  for (const auto& w : cfg.list("banned_words")) {
    const std::string fw = protections::fold_confusables(w);
    if (!fw.empty() && folded.find(fw) != std::string::npos) {
      out.push_back({"BANNED_NAME_WORD", w});
      break;
    }
  }
}

class NameAbuse : public Protection {
 public:
  void on_event(const EventContext& ctx, const ProtectionConfig& cfg, Sink& sink) override {
    if (ctx.display_name.empty()) return;
    found_.clear();
    check(ctx.sender, ctx.display_name, {}, ctx.moderators, ctx.operators, cfg, found_);
    for (const auto& f : found_) sink.hit(f.symbol, f.match);
  }
  void on_membership(const MembershipContext& ctx, const ProtectionConfig& cfg,
                     Sink& sink) override {
    if (ctx.membership != "join") return;
    found_.clear();
    check(ctx.user_id, ctx.display_name, ctx.avatar_url, ctx.moderators, ctx.operators, cfg,
          found_);
    if (found_.empty()) return;
    std::string text =
        "Name abuse by " + std::string(ctx.user_id) + " in " + std::string(ctx.room_id) + ":";
    for (const auto& f : found_) {
      sink.hit(f.symbol, f.match);
      text += " " + f.symbol + " (" + f.match + ")";
    }
    sink.notify(std::string(ctx.room_id), text);
    if (cfg.boolean("kick")) {
      sink.act(engine::actions::Kick{std::string(ctx.room_id),
                                     std::string(ctx.user_id),
                                     "name abuse: " + found_.front().symbol,
                                     {}});
    }
  }

 private:
  std::vector<Finding> found_;
};

}  // namespace

constexpr ProtectionDescriptor kNameAbuseProtection{
    "name_abuse",
    "Display names and avatars impersonating moderators or operators; banned words in names.",
    kConfig,
    kSymbols,
    kPowerRedact | kPowerKick,
    []() -> std::unique_ptr<Protection> { return std::make_unique<NameAbuse>(); }};

}  // namespace tyr::plugins::protections
