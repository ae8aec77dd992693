// join_wave: many joins to one room within a window. Notifies the management room and
// (optionally) asks to raise the join rule to invite; after a calm period without joins,
// on_timer asks to restore the rule. Members who joined during the wave score extra.

#include "plugins/protections/builtins.hpp"
#include "plugins/protections/common.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"max_joins", ConfigType::kInteger, "10", "Joins within the window that make a wave.", 2,
     100000},
    {"window_seconds", ConfigType::kInteger, "60", "Length of the sliding window.", 1, 86400},
    {"calm_seconds", ConfigType::kInteger, "600",
     "Time without joins after which the wave is over and the join rule is restored.", 10, 604800},
    {"raise_join_rule", ConfigType::kBoolean, "true",
     "Ask to set the room's join rule to invite during a wave (restored afterwards)."},
};
constexpr SymbolSpec kSymbols[] = {
    {"JOIN_DURING_WAVE", 2,
     "A message from a member who joined during a join wave (until the calm period ends)."},
};

struct RoomWave {
  Window joins;
  bool raised = false;       // a wave is on (notified, maybe join rule raised)
  bool rule_raised = false;  // a SetJoinRule was requested and must be undone
  int64_t last_join = 0;
  int64_t calm_ms = 0;  // from the config at the time the wave started
};

class JoinWave : public Protection {
 public:
  void on_membership(const MembershipContext& ctx, const ProtectionConfig& cfg,
                     Sink& sink) override {
    if (ctx.membership != "join" || ctx.prev_membership == "join") return;
    const int64_t max = cfg.integer("max_joins"), window = cfg.integer("window_seconds") * 1000;
    auto& room = rooms_.touch(ctx.room_id);
    const uint32_t n = room.joins.record(ctx.now_ms, window, static_cast<size_t>(max));
    room.last_join = ctx.now_ms;
    if (!room.raised && n >= max) {
      room.raised = true;
      room.calm_ms = cfg.integer("calm_seconds") * 1000;
      room.rule_raised = cfg.boolean("raise_join_rule");
      std::string text = "Join wave in " + std::string(ctx.room_id) + ": " + std::to_string(n) +
                         " joins in " + protections::seconds_text(window) + ".";
      if (room.rule_raised) {
        text += " Raising the join rule to invite until " +
                protections::seconds_text(room.calm_ms) + " pass without joins.";
        sink.act(engine::actions::SetJoinRule{std::string(ctx.room_id), "invite", {}});
      }
      sink.notify(std::string(ctx.room_id), std::move(text));
    }
    if (room.raised)
      wave_members_.touch(protections::join_key(key_, ctx.room_id, ctx.user_id)) = ctx.now_ms;
  }

  void on_event(const EventContext& ctx, const ProtectionConfig&, Sink& sink) override {
    const auto* room = rooms_.find(ctx.room_id);
    if (room == nullptr || !room->raised) return;
    if (wave_members_.find(protections::join_key(key_, ctx.room_id, ctx.sender)) != nullptr) {
      sink.hit("JOIN_DURING_WAVE", "joined during the wave");
    }
  }

  void on_timer(int64_t now_ms, Sink& sink) override {
    rooms_.erase_if([&](const std::string& room_id, RoomWave& room) {
      if (!room.raised) return room.joins.stale(now_ms, 86400000);
      if (now_ms - room.last_join < room.calm_ms) return false;
      if (room.rule_raised) {
        sink.act(engine::actions::RestoreJoinRule{room_id, {}});
      }
      sink.notify(room_id, "Join wave in " + room_id + " is over (" +
                               protections::seconds_text(room.calm_ms) + " without joins)" +
                               (room.rule_raised ? "; restoring the join rule." : "."));
      wave_members_.erase_if([&](const std::string& key, int64_t) {
        return key.size() > room_id.size() && key.compare(0, room_id.size(), room_id) == 0 &&
               key[room_id.size()] == '\x1f';
      });
      return true;
    });
  }

  // The raised flag must survive a restart, or a room would stay invite-only for good.
  nlohmann::json save_state() const override {
    return {{"rooms", rooms_.to_json([](const RoomWave& r) {
               return nlohmann::json{{"joins", r.joins.to_json()},
                                     {"raised", r.raised},
                                     {"rule_raised", r.rule_raised},
                                     {"last_join", r.last_join},
                                     {"calm_ms", r.calm_ms}};
             })},
            {"members", wave_members_.to_json([](int64_t t) { return nlohmann::json(t); })}};
  }
  Result<void> load_state(const nlohmann::json& j) override {
    const bool ok = j.is_object() &&
                    rooms_.from_json(j.value("rooms", nlohmann::json()),
                                     [](const nlohmann::json& v, RoomWave& r) {
                                       if (!v.is_object() ||
                                           !r.joins.from_json(v.value("joins", nlohmann::json())))
                                         return false;
                                       r.raised = v.value("raised", false);
                                       r.rule_raised = v.value("rule_raised", false);
                                       r.last_join = v.value("last_join", int64_t{0});
                                       r.calm_ms = v.value("calm_ms", int64_t{0});
                                       return true;
                                     }) &&
                    wave_members_.from_json(j.value("members", nlohmann::json()),
                                            [](const nlohmann::json& v, int64_t& t) {
                                              if (!v.is_number_integer()) return false;
                                              t = v.get<int64_t>();
                                              return true;
                                            });
    if (ok) return {};
    rooms_.clear();
    wave_members_.clear();
    return Error{"TYR_PROTECTION", "protection join_wave: malformed state"};
  }
  size_t state_entries() const override { return rooms_.size() + wave_members_.size(); }

 private:
  BoundedMap<RoomWave> rooms_{10000};
  BoundedMap<int64_t> wave_members_{20000};
  std::string key_;
};

}  // namespace

constexpr ProtectionDescriptor kJoinWaveProtection{
    "join_wave",
    "N joins in a window: notify, raise the join rule to invite, restore it after a calm period.",
    kConfig,
    kSymbols,
    kPowerStateJoinRules,
    []() -> std::unique_ptr<Protection> { return std::make_unique<JoinWave>(); }};

}  // namespace tyr::plugins::protections
