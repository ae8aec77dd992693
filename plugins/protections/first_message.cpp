// first_message: a new member's first message(s) in a room carry media or a link — the classic
// join-post-leave spam pattern.

#include "plugins/protections/builtins.hpp"
#include "plugins/protections/common.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"new_member_seconds", ConfigType::kInteger, "86400",
     "A member counts as new for this long after joining (join time must be known).", 0, 31536000},
    {"first_messages", ConfigType::kInteger, "1",
     "How many of a new member's first messages are checked.", 1, 100},
};
constexpr SymbolSpec kSymbols[] = {
    {"FIRST_MESSAGE_MEDIA", 4,
     "One of a new member's first messages is media (image, video, audio, file, sticker)."},
    {"FIRST_MESSAGE_LINK", 4, "One of a new member's first messages contains a link."},
};

class FirstMessage : public Protection {
 public:
  void on_event(const EventContext& ctx, const ProtectionConfig& cfg, Sink& sink) override {
    if (!ctx.member_since_ms) return;  // unknown join time: cannot tell a newcomer
    const int64_t since = *ctx.member_since_ms;
    if (ctx.now_ms - since > cfg.integer("new_member_seconds") * 1000) return;
    auto& seen = seen_.touch(protections::join_key(key_, ctx.room_id, ctx.sender));
    if (seen.join_ms != since) seen = {since, 0};  // rejoined: count afresh
    if (++seen.messages > cfg.integer("first_messages")) return;
    const std::string which = "message " + std::to_string(seen.messages) + " after joining";
    if (ctx.message.media) sink.hit("FIRST_MESSAGE_MEDIA", which);
    if (ctx.message.links > 0) sink.hit("FIRST_MESSAGE_LINK", which);
  }
  nlohmann::json save_state() const override {
    return seen_.to_json([](const Seen& s) {
      return nlohmann::json::array({s.join_ms, s.messages});
    });
  }
  Result<void> load_state(const nlohmann::json& j) override {
    const bool ok = seen_.from_json(j, [](const nlohmann::json& v, Seen& s) {
      if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer() || !v[1].is_number_integer())
        return false;
      s = {v[0].get<int64_t>(), v[1].get<int64_t>()};
      return true;
    });
    if (ok) return {};
    return Error{"TYR_PROTECTION", "protection first_message: malformed state"};
  }
  size_t state_entries() const override { return seen_.size(); }

 private:
  struct Seen {
    int64_t join_ms = 0;
    int64_t messages = 0;
  };
  BoundedMap<Seen> seen_{50000};
  std::string key_;
};

}  // namespace

constexpr ProtectionDescriptor kFirstMessageProtection{
    "first_message",
    "A new member's first message is media or a link.",
    kConfig,
    kSymbols,
    kPowerRedact,
    []() -> std::unique_ptr<Protection> { return std::make_unique<FirstMessage>(); }};

}  // namespace tyr::plugins::protections
