#pragma once
// Server-server request authentication: the X-Matrix Authorization header, parsed as Synapse's
// synapse/federation/transport/server/_base.py does and built as its federation client does
// (synapse/http/matrixfederationclient.py build_auth_headers), and a server's published keys
// (GET /_matrix/key/v2/server).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/result.hpp"
#include "engine/federation/ed25519.hpp"

namespace tyr::engine::federation {

// Headers longer than this are refused unparsed.
inline constexpr size_t kMaxXMatrixHeaderBytes = 8192;

struct XMatrix {
  std::string origin;                      // a valid server name (host[:port])
  std::optional<std::string> destination;  // absent from old servers' headers
  std::string key;                         // key ID, e.g. "ed25519:a"
  std::string sig;                         // unpadded base64 signature as sent
};

// The value of one Authorization header ("X-Matrix origin=…,key=…,sig=…[,destination=…]").
// Values may be quoted (backslash escapes any character) or bare; parameter names are
// case-insensitive; unknown parameters are ignored; the last of a repeated parameter wins.
Result<XMatrix> parse_x_matrix(std::string_view header);

// The object the origin signs: {method, uri, origin, destination[, content]}.
nlohmann::json request_json(std::string_view method, std::string_view uri, std::string_view origin,
                            std::string_view destination,
                            const std::optional<nlohmann::json>& content);

// Verifies `auth` for a request to `our_server_name` (the destination Synapse puts in the signed
// object whatever the header says; a header naming another destination is refused).
// `public_key` is the origin's 32-byte key for auth.key. `uri` is the request target as sent
// (path and query).
Result<void> verify_request(const XMatrix& auth, std::string_view method, std::string_view uri,
                            std::string_view our_server_name,
                            const std::optional<nlohmann::json>& content,
                            std::string_view public_key);

// The header value Synapse's federation client sends:
// X-Matrix origin="…",key="…",sig="…",destination="…"
Result<std::string> x_matrix_header(std::string_view method, std::string_view uri,
                                    std::string_view origin, std::string_view destination,
                                    const std::optional<nlohmann::json>& content,
                                    const SigningKey& key);

// Bodies of key answers larger than this are refused unparsed.
inline constexpr size_t kMaxServerKeysBytes = 65'536;

struct OldVerifyKey {
  std::string public_key;  // 32 raw bytes
  int64_t expired_ts = 0;
};

struct ServerKeys {
  std::string server_name;
  int64_t valid_until_ts = 0;
  std::map<std::string, std::string, std::less<>> verify_keys;  // key ID -> 32 raw bytes
  std::map<std::string, OldVerifyKey, std::less<>> old_verify_keys;
};

// A /_matrix/key/v2/server answer from `expected_server_name`: the server name must match,
// valid_until_ts must not be before now_ms, and every signature of the server by one of its own
// verify_keys must verify (at least one). Keys of other algorithms than ed25519 are skipped.
Result<ServerKeys> parse_server_keys(std::string_view body, std::string_view expected_server_name,
                                     int64_t now_ms);

}  // namespace tyr::engine::federation
