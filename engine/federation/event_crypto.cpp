#include "engine/federation/event_crypto.hpp"

#include <array>
#include <utility>

#include "engine/core/digest.hpp"
#include "engine/federation/base64.hpp"

namespace tyr::engine::federation {
namespace {

using nlohmann::json;

Error crypto_error(std::string what) { return Error{"M_UNAUTHORIZED", std::move(what)}; }

std::string raw(const Sha256& digest) {
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

// Copies content[key] into out when present (as the Rust redaction's add_content_field).
void keep(const json& content, json& out, const char* key) {
  if (!content.is_object()) return;
  if (auto it = content.find(key); it != content.end()) out[key] = *it;
}

json redacted_content(const std::string& type, const json& content, const RoomVersion& rv) {
  json out = json::object();
  if (type == "m.room.member") {
    keep(content, out, "membership");
    if (rv.restricted_join_rule_fix) keep(content, out, "join_authorised_via_users_server");
    if (rv.updated_redaction_rules && content.is_object()) {
      // MSC3821: keep third_party_invite.signed (an empty object when only the key is there).
      auto it = content.find("third_party_invite");
      if (it != content.end() && it->is_object()) {
        json invite = json::object();
        if (auto signed_it = it->find("signed"); signed_it != it->end()) {
          invite["signed"] = *signed_it;
        }
        out["third_party_invite"] = std::move(invite);
      }
    }
  } else if (type == "m.room.create") {
    // MSC2176: v11 keeps the whole content of a create event.
    if (rv.updated_redaction_rules && content.is_object()) out = content;
    if (!rv.implicit_room_creator) keep(content, out, "creator");
  } else if (type == "m.room.join_rules") {
    keep(content, out, "join_rule");
    if (rv.restricted_join_rule) keep(content, out, "allow");
  } else if (type == "m.room.power_levels") {
    for (const char* key : {"users", "users_default", "events", "events_default", "state_default",
                            "ban", "kick", "redact"}) {
      keep(content, out, key);
    }
    if (rv.updated_redaction_rules) keep(content, out, "invite");  // MSC3821
  } else if (type == "m.room.aliases") {
    if (rv.special_case_aliases_auth) keep(content, out, "aliases");
  } else if (type == "m.room.history_visibility") {
    keep(content, out, "history_visibility");
  } else if (type == "m.room.redaction") {
    if (rv.updated_redaction_rules) keep(content, out, "redacts");  // MSC2174
  }
  if (rv.msc3389_relation_redactions && content.is_object()) {
    auto it = content.find("m.relates_to");
    if (it != content.end() && it->is_object()) {
      json relates = json::object();
      keep(*it, relates, "rel_type");
      keep(*it, relates, "event_id");
      if (!relates.empty()) out["m.relates_to"] = std::move(relates);
    }
  }
  return out;
}

bool kept_top_level(const std::string& key, const std::string& type, const RoomVersion& rv) {
  static constexpr std::array<std::string_view, 11> kAlways = {
      "event_id", "sender",    "room_id", "hashes",      "signatures",      "content",
      "type",     "state_key", "depth",   "prev_events", "origin_server_ts"};
  for (std::string_view k : kAlways) {
    if (key == k) {
      // MSC4291: a create event's room ID is derived from its event ID, never carried.
      return !(k == "room_id" && rv.msc4291_room_ids_as_hashes && type == "m.room.create");
    }
  }
  if (key == "auth_events") return true;  // prev_state_events only with MSC4242 (not 1..12)
  if (!rv.updated_redaction_rules) {
    return key == "prev_state" || key == "membership" || key == "origin";
  }
  return false;
}

Result<std::string> signature_of(const json& pdu, std::string_view server_name,
                                 std::string_view key_id) {
  const std::string where =
      "signature " + quoted_text(server_name) + " " + quoted_text(key_id) + ": ";
  auto sigs = pdu.find("signatures");
  if (sigs == pdu.end() || !sigs->is_object()) return crypto_error(where + "no signatures object");
  auto server = sigs->find(server_name);
  if (server == sigs->end() || !server->is_object()) {
    return crypto_error(where + "no signatures from the server");
  }
  auto sig = server->find(key_id);
  if (sig == server->end() || !sig->is_string()) return crypto_error(where + "missing");
  Result<std::string> bytes = base64_decode(sig->get_ref<const std::string&>());
  if (!bytes) return crypto_error(where + "not base64");
  return bytes;
}

}  // namespace

CanonicalOptions canonical_options(const RoomVersion& rv) {
  return CanonicalOptions{.strict_integers = rv.strict_canonicaljson};
}

Result<json> redact(const json& pdu, const RoomVersion& rv) {
  if (!pdu.is_object()) return crypto_error("redact: the event is not a JSON object");
  auto type = pdu.find("type");
  if (type == pdu.end() || !type->is_string()) {
    return crypto_error("redact: field 'type' must be a string");
  }
  auto content = pdu.find("content");
  if (content == pdu.end()) return crypto_error("redact: field 'content' is missing");
  const auto& type_str = type->get_ref<const std::string&>();

  json out = json::object();
  for (const auto& [key, value] : pdu.items()) {
    if (kept_top_level(key, type_str, rv)) out[key] = value;
  }
  out["content"] = redacted_content(type_str, *content, rv);
  if (auto unsigned_it = pdu.find("unsigned"); unsigned_it != pdu.end()) {
    json kept = json::object();
    keep(*unsigned_it, kept, "age_ts");
    keep(*unsigned_it, kept, "replaces_state");
    out["unsigned"] = std::move(kept);
  }
  return out;
}

Result<std::string> content_hash(const json& pdu, CanonicalOptions options) {
  if (!pdu.is_object()) return crypto_error("content hash: the event is not a JSON object");
  json copy = pdu;
  for (const char* key :
       {"age_ts", "unsigned", "signatures", "hashes", "outlier", "destinations"}) {
    copy.erase(key);
  }
  Result<std::string> text = canonical_json(copy, options);
  if (!text) return text.error();
  return raw(sha256(*text));
}

Result<void> check_content_hash(const json& pdu, CanonicalOptions options) {
  if (!pdu.is_object()) return crypto_error("content hash: the event is not a JSON object");
  auto hashes = pdu.find("hashes");
  if (hashes == pdu.end() || !hashes->is_object()) {
    return crypto_error("content hash: field 'hashes' must be an object");
  }
  auto sha = hashes->find("sha256");
  if (sha == hashes->end() || !sha->is_string()) {
    return crypto_error("content hash: field 'hashes.sha256' must be a string");
  }
  Result<std::string> claimed = base64_decode(sha->get_ref<const std::string&>());
  if (!claimed) return crypto_error("content hash: field 'hashes.sha256' is not base64");
  Result<std::string> actual = content_hash(pdu, options);
  if (!actual) return actual.error();
  if (*claimed != *actual) {
    return crypto_error("content hash: hashes.sha256 does not match the event (expected " +
                        base64_encode(*actual) + ")");
  }
  return {};
}

Result<std::string> reference_hash(const json& pdu, const RoomVersion& rv) {
  Result<json> redacted = redact(pdu, rv);
  if (!redacted) return redacted.error();
  for (const char* key : {"signatures", "unsigned", "age_ts"}) redacted->erase(key);
  Result<std::string> text = canonical_json(*redacted, canonical_options(rv));
  if (!text) return text.error();
  return raw(sha256(*text));
}

Result<std::string> event_id(const json& pdu, const RoomVersion& rv) {
  if (rv.event_format == EventFormat::kV1V2) {
    if (!pdu.is_object()) return crypto_error("event ID: the event is not a JSON object");
    auto id = pdu.find("event_id");
    if (id == pdu.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
      return crypto_error("event ID: room version " + std::string(rv.identifier) +
                          " events carry a string 'event_id'");
    }
    return id->get<std::string>();
  }
  Result<std::string> hash = reference_hash(pdu, rv);
  if (!hash) return hash.error();
  return "$" +
         (rv.event_format == EventFormat::kV3 ? base64_encode(*hash) : base64url_encode(*hash));
}

Result<json> sign_json(json obj, std::string_view server_name, const SigningKey& key,
                       CanonicalOptions options) {
  if (!obj.is_object()) return crypto_error("sign: the value is not a JSON object");
  json signatures = json::object();
  if (auto it = obj.find("signatures"); it != obj.end()) {
    if (!it->is_object()) return crypto_error("sign: field 'signatures' must be an object");
    signatures = std::move(*it);
    obj.erase(it);
  }
  std::optional<json> unsigned_value;
  if (auto it = obj.find("unsigned"); it != obj.end()) {
    unsigned_value = std::move(*it);
    obj.erase(it);
  }
  Result<std::string> text = canonical_json(obj, options);
  if (!text) return text.error();
  json& mine = signatures[std::string(server_name)];
  if (mine.is_null()) mine = json::object();
  if (!mine.is_object()) return crypto_error("sign: signatures of the server must be an object");
  mine[key.key_id()] = base64_encode(key.sign(*text));
  obj["signatures"] = std::move(signatures);
  if (unsigned_value) obj["unsigned"] = std::move(*unsigned_value);
  return obj;
}

Result<void> verify_json(const json& obj, std::string_view server_name, std::string_view key_id,
                         std::string_view public_key, CanonicalOptions options) {
  if (!obj.is_object()) return crypto_error("verify: the value is not a JSON object");
  Result<std::string> sig = signature_of(obj, server_name, key_id);
  if (!sig) return sig.error();
  json copy = obj;
  copy.erase("signatures");
  copy.erase("unsigned");
  Result<std::string> text = canonical_json(copy, options);
  if (!text) return text.error();
  if (!ed25519_verify(public_key, *text, *sig)) {
    return crypto_error("signature " + quoted_text(server_name) + " " + quoted_text(key_id) +
                        ": does not verify");
  }
  return {};
}

Result<std::string> sign_event(const json& pdu, const RoomVersion& rv, std::string_view server_name,
                               const SigningKey& key) {
  Result<json> redacted = redact(pdu, rv);
  if (!redacted) return redacted.error();
  redacted->erase("age_ts");
  redacted->erase("unsigned");
  Result<json> signed_event =
      sign_json(std::move(*redacted), server_name, key, canonical_options(rv));
  if (!signed_event) return signed_event.error();
  return (*signed_event)["signatures"][std::string(server_name)][key.key_id()].get<std::string>();
}

Result<void> verify_event_signature(const json& pdu, const RoomVersion& rv,
                                    std::string_view server_name, std::string_view key_id,
                                    std::string_view public_key) {
  Result<json> redacted = redact(pdu, rv);
  if (!redacted) return redacted.error();
  return verify_json(*redacted, server_name, key_id, public_key, canonical_options(rv));
}

}  // namespace tyr::engine::federation
