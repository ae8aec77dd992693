// low_power_media: media from users whose power level (supplied by the caller) is below a
// minimum — rooms that let only trusted members post images.

#include "plugins/protections/builtins.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"min_power", ConfigType::kInteger, "1",
     "Power level a user needs to post media without hitting LOW_POWER_MEDIA.", -1000000, 1000000},
};
constexpr SymbolSpec kSymbols[] = {
    {"LOW_POWER_MEDIA", 6,
     "Media (image, video, audio, file, sticker) from a user below min_power."},
};

class LowPowerMedia : public Protection {
 public:
  void on_event(const EventContext& ctx, const ProtectionConfig& cfg, Sink& sink) override {
    // Unknown power (the room's state could not be read) is not low power.
    if (!ctx.message.media || !ctx.power_known || ctx.sender_power >= cfg.integer("min_power"))
      return;
    sink.hit("LOW_POWER_MEDIA",
             std::string(ctx.message.msgtype.empty() ? "m.sticker" : ctx.message.msgtype) +
                 " at power " + std::to_string(ctx.sender_power));
  }
};

}  // namespace

constexpr ProtectionDescriptor kLowPowerMediaProtection{
    "low_power_media",
    "Media from users below a power level.",
    kConfig,
    kSymbols,
    kPowerRedact,
    []() -> std::unique_ptr<Protection> { return std::make_unique<LowPowerMedia>(); }};

}  // namespace tyr::plugins::protections
