// flooding: too many messages from one user in one room within a window.

#include "plugins/protections/builtins.hpp"
#include "plugins/protections/common.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"max_messages", ConfigType::kInteger, "10",
     "Messages one user may send in one room within the window; each further one hits FLOOD.", 1,
     1000},
    {"window_seconds", ConfigType::kInteger, "10", "Length of the sliding window.", 1, 3600},
    {"kick", ConfigType::kBoolean, "false", "Also ask to kick the user at the first FLOOD hit."},
};
constexpr SymbolSpec kSymbols[] = {
    {"FLOOD", 6, "The user sent more than max_messages messages in window_seconds."},
};

class Flooding : public Protection {
 public:
  void on_event(const EventContext& ctx, const ProtectionConfig& cfg, Sink& sink) override {
    const int64_t max = cfg.integer("max_messages"), window = cfg.integer("window_seconds") * 1000;
    auto& w = windows_.touch(protections::join_key(key_, ctx.room_id, ctx.sender));
    const uint32_t n = w.record(ctx.now_ms, window, static_cast<size_t>(max) + 1);
    if (n <= max) return;
    sink.hit("FLOOD", std::to_string(n) + "+ messages in " + protections::seconds_text(window));
    if (!cfg.boolean("kick")) return;
    // One kick request per user and window, not one per message.
    int64_t& last = kicks_.touch(protections::join_key(key_, ctx.room_id, ctx.sender));
    if (last == 0 || ctx.now_ms - last >= window) {
      last = ctx.now_ms;
      sink.act(engine::actions::Kick{std::string(ctx.room_id),
                                     std::string(ctx.sender),
                                     "flooding: more than " + std::to_string(max) +
                                         " messages in " + protections::seconds_text(window),
                                     {}});
    }
  }
  nlohmann::json save_state() const override { return protections::save_windows(windows_); }
  Result<void> load_state(const nlohmann::json& j) override {
    if (protections::load_windows(j, windows_)) return {};
    return Error{"TYR_PROTECTION", "protection flooding: malformed state"};
  }
  size_t state_entries() const override { return windows_.size(); }

 private:
  BoundedMap<Window> windows_{50000};
  BoundedMap<int64_t> kicks_{5000};
  std::string key_;
};

}  // namespace

constexpr ProtectionDescriptor kFloodingProtection{
    "flooding",
    "Messages per window per user per room: a user sending faster than max_messages per "
    "window_seconds.",
    kConfig,
    kSymbols,
    kPowerRedact | kPowerKick,
    []() -> std::unique_ptr<Protection> { return std::make_unique<Flooding>(); }};

}  // namespace tyr::plugins::protections
