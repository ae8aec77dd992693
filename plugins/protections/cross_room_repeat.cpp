// cross_room_repeat: the same normalised text from one sender in several rooms within a window.

#include <algorithm>

#include "plugins/protections/builtins.hpp"
#include "plugins/protections/common.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"min_rooms", ConfigType::kInteger, "3",
     "Rooms the same text must reach before CROSS_ROOM_REPEAT hits.", 2, 50},
    {"window_seconds", ConfigType::kInteger, "600", "Length of the window.", 1, 86400},
    {"min_length", ConfigType::kInteger, "10",
     "Shorter messages (after normalising) are ignored: \"hi\" everywhere is not spam.", 0, 10000},
};
constexpr SymbolSpec kSymbols[] = {
    {"CROSS_ROOM_REPEAT", 6,
     "The sender posted the same text in min_rooms or more rooms within window_seconds."},
};

constexpr size_t kMaxRoomsPerText = 50;

struct Seen {
  std::vector<std::pair<std::string, int64_t>> rooms;  // room → last time, at most kMaxRoomsPerText
};

class CrossRoomRepeat : public Protection {
 public:
  void on_event(const EventContext& ctx, const ProtectionConfig& cfg, Sink& sink) override {
    if (ctx.message.body.empty()) return;
    const std::string text = protections::normalise_text(ctx.message.body);
    if (static_cast<int64_t>(text.size()) < cfg.integer("min_length")) return;
    const int64_t window = cfg.integer("window_seconds") * 1000;
    // Keyed by a hash of the text: the state never holds message text.
    const std::string hash = std::to_string(std::hash<std::string>{}(text));
    auto& seen = seen_.touch(protections::join_key(key_, ctx.sender, hash));
    std::erase_if(seen.rooms, [&](const auto& r) { return r.second <= ctx.now_ms - window; });
    auto it = std::find_if(seen.rooms.begin(), seen.rooms.end(),
                           [&](const auto& r) { return r.first == ctx.room_id; });
    if (it != seen.rooms.end()) {
      it->second = ctx.now_ms;
    } else if (seen.rooms.size() < kMaxRoomsPerText) {
      seen.rooms.emplace_back(ctx.room_id, ctx.now_ms);
    }
    if (static_cast<int64_t>(seen.rooms.size()) >= cfg.integer("min_rooms")) {
      sink.hit("CROSS_ROOM_REPEAT", "same text in " + std::to_string(seen.rooms.size()) + " rooms");
    }
  }
  nlohmann::json save_state() const override {
    return seen_.to_json([](const Seen& s) { return nlohmann::json(s.rooms); });
  }
  Result<void> load_state(const nlohmann::json& j) override {
    const bool ok = seen_.from_json(j, [](const nlohmann::json& v, Seen& s) {
      try {
        s.rooms = v.get<std::vector<std::pair<std::string, int64_t>>>();
      } catch (const nlohmann::json::exception&) {
        return false;
      }
      return s.rooms.size() <= kMaxRoomsPerText;
    });
    if (ok) return {};
    return Error{"TYR_PROTECTION", "protection cross_room_repeat: malformed state"};
  }
  size_t state_entries() const override { return seen_.size(); }

 private:
  BoundedMap<Seen> seen_{50000};
  std::string key_;
};

}  // namespace

constexpr ProtectionDescriptor kCrossRoomRepeatProtection{
    "cross_room_repeat",
    "Repeated identical messages across rooms from one sender.",
    kConfig,
    kSymbols,
    kPowerRedact,
    []() -> std::unique_ptr<Protection> { return std::make_unique<CrossRoomRepeat>(); }};

}  // namespace tyr::plugins::protections
