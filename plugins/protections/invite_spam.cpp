// invite_spam: one user sending many invites (counted across all protected rooms).

#include "plugins/protections/builtins.hpp"
#include "plugins/protections/common.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"max_invites", ConfigType::kInteger, "10",
     "Invites one user may send within the window (all rooms); more hits INVITE_SPAM.", 1, 100000},
    {"window_seconds", ConfigType::kInteger, "300", "Length of the sliding window.", 1, 86400},
    {"kick", ConfigType::kBoolean, "false", "Also ask to kick the inviter from the room."},
    {"ban", ConfigType::kBoolean, "false", "Also ask to ban the inviter from the room."},
};
constexpr SymbolSpec kSymbols[] = {
    {"INVITE_SPAM", 6, "The sender invited more than max_invites users in window_seconds."},
};

class InviteSpam : public Protection {
 public:
  void on_membership(const MembershipContext& ctx, const ProtectionConfig& cfg,
                     Sink& sink) override {
    if (ctx.membership != "invite" || ctx.sender == ctx.user_id) return;
    const int64_t max = cfg.integer("max_invites"), window = cfg.integer("window_seconds") * 1000;
    auto& w = windows_.touch(ctx.sender);
    const uint32_t n = w.record(ctx.now_ms, window, static_cast<size_t>(max) + 1);
    if (n <= max) return;
    const std::string what =
        std::to_string(n) + "+ invites in " + protections::seconds_text(window);
    sink.hit("INVITE_SPAM", what);
    int64_t& last = reported_.touch(ctx.sender);  // one report per window, not per invite
    if (last != 0 && ctx.now_ms - last < window) return;
    last = ctx.now_ms;
    const std::string room(ctx.room_id), user(ctx.sender);
    sink.notify(room, "Invite spam: " + user + " sent " + what + ".");
    if (cfg.boolean("ban")) {
      sink.act(engine::actions::Ban{room, user, "invite spam: " + what, {}});
    } else if (cfg.boolean("kick")) {
      sink.act(engine::actions::Kick{room, user, "invite spam: " + what, {}});
    }
  }
  nlohmann::json save_state() const override { return protections::save_windows(windows_); }
  Result<void> load_state(const nlohmann::json& j) override {
    if (protections::load_windows(j, windows_)) return {};
    return Error{"TYR_PROTECTION", "protection invite_spam: malformed state"};
  }
  size_t state_entries() const override { return windows_.size(); }

 private:
  BoundedMap<Window> windows_{20000};
  BoundedMap<int64_t> reported_{5000};
};

}  // namespace

constexpr ProtectionDescriptor kInviteSpamProtection{
    "invite_spam",
    "Mass invites by one user.",
    kConfig,
    kSymbols,
    kPowerKick | kPowerBan,
    []() -> std::unique_ptr<Protection> { return std::make_unique<InviteSpam>(); }};

}  // namespace tyr::plugins::protections
