#pragma once
// Event hashing and signing as Synapse does it (synapse/crypto/event_signing.py and the Rust
// redaction in synapse_rust.events.redact_event_dict): the redaction algorithm of every room
// version, content hashes, reference hashes and event IDs, and signed JSON (signedjson).
// Every function takes the PDU as received over federation and never modifies it.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/result.hpp"
#include "engine/federation/canonical_json.hpp"
#include "engine/federation/ed25519.hpp"
#include "engine/federation/room_version.hpp"

namespace tyr::engine::federation {

// Canonical JSON as Synapse applies it to events of `rv`: strict integers in versions 6+.
CanonicalOptions canonical_options(const RoomVersion& rv);

// The redacted ("pruned") copy of `pdu`: the top-level keys the room version keeps, the content
// keys its event type keeps, and from `unsigned` only age_ts and replaces_state. An error when
// `pdu` is not an object, has no string `type` or has no `content`.
Result<nlohmann::json> redact(const nlohmann::json& pdu, const RoomVersion& rv);

// SHA-256 (32 raw bytes) of the canonical JSON of `pdu` without unsigned, signatures, hashes,
// age_ts, outlier and destinations (compute_content_hash).
Result<std::string> content_hash(const nlohmann::json& pdu, CanonicalOptions options = {});
// Ok when hashes.sha256 is unpadded or padded base64 of content_hash(pdu); the error says which
// of missing, malformed or mismatched.
Result<void> check_content_hash(const nlohmann::json& pdu, CanonicalOptions options = {});

// SHA-256 (32 raw bytes) of the canonical JSON of redact(pdu) without signatures, unsigned and
// age_ts (compute_event_reference_hash).
Result<std::string> reference_hash(const nlohmann::json& pdu, const RoomVersion& rv);
// v1/v2: the PDU's own `event_id` string; v3: "$" + standard unpadded base64 of the reference
// hash; v4+: the same in URL-safe base64.
Result<std::string> event_id(const nlohmann::json& pdu, const RoomVersion& rv);

// signedjson.sign.sign_json: signs `obj` without its signatures and unsigned, and returns it with
// the signature added under signatures[server_name][key.key_id()].
Result<nlohmann::json> sign_json(nlohmann::json obj, std::string_view server_name,
                                 const SigningKey& key, CanonicalOptions options = {});
// signedjson.sign.verify_signed_json for one key.
Result<void> verify_json(const nlohmann::json& obj, std::string_view server_name,
                         std::string_view key_id, std::string_view public_key,
                         CanonicalOptions options = {});

// compute_event_signature: the unpadded base64 signature of the redacted event (without
// unsigned and age_ts) by `key`, which goes to signatures[server_name][key.key_id()].
Result<std::string> sign_event(const nlohmann::json& pdu, const RoomVersion& rv,
                               std::string_view server_name, const SigningKey& key);
// Checks signatures[server_name][key_id] of `pdu` against the redacted event.
Result<void> verify_event_signature(const nlohmann::json& pdu, const RoomVersion& rv,
                                    std::string_view server_name, std::string_view key_id,
                                    std::string_view public_key);

}  // namespace tyr::engine::federation
