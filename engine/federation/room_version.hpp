#pragma once
// The room versions Synapse 1.163 supports as stable ("1".."12"), with the flags the redaction
// algorithm, canonical JSON and event-ID format depend on. Values come from
// synapse/synapse_rust/room_versions (KNOWN_ROOM_VERSIONS); unstable MSC versions are left out.

#include <span>
#include <string_view>

namespace tyr::engine::federation {

// Synapse's EventFormatVersions.
enum class EventFormat {
  kV1V2 = 1,          // event IDs are "$local:server" and travel in the PDU
  kV3 = 2,            // "$" + reference hash, standard base64
  kV4Plus = 3,        // "$" + reference hash, URL-safe base64
  kV11HydraPlus = 4,  // as kV4Plus; room IDs are "!" + the create event's reference hash
};

struct RoomVersion {
  std::string_view identifier;
  EventFormat event_format;
  bool enforce_key_validity;
  bool special_case_aliases_auth;  // m.room.aliases keeps `aliases` on redaction
  bool strict_canonicaljson;       // integers in ±(2^53-1), no floats
  bool limit_notifications_power_levels;
  bool implicit_room_creator;     // create events have no meaningful `creator`
  bool updated_redaction_rules;   // the v11 redaction algorithm (MSC2176, MSC3821, MSC3989)
  bool restricted_join_rule;      // join_rules keeps `allow`
  bool restricted_join_rule_fix;  // member keeps `join_authorised_via_users_server`
  bool knock_join_rule;
  bool knock_restricted_join_rule;
  bool enforce_int_power_levels;
  bool msc3389_relation_redactions;  // keeps m.relates_to rel_type/event_id (false for 1..12)
  bool msc4289_creator_power_enabled;
  bool msc4291_room_ids_as_hashes;  // create events carry no room_id
};

// nullptr when Synapse does not know the version.
const RoomVersion* find_room_version(std::string_view identifier);
// All of them, in order "1".."12".
std::span<const RoomVersion> room_versions();

}  // namespace tyr::engine::federation
