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

// A server name as the spec's grammar has it: a DNS name, an IPv4 literal or a bracketed IPv6
// literal, optionally followed by ":port" (1 to 5 digits). At most 255 characters.
constexpr bool is_server_name(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  std::string_view host = s;
  if (const size_t colon = s.rfind(':'); colon != std::string_view::npos && s.back() != ']') {
    const std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
    }
    host = s.substr(0, colon);
  }
  if (host.empty()) return false;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    for (char c : host.substr(1, host.size() - 2)) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                      c == ':' || c == '.';
      if (!ok) return false;
    }
    return true;
  }
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace tyr
