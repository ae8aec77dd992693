#include "rules/event_reader.hpp"

#include <simdjson.h>

#include <string>

namespace tyr::rules {

namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// A string value as a view, or empty when the value is of another type (as a DOM read does).
error_code read_string(od::value value, std::string_view& out) {
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  out = {};
  if (type != od::json_type::string) return simdjson::SUCCESS;
  return value.get_string().get(out);
}

error_code read_mentions(od::value value, size_t& user_ids) {
  user_ids = 0;
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  if (type != od::json_type::object) return simdjson::SUCCESS;
  od::object object;
  if (auto err = value.get_object().get(object)) return err;
  for (auto field_result : object) {
    od::field field;
    if (auto err = std::move(field_result).get(field)) return err;
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return err;
    if (key != "user_ids") continue;
    // A repeated key counts as its last value, as in the DOM.
    user_ids = 0;
    if (auto err = field.value().type().get(type)) return err;
    if (type != od::json_type::array) continue;
    od::array ids;
    if (auto err = field.value().get_array().get(ids)) return err;
    for (auto element : ids) {
      od::value v;
      if (auto err = std::move(element).get(v)) return err;
      ++user_ids;
    }
  }
  return simdjson::SUCCESS;
}

error_code read_content(od::value value, EventFields& e) {
  e.msgtype = e.body = e.formatted_body = e.member_display_name = {};
  e.mentioned_user_ids = 0;
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  if (type != od::json_type::object) return simdjson::SUCCESS;
  od::object object;
  if (auto err = value.get_object().get(object)) return err;
  for (auto field_result : object) {
    od::field field;
    if (auto err = std::move(field_result).get(field)) return err;
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return err;
    error_code err = simdjson::SUCCESS;
    if (key == "msgtype") {
      err = read_string(field.value(), e.msgtype);
    } else if (key == "body") {
      err = read_string(field.value(), e.body);
    } else if (key == "formatted_body") {
      err = read_string(field.value(), e.formatted_body);
    } else if (key == "displayname") {
      err = read_string(field.value(), e.member_display_name);
    } else if (key == "m.mentions") {
      err = read_mentions(field.value(), e.mentioned_user_ids);
    }
    if (err) return err;
  }
  return simdjson::SUCCESS;
}

}  // namespace

struct EventReader::Impl {
  od::parser parser;
  std::string buffer;  // the event and simdjson's padding; capacity kept across events
};

EventReader::EventReader() : impl_(std::make_unique<Impl>()) {}
EventReader::~EventReader() = default;

bool EventReader::read(std::string_view json, EventFields& e, int64_t* origin_server_ts) {
  e = {};
  std::string& buf = impl_->buffer;
  buf.assign(json);
  buf.resize(json.size() + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (impl_->parser.iterate(buf.data(), json.size(), buf.size()).get(doc)) return false;
  od::object object;
  if (doc.get_object().get(object)) return false;
  std::string_view member_display_name;
  for (auto field_result : object) {
    od::field field;
    if (std::move(field_result).get(field)) return false;
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    error_code err = simdjson::SUCCESS;
    if (key == "type") {
      err = read_string(field.value(), e.type);
    } else if (key == "sender") {
      err = read_string(field.value(), e.sender);
    } else if (key == "room_id") {
      err = read_string(field.value(), e.room);
    } else if (key == "content") {
      err = read_content(field.value(), e);
      member_display_name = e.member_display_name;
    } else if (key == "origin_server_ts" && origin_server_ts != nullptr) {
      od::number_type type;
      if (field.value().get_number_type().get(type) == simdjson::SUCCESS &&
          type == od::number_type::signed_integer) {
        err = field.value().get_int64().get(*origin_server_ts);
      }
    }
    if (err) return false;
  }
  // Only a membership's displayname is a display name (as extract_features(json, …) reads it).
  e.member_display_name = e.type == "m.room.member" ? member_display_name : std::string_view{};
  return true;
}

}  // namespace tyr::rules
