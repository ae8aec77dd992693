// new_member_grace: members who joined recently are judged more strictly — an extra symbol and
// a multiplier on the event's combined score (rules and protections).

#include "plugins/protections/builtins.hpp"
#include "plugins/protections/common.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"grace_seconds", ConfigType::kInteger, "3600",
     "How long after joining a member counts as new.", 0, 31536000},
    {"multiplier", ConfigType::kNumber, "1.5",
     "Factor applied to the event's combined score while the member is new.", 1, 10},
};
constexpr SymbolSpec kSymbols[] = {
    {"NEW_MEMBER", 1, "The sender joined less than grace_seconds ago (join time must be known)."},
};

class NewMemberGrace : public Protection {
 public:
  void on_event(const EventContext& ctx, const ProtectionConfig& cfg, Sink& sink) override {
    if (!ctx.member_since_ms) return;
    const int64_t age = ctx.now_ms - *ctx.member_since_ms;
    if (age > cfg.integer("grace_seconds") * 1000) return;
    const std::string what =
        "joined " + protections::seconds_text(std::max<int64_t>(age, 0)) + " ago";
    sink.hit("NEW_MEMBER", what);
    if (cfg.number("multiplier") != 1.0) sink.scale(cfg.number("multiplier"), what);
  }
};

}  // namespace

constexpr ProtectionDescriptor kNewMemberGraceProtection{
    "new_member_grace",
    "Stricter scores for members who joined recently.",
    kConfig,
    kSymbols,
    kPowerNone,
    []() -> std::unique_ptr<Protection> { return std::make_unique<NewMemberGrace>(); }};

}  // namespace tyr::plugins::protections
