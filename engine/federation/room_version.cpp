#include "engine/federation/room_version.hpp"

#include <array>

namespace tyr::engine::federation {
namespace {

// Synapse 1.163 KNOWN_ROOM_VERSIONS, stable ones. Columns follow RoomVersion's order:
// format, key validity, aliases, strict JSON, notifications PL, implicit creator,
// v11 redaction, restricted, restricted fix, knock, knock_restricted, int PLs, msc3389,
// msc4289, msc4291.
constexpr bool F = false;
constexpr bool T = true;
constexpr std::array<RoomVersion, 12> kVersions{{
    {"1", EventFormat::kV1V2, F, T, F, F, F, F, F, F, F, F, F, F, F, F},
    {"2", EventFormat::kV1V2, F, T, F, F, F, F, F, F, F, F, F, F, F, F},
    {"3", EventFormat::kV3, F, T, F, F, F, F, F, F, F, F, F, F, F, F},
    {"4", EventFormat::kV4Plus, F, T, F, F, F, F, F, F, F, F, F, F, F, F},
    {"5", EventFormat::kV4Plus, T, T, F, F, F, F, F, F, F, F, F, F, F, F},
    {"6", EventFormat::kV4Plus, T, F, T, T, F, F, F, F, F, F, F, F, F, F},
    {"7", EventFormat::kV4Plus, T, F, T, T, F, F, F, F, T, F, F, F, F, F},
    {"8", EventFormat::kV4Plus, T, F, T, T, F, F, T, F, T, F, F, F, F, F},
    {"9", EventFormat::kV4Plus, T, F, T, T, F, F, T, T, T, F, F, F, F, F},
    {"10", EventFormat::kV4Plus, T, F, T, T, F, F, T, T, T, T, T, F, F, F},
    {"11", EventFormat::kV4Plus, T, F, T, T, T, T, T, T, T, T, T, F, F, F},
    {"12", EventFormat::kV11HydraPlus, T, F, T, T, T, T, T, T, T, T, T, F, T, T},
}};

}  // namespace

const RoomVersion* find_room_version(std::string_view identifier) {
  for (const RoomVersion& rv : kVersions) {
    if (rv.identifier == identifier) return &rv;
  }
  return nullptr;
}

std::span<const RoomVersion> room_versions() { return kVersions; }

}  // namespace tyr::engine::federation
