#include "rules/event_reader.hpp"

#include <simdjson.h>

#include <string>

#include "engine/core/ondemand_fields.hpp"

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
  return tyr::for_each_field(value, [&](std::string_view key, od::field& field) -> error_code {
    if (key != "user_ids") return simdjson::SUCCESS;
    // A repeated key counts as its last value, as in the DOM.
    user_ids = 0;
    od::json_type type;
    if (auto err = field.value().type().get(type)) return err;
    if (type != od::json_type::array) return simdjson::SUCCESS;
    od::array ids;
    if (auto err = field.value().get_array().get(ids)) return err;
    for (auto element : ids) {
      od::value v;
      if (auto err = std::move(element).get(v)) return err;
      ++user_ids;
    }
    return simdjson::SUCCESS;
  });
}

error_code read_content(od::value value, EventFields& e) {
  e.msgtype = e.body = e.formatted_body = e.member_display_name = {};
  e.mentioned_user_ids = 0;
  return tyr::for_each_field(value, [&](std::string_view key, od::field& field) -> error_code {
    if (key == "msgtype") return read_string(field.value(), e.msgtype);
    if (key == "body") return read_string(field.value(), e.body);
    if (key == "formatted_body") return read_string(field.value(), e.formatted_body);
    if (key == "displayname") return read_string(field.value(), e.member_display_name);
    if (key == "m.mentions") return read_mentions(field.value(), e.mentioned_user_ids);
    return simdjson::SUCCESS;
  });
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
  const error_code walked =
      tyr::for_each_field(object, [&](std::string_view key, od::field& field) -> error_code {
        if (key == "type") return read_string(field.value(), e.type);
        if (key == "sender") return read_string(field.value(), e.sender);
        if (key == "room_id") return read_string(field.value(), e.room);
        if (key == "content") {
          const error_code err = read_content(field.value(), e);
          member_display_name = e.member_display_name;
          return err;
        }
        if (key == "origin_server_ts" && origin_server_ts != nullptr) {
          od::number_type type;
          if (field.value().get_number_type().get(type) == simdjson::SUCCESS &&
              type == od::number_type::signed_integer) {
            return field.value().get_int64().get(*origin_server_ts);
          }
        }
        return simdjson::SUCCESS;
      });
  if (walked) return false;
  // Only a membership's displayname is a display name (as extract_features(json, …) reads it).
  e.member_display_name = e.type == "m.room.member" ? member_display_name : std::string_view{};
  return true;
}

}  // namespace tyr::rules
