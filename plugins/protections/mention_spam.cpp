// mention_spam: many users mentioned in one message (m.mentions.user_ids or matrix.to pills in
// formatted_body, whichever is larger), or many mentions from one user across a window.

#include "plugins/protections/builtins.hpp"
#include "plugins/protections/common.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"max_mentions", ConfigType::kInteger, "10",
     "Mentions allowed in one message; more hits MENTION_SPAM.", 1, 1000},
    {"max_mentions_window", ConfigType::kInteger, "30",
     "Mentions one user may make in one room within the window; more hits MENTION_FLOOD.", 1,
     10000},
    {"window_seconds", ConfigType::kInteger, "60", "Length of the sliding window.", 1, 86400},
};
constexpr SymbolSpec kSymbols[] = {
    {"MENTION_SPAM", 6, "One message mentions more than max_mentions users."},
    {"MENTION_FLOOD", 4,
     "The user's messages mention more than max_mentions_window users in window_seconds."},
};

class MentionSpam : public Protection {
 public:
  void on_event(const EventContext& ctx, const ProtectionConfig& cfg, Sink& sink) override {
    const uint32_t mentions = ctx.message.mentions;
    if (mentions == 0) return;
    if (mentions > cfg.integer("max_mentions")) {
      sink.hit("MENTION_SPAM", "mentions=" + std::to_string(mentions));
    }
    const int64_t max = cfg.integer("max_mentions_window"),
                  window = cfg.integer("window_seconds") * 1000;
    // One window entry per mention, capped so a single huge message cannot grow it unbounded.
    auto& w = windows_.touch(protections::join_key(key_, ctx.room_id, ctx.sender));
    const size_t cap = static_cast<size_t>(max) + 1;
    for (uint32_t i = 0; i < mentions && i < cap; ++i) w.times.push_back(ctx.now_ms);
    const uint32_t n = w.count(ctx.now_ms, window, cap);
    if (n > max) {
      sink.hit("MENTION_FLOOD",
               std::to_string(n) + "+ mentions in " + protections::seconds_text(window));
    }
  }
  nlohmann::json save_state() const override { return protections::save_windows(windows_); }
  Result<void> load_state(const nlohmann::json& j) override {
    if (protections::load_windows(j, windows_)) return {};
    return Error{"TYR_PROTECTION", "protection mention_spam: malformed state"};
  }
  size_t state_entries() const override { return windows_.size(); }

 private:
  BoundedMap<Window> windows_{20000};
  std::string key_;
};

}  // namespace

constexpr ProtectionDescriptor kMentionSpamProtection{
    "mention_spam",
    "Mass mentions: too many users mentioned in one message (m.mentions.user_ids and matrix.to "
    "pills) or per window.",
    kConfig,
    kSymbols,
    kPowerRedact,
    []() -> std::unique_ptr<Protection> { return std::make_unique<MentionSpam>(); }};

}  // namespace tyr::plugins::protections
