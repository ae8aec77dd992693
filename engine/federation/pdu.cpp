#include "engine/federation/pdu.hpp"

#include <utility>

#include "engine/core/ids.hpp"
#include "engine/federation/canonical_json.hpp"

namespace tyr::engine::federation {
namespace {

using nlohmann::json;

Error pdu_error(std::string what) { return Error{"M_BAD_JSON", "pdu: " + std::move(what)}; }

size_t byte_of(const nlohmann::json::exception& e) {
  const auto* parse = dynamic_cast<const nlohmann::json::parse_error*>(&e);
  return parse != nullptr ? parse->byte : 0;
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// A required string field of at most kMaxIdCodePoints code points.
Result<std::string> short_string(const json& pdu, const char* field) {
  auto it = pdu.find(field);
  if (it == pdu.end()) return pdu_error("field '" + std::string(field) + "' is missing");
  if (!it->is_string()) return pdu_error("field '" + std::string(field) + "' must be a string");
  const auto& s = it->get_ref<const std::string&>();
  if (code_points(s) > kMaxIdCodePoints) {
    return pdu_error("field '" + std::string(field) + "' is longer than " +
                     std::to_string(kMaxIdCodePoints) + " code points");
  }
  return s;
}

}  // namespace

Result<Pdu> parse_pdu(std::string_view body) {
  if (body.size() > kMaxPduBytes) {
    return pdu_error("body of " + std::to_string(body.size()) + " bytes is over the " +
                     std::to_string(kMaxPduBytes) + "-byte PDU limit");
  }
  if (!json_depth_within(body)) {
    return pdu_error("JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  Pdu pdu;
  try {
    pdu.json = json::parse(body);
  } catch (const json::exception& e) {
    return pdu_error("invalid JSON at byte " + std::to_string(byte_of(e)));
  }
  const json& j = pdu.json;
  if (!j.is_object()) return pdu_error("the body must be a JSON object");

  Result<std::string> room_id = short_string(j, "room_id");
  if (!room_id) return room_id.error();
  if (!is_room_id(*room_id)) return pdu_error("field 'room_id' must be a room ID");
  pdu.room_id = std::move(*room_id);

  Result<std::string> sender = short_string(j, "sender");
  if (!sender) return sender.error();
  const size_t colon = sender->find(':');
  if (!is_user_id(*sender) || colon == 1 || colon + 1 == sender->size()) {
    return pdu_error("field 'sender' must be a user ID");
  }
  pdu.sender = std::move(*sender);

  Result<std::string> type = short_string(j, "type");
  if (!type) return type.error();
  if (type->empty()) return pdu_error("field 'type' must not be empty");
  pdu.type = std::move(*type);

  if (j.contains("state_key")) {
    Result<std::string> state_key = short_string(j, "state_key");
    if (!state_key) return state_key.error();
    pdu.state_key = std::move(*state_key);
  }

  auto content = j.find("content");
  if (content == j.end()) return pdu_error("field 'content' is missing");
  if (!content->is_object()) return pdu_error("field 'content' must be an object");

  auto ts = j.find("origin_server_ts");
  if (ts == j.end()) return pdu_error("field 'origin_server_ts' is missing");
  if (!ts->is_number_integer()) return pdu_error("field 'origin_server_ts' must be an integer");
  if (ts->is_number_unsigned() ? ts->get<uint64_t>() > uint64_t{kMaxSafeInteger}
                               : ts->get<int64_t>() < 0) {
    return pdu_error("field 'origin_server_ts' must be in [0, 2^53-1]");
  }
  pdu.origin_server_ts = ts->get<int64_t>();

  auto hashes = j.find("hashes");
  if (hashes == j.end() || !hashes->is_object()) {
    return pdu_error("field 'hashes' must be an object");
  }
  auto sha = hashes->find("sha256");
  if (sha == hashes->end() || !sha->is_string()) {
    return pdu_error("field 'hashes.sha256' must be a string");
  }
  if (sha->get_ref<const std::string&>().size() > 128) {
    return pdu_error("field 'hashes.sha256' is too long for a SHA-256 hash");
  }
  pdu.content_sha256 = sha->get<std::string>();
  return pdu;
}

}  // namespace tyr::engine::federation
