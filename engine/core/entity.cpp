#include "engine/core/entity.hpp"

#include "engine/core/text.hpp"

namespace tyr {
namespace {

// Entity text is untrusted and ends up in logs, in the stored feed state and in the management
// room: control characters are escaped, invalid UTF-8 replaced and long entries cut.
std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 80;
  return escape_untrusted(s, kMax);
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Reasons a server name (or server glob) is unusable; the caller names the entity.
std::optional<std::string> server_problem(std::string_view s) {
  if (s.empty()) return "empty";
  if (s.size() > 255) return "longer than 255 characters";
  for (unsigned char c : s) {
    if (c >= 0x80) return "not ASCII (write international names in punycode)";
    if (c <= 0x20 || c == 0x7f) return "contains a space or control character";
    if (c == '@') return "contains '@'";
  }
  std::string_view host = s;
  std::string_view port;
  bool has_port = false;
  if (host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return "unterminated IPv6 literal";
    const std::string_view inside = host.substr(1, close - 1);
    if (inside.empty() ||
        inside.find_first_not_of("0123456789abcdefABCDEF:.*?") != std::string_view::npos) {
      return "invalid IPv6 literal";
    }
    const std::string_view after = host.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "text after the IPv6 literal";
      has_port = true;
      port = after.substr(1);
    }
  } else {
    const auto colon = host.find(':');
    if (colon != std::string_view::npos) {
      has_port = true;
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (host.empty()) return "empty host name";
    for (std::size_t start = 0;;) {
      const auto dot = host.find('.', start);
      const std::string_view label = host.substr(start, dot - start);
      if (label.empty()) return "empty label (leading, trailing or doubled '.')";
      if (label.size() > 63) return "label longer than 63 characters";
      for (char c : label) {
        if (!is_alnum(c) && c != '-' && c != '_' && c != '*' && c != '?') {
          return "contains '" + std::string(1, c) + "'";
        }
      }
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  if (has_port &&
      (port.empty() || port.find_first_not_of("0123456789*?") != std::string_view::npos)) {
    return "invalid port";
  }
  return std::nullopt;
}

// "local:server" after the sigil: a non-empty local part and a valid server part.
std::optional<std::string> sigil_id_problem(std::string_view s) {
  if (!is_valid_utf8(s)) return "not valid UTF-8";
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return "no ':server' part";
  if (colon == 1) return "empty local part";
  for (unsigned char c : s.substr(0, colon)) {
    if (c <= 0x20 || c == 0x7f) return "contains a space or control character";
  }
  if (auto problem = server_problem(s.substr(colon + 1))) return "server part " + *problem;
  return std::nullopt;
}

std::optional<std::string> room_problem(std::string_view s) {
  if (!s.empty() && s.front() == '#') return sigil_id_problem(s);
  if (s.size() < 2 || s.front() != '!') return "not a room ID (!...) or alias (#...:server)";
  if (!is_valid_utf8(s)) return "not valid UTF-8";
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return "contains a space or control character";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> entity_problem(EntityKind kind, std::string_view entity) {
  std::optional<std::string> problem;
  std::string_view noun;
  switch (kind) {
    case EntityKind::kServer:
      problem = server_problem(entity);
      noun = "server name";
      break;
    case EntityKind::kUser:
      problem = entity.empty() || entity.front() != '@'
                    ? std::optional<std::string>("does not start with '@'")
                    : sigil_id_problem(entity);
      noun = "user ID";
      break;
    case EntityKind::kRoom:
      problem = room_problem(entity);
      noun = "room ID or alias";
      break;
  }
  if (!problem) return std::nullopt;
  return "'" + printable(entity) + "' is not a " + std::string(noun) + ": " + *problem;
}

}  // namespace tyr
