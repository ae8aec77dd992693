#include "engine/federation/x_matrix.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/core/json_fields.hpp"
#include "engine/federation/base64.hpp"
#include "engine/federation/canonical_json.hpp"
#include "engine/federation/event_crypto.hpp"

namespace tyr::engine::federation {
namespace {

using nlohmann::json;

// Python's canonicaljson (signedjson) puts no bound on integers; requests carry PDUs of any
// room version.
constexpr CanonicalOptions kRequestJson{.strict_integers = false};

Error auth_error(std::string what) {
  return Error{"M_UNAUTHORIZED", "X-Matrix: " + std::move(what), 401};
}

bool valid_utf8(std::string_view s) {
  // canonical_json validates strictly; a one-string document is the cheapest way to reuse it.
  return canonical_json(json(std::string(s))).ok();
}

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// synapse.util.stringutils.parse_and_validate_server_name, except that the port must be plain
// digits (Python's int() also takes signs, spaces and underscores).
bool valid_server_name(std::string_view name) {
  std::string_view host = name;
  if (name.empty() || name.back() != ']') {
    if (const size_t colon = name.rfind(':'); colon != std::string_view::npos) {
      const std::string_view port = name.substr(colon + 1);
      if (port.empty() || port.size() > 5) return false;
      for (char c : port) {
        if (c < '0' || c > '9') return false;
      }
      host = name.substr(0, colon);
    }
  }
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    const std::string inner(host.substr(1, host.size() - 2));
    in6_addr addr{};
    return inet_pton(AF_INET6, inner.c_str(), &addr) == 1;
  }
  // \A[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*\Z
  if (host.empty() || host.front() == '.' || host.back() == '.') return false;
  char prev = '.';
  for (char c : host) {
    if (c == '.' ? prev == '.' : !host_char(c)) return false;
    prev = c;
  }
  return true;
}

// Python's str.lower() for parameter names: ASCII letters, and U+212A KELVIN SIGN, the one
// non-ASCII code point that lowers to an ASCII letter ('k').
std::string lower_name(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name.compare(i, 3, "\xE2\x84\xAA") == 0) {
      out += 'k';
      i += 2;
      continue;
    }
    const char c = name[i];
    out += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

// strip_quotes in Synapse: a value starting with '"' loses its first and last code point
// (whatever the last is) and every backslash escapes the next character except a newline.
std::string strip_quotes(std::string_view value) {
  if (value.empty() || value.front() != '"') return std::string(value);
  std::string_view inner = value.substr(1);
  if (!inner.empty()) {
    size_t last = inner.size() - 1;
    while (last > 0 && (static_cast<unsigned char>(inner[last]) & 0xC0) == 0x80) --last;
    inner = inner.substr(0, last);
  }
  std::string out;
  out.reserve(inner.size());
  for (size_t i = 0; i < inner.size(); ++i) {
    if (inner[i] == '\\' && i + 1 < inner.size() && inner[i + 1] != '\n') ++i;
    out += inner[i];
  }
  return out;
}

// re.split(r"[ \t]*,[ \t]*", s)
std::vector<std::string_view> split_params(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != ',') continue;
    size_t end = i;
    while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t')) --end;
    out.push_back(s.substr(start, end - start));
    size_t next = i + 1;
    while (next < s.size() && (s[next] == ' ' || s[next] == '\t')) ++next;
    start = next;
    i = next - 1;
  }
  out.push_back(s.substr(start));
  return out;
}

}  // namespace

Result<XMatrix> parse_x_matrix(std::string_view header) {
  if (header.size() > kMaxXMatrixHeaderBytes) {
    return auth_error("header of " + std::to_string(header.size()) + " bytes is over the " +
                      std::to_string(kMaxXMatrixHeaderBytes) + "-byte limit");
  }
  if (!valid_utf8(header)) return auth_error("header is not valid UTF-8");
  constexpr std::string_view kScheme = "X-Matrix";
  if (header.substr(0, kScheme.size()) != kScheme || header.size() == kScheme.size() ||
      header[kScheme.size()] != ' ') {
    return auth_error("header does not start with \"X-Matrix \"");
  }
  std::string_view rest = header.substr(kScheme.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);

  std::optional<std::string> origin, destination, key, sig;
  for (std::string_view param : split_params(rest)) {
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) return auth_error("a parameter has no '='");
    const std::string name = lower_name(param.substr(0, eq));
    const std::string_view value = param.substr(eq + 1);
    if (name == "origin") {
      origin = std::string(value);
    } else if (name == "destination") {
      destination = std::string(value);
    } else if (name == "key") {
      key = std::string(value);
    } else if (name == "sig") {
      sig = std::string(value);
    }
  }
  if (!origin) return auth_error("parameter 'origin' is missing");
  if (!key) return auth_error("parameter 'key' is missing");
  if (!sig) return auth_error("parameter 'sig' is missing");
  XMatrix out;
  out.origin = strip_quotes(*origin);
  if (!valid_server_name(out.origin)) return auth_error("'origin' is not a valid server name");
  out.key = strip_quotes(*key);
  out.sig = strip_quotes(*sig);
  if (destination) out.destination = strip_quotes(*destination);
  return out;
}

json request_json(std::string_view method, std::string_view uri, std::string_view origin,
                  std::string_view destination, const std::optional<json>& content) {
  json out = {{"method", method}, {"uri", uri}, {"origin", origin}, {"destination", destination}};
  if (content) out["content"] = *content;
  return out;
}

Result<void> verify_request(const XMatrix& auth, std::string_view method, std::string_view uri,
                            std::string_view our_server_name, const std::optional<json>& content,
                            std::string_view public_key) {
  if (auth.destination && *auth.destination != our_server_name) {
    return auth_error("destination mismatch in the header");
  }
  json signed_request = request_json(method, uri, auth.origin, our_server_name, content);
  signed_request["signatures"][auth.origin][auth.key] = auth.sig;
  Result<void> ok = verify_json(signed_request, auth.origin, auth.key, public_key, kRequestJson);
  if (!ok) return auth_error("request from " + auth.origin + ": " + ok.error().message);
  return {};
}

Result<std::string> x_matrix_header(std::string_view method, std::string_view uri,
                                    std::string_view origin, std::string_view destination,
                                    const std::optional<json>& content, const SigningKey& key) {
  Result<json> signed_request =
      sign_json(request_json(method, uri, origin, destination, content), origin, key, kRequestJson);
  if (!signed_request) return signed_request.error();
  const std::string sig =
      (*signed_request)["signatures"][std::string(origin)][key.key_id()].get<std::string>();
  return "X-Matrix origin=\"" + std::string(origin) + "\",key=\"" + key.key_id() + "\",sig=\"" +
         sig + "\",destination=\"" + std::string(destination) + "\"";
}

Result<ServerKeys> parse_server_keys(std::string_view body, std::string_view expected_server_name,
                                     int64_t now_ms) {
  const auto fail = [&](std::string what) {
    return Error{"TYR_SERVER_KEYS",
                 "server keys of " + std::string(expected_server_name) + ": " + std::move(what)};
  };
  if (body.size() > kMaxServerKeysBytes) {
    return fail("answer of " + std::to_string(body.size()) + " bytes is over the " +
                std::to_string(kMaxServerKeysBytes) + "-byte limit");
  }
  if (!json_depth_within(body)) return fail("JSON nests too deep");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception&) {
    return fail("invalid JSON");
  }
  if (!j.is_object()) return fail("the answer is not a JSON object");
  const auto* server_name = string_field(j, "server_name");
  if (server_name == nullptr) return fail("field 'server_name' must be a string");
  if (*server_name != expected_server_name) return fail("the answer names another server");

  ServerKeys out;
  out.server_name = *server_name;
  auto until = j.find("valid_until_ts");
  if (until == j.end() || !until->is_number_integer() ||
      (until->is_number_unsigned() && until->get<uint64_t>() > uint64_t{INT64_MAX})) {
    return fail("field 'valid_until_ts' must be an integer");
  }
  out.valid_until_ts = until->get<int64_t>();
  if (out.valid_until_ts < now_ms) return fail("the keys expired (valid_until_ts is past)");

  // key ID -> 32-byte key, for the ed25519 entries of `field` (other algorithms are skipped).
  const auto read_keys = [&](const char* field, bool required, auto&& store) -> Result<void> {
    auto keys = j.find(field);
    if (keys == j.end() && !required) return {};
    if (keys == j.end() || !keys->is_object()) {
      return fail("field '" + std::string(field) + "' must be an object");
    }
    for (const auto& [key_id, entry] : keys->items()) {
      if (key_id.rfind("ed25519:", 0) != 0) continue;
      const std::string where = std::string(field) + " " + quoted_text(key_id);
      const auto* key_b64 = string_field(entry, "key");
      if (key_b64 == nullptr) return fail(where + ": field 'key' must be a string");
      Result<std::string> key = base64_decode(*key_b64);
      if (!key || key->size() != kEd25519PublicKeyBytes) {
        return fail(where + ": 'key' is not 32 bytes of base64");
      }
      if (Result<void> r = store(key_id, std::move(*key), entry); !r) return r;
    }
    return {};
  };
  Result<void> r =
      read_keys("verify_keys", true,
                [&](const std::string& id, std::string key, const json&) -> Result<void> {
                  out.verify_keys[id] = std::move(key);
                  return {};
                });
  if (!r) return r.error();

  // Every signature of the server by one of its listed keys must hold; Synapse checks the first
  // it knows, which one valid signature among bad ones would pass.
  auto sigs = j.find("signatures");
  if (sigs == j.end() || !sigs->is_object()) return fail("field 'signatures' must be an object");
  auto mine = sigs->find(*server_name);
  size_t verified = 0;
  if (mine != sigs->end() && mine->is_object()) {
    for (const auto& [key_id, sig] : mine->items()) {
      auto key = out.verify_keys.find(key_id);
      if (key == out.verify_keys.end()) continue;
      Result<void> ok = verify_json(j, *server_name, key_id, key->second, kRequestJson);
      if (!ok) return fail(ok.error().message);
      ++verified;
    }
  }
  if (verified == 0) return fail("the answer is not signed by one of its own verify_keys");

  r = read_keys(
      "old_verify_keys", false,
      [&](const std::string& id, std::string key, const json& entry) -> Result<void> {
        auto expired = entry.find("expired_ts");
        if (expired == entry.end() || !expired->is_number_integer() ||
            (expired->is_number_unsigned() && expired->get<uint64_t>() > uint64_t{INT64_MAX})) {
          return fail("old_verify_keys " + quoted_text(id) +
                      ": field 'expired_ts' must be an integer");
        }
        out.old_verify_keys[id] = OldVerifyKey{std::move(key), expired->get<int64_t>()};
        return {};
      });
  if (!r) return r.error();
  return out;
}

}  // namespace tyr::engine::federation
