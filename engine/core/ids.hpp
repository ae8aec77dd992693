#pragma once
// Matrix identifier helpers. All functions take views and allocate nothing.

#include <string_view>

namespace tyr {

// Server part of a user ID, room alias or (pre-v12) room ID: text after the first ':'.
// Returns an empty view when there is none (v12 room IDs, malformed input).
constexpr std::string_view server_of(std::string_view id) {
  auto pos = id.find(':');
  if (pos == std::string_view::npos) return {};
  return id.substr(pos + 1);
}

// Server name without its port, as server ACLs compare it: "[::1]:8448" -> "[::1]",
// "example.org:8448" -> "example.org". A name ending in ']' is kept whole.
constexpr std::string_view strip_port(std::string_view server) {
  if (!server.empty() && server.back() == ']') return server;
  auto pos = server.rfind(':');
  if (pos == std::string_view::npos) return server;
  return server.substr(0, pos);
}

constexpr bool is_user_id(std::string_view s) {
  return s.size() > 3 && s.front() == '@' && s.find(':') != std::string_view::npos;
}
constexpr bool is_room_id(std::string_view s) { return s.size() > 1 && s.front() == '!'; }
constexpr bool is_room_alias(std::string_view s) {
  return s.size() > 3 && s.front() == '#' && s.find(':') != std::string_view::npos;
}

}  // namespace tyr
