// Fuzzes federation PDUs end to end: body -> parse_pdu -> for every room version redact,
// content hash, reference hash / event ID, and a sign-then-verify round trip. Beyond "no crash",
// checks the promises a policy server relies on:
//   - a parsed PDU's fields are those of its JSON, and the body is within the PDU limit;
//   - redaction always succeeds on a parsed PDU, keeps only allowed keys, and is idempotent;
//   - canonical JSON reads back as the same value and is a fixed point;
//   - a v3+ event ID is "$" + 43 base64 characters; check_content_hash agrees with
//     content_hash; an event signed by sign_event verifies, and fails under another key.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/federation/base64.hpp"
#include "engine/federation/canonical_json.hpp"
#include "engine/federation/ed25519.hpp"
#include "engine/federation/event_crypto.hpp"
#include "engine/federation/pdu.hpp"
#include "engine/federation/room_version.hpp"

namespace {

using nlohmann::json;
using namespace tyr::engine::federation;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_pdu: %s\n", what);
  std::abort();
}

void require(bool condition, const char* what) {
  if (!condition) fail(what);
}

const SigningKey& key() {
  static const SigningKey k = SigningKey::from_seed(std::string(32, '\x07'), "fuzz").value();
  return k;
}

bool allowed_top_level(const std::string& k) {
  for (const char* a : {"event_id", "sender", "room_id", "hashes", "signatures", "content", "type",
                        "state_key", "depth", "prev_events", "origin_server_ts", "auth_events",
                        "prev_state", "membership", "origin", "unsigned"}) {
    if (k == a) return true;
  }
  return false;
}

void check_canonical(const json& value, CanonicalOptions options) {
  auto text = canonical_json(value, options);
  if (!text) return;
  const json back = json::parse(*text);
  require(back == value, "canonical JSON does not read back as the same value");
  auto again = canonical_json(back, options);
  require(again.ok() && *again == *text, "canonical JSON is not a fixed point");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto pdu = parse_pdu(body);
  if (!pdu) return 0;
  require(body.size() <= kMaxPduBytes, "a body over the limit parsed");
  const json& j = pdu->json;
  require(j.at("room_id") == pdu->room_id && j.at("sender") == pdu->sender &&
              j.at("type") == pdu->type && pdu->content().is_object(),
          "parsed fields differ from the JSON");
  require(pdu->state_key.has_value() == j.contains("state_key"), "state_key presence differs");

  check_canonical(j, CanonicalOptions{.strict_integers = false});
  auto hash = content_hash(j);
  auto checked = check_content_hash(j);
  if (checked.ok()) require(hash.ok(), "a content hash checked without being computable");
  if (hash.ok()) {
    auto claimed = base64_decode(pdu->content_sha256);
    require(checked.ok() == (claimed.ok() && *claimed == *hash),
            "check_content_hash disagrees with content_hash");
  }

  const auto versions = room_versions();
  const size_t signed_version = size % versions.size();
  for (size_t i = 0; i < versions.size(); ++i) {
    const RoomVersion& rv = versions[i];
    auto redacted = redact(j, rv);
    require(redacted.ok(), "a parsed PDU failed to redact");
    require(redacted->at("content").is_object(), "redacted content is not an object");
    for (const auto& [k, v] : redacted->items()) {
      require(allowed_top_level(k), "redaction kept a key it must drop");
    }
    auto twice = redact(*redacted, rv);
    require(twice.ok() && *twice == *redacted, "redaction is not idempotent");
    check_canonical(*redacted, canonical_options(rv));

    auto id = event_id(j, rv);
    if (rv.event_format != EventFormat::kV1V2 && id.ok()) {
      require(id->size() == 44 && (*id)[0] == '$', "an event ID of the wrong shape");
    }
    if (i != signed_version) continue;
    auto sig = sign_event(j, rv, "fuzz.example", key());
    if (!sig) continue;
    json signed_pdu = j;
    signed_pdu["signatures"] = json::object();  // an odd signatures value must not matter
    signed_pdu["signatures"]["fuzz.example"]["ed25519:fuzz"] = *sig;
    require(
        verify_event_signature(signed_pdu, rv, "fuzz.example", "ed25519:fuzz", key().public_key())
            .ok(),
        "a signed event does not verify");
    require(!verify_event_signature(signed_pdu, rv, "fuzz.example", "ed25519:fuzz",
                                    std::string(32, '\x01'))
                 .ok(),
            "an event verifies under another key");
  }
  return 0;
}
