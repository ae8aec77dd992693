#pragma once
// A federation PDU as another server sends it (e.g. the body Synapse POSTs to a policy server's
// /_matrix/policy/v1/sign: the full PDU with hashes and the origin's signature, no event_id in
// room versions 3+). Parsing checks what a judge reads and keeps the whole JSON for hashing.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/result.hpp"

namespace tyr::engine::federation {

// The spec's limit on a PDU's canonical size; bodies over it are refused unparsed.
inline constexpr size_t kMaxPduBytes = 65'536;
// Matrix limits room_id, sender, type and state_key to 255 (bytes from v11, code points before).
inline constexpr size_t kMaxIdCodePoints = 255;

struct Pdu {
  nlohmann::json json;  // the whole PDU as received (an object)
  std::string room_id;  // "!…"
  std::string sender;   // "@localpart:server"
  std::string type;
  std::optional<std::string> state_key;  // present for state events
  int64_t origin_server_ts = 0;
  std::string content_sha256;  // hashes.sha256 as sent (unpadded base64)

  const nlohmann::json& content() const { return json.at("content"); }  // an object
};

// Errors name the field: "pdu: field 'sender' must be a user ID".
Result<Pdu> parse_pdu(std::string_view body);

}  // namespace tyr::engine::federation
