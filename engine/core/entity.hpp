#pragma once
// The three kinds of entity a policy rule, a rule file's `listed:` condition or a feed names,
// and the syntax check every reader of untrusted entity text (feeds, config, policy rooms)
// applies before an entity becomes a rule.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tyr {

// The values index per-kind arrays (counts, index parts): user 0, room 1, server 2.
enum class EntityKind : uint8_t { kUser = 0, kRoom = 1, kServer = 2 };
inline constexpr int kEntityKinds = 3;

// Position of `kind` in an array of kEntityKinds per-kind slots.
constexpr std::size_t entity_index(EntityKind kind) { return static_cast<std::size_t>(kind); }

// Why `entity` cannot be the entity of a rule of `kind`; nullopt when it can. Globs are allowed.
// Servers: an ASCII host name, IPv4 or [IPv6] literal with an optional port, no '@'. Users:
// "@local:server". Rooms: "!id" or "#alias:server".
std::optional<std::string> entity_problem(EntityKind kind, std::string_view entity);

}  // namespace tyr
