#pragma once
// Walking the fields of a simdjson On-Demand object, for the readers that take what they need of
// outside JSON without building a DOM (policy state, events). Header-only: only code that links
// simdjson includes it.
//
// On-Demand reads each value at most once and in document order, so a reader walks an object's
// fields once and picks the keys it wants; a repeated key is seen twice, and a reader that
// assigns on each sighting keeps the last value, as a DOM does.

#include <string_view>
#include <utility>

#include <simdjson.h>

namespace tyr {

// Calls `fn(key, field)` (key unescaped; `field` a simdjson::ondemand::field&) for each field of
// `object` in document order. Stops at the first error, the walk's or one `fn` returns.
template <typename Fn>
simdjson::error_code for_each_field(simdjson::ondemand::object object, Fn&& fn) {
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    if (auto err = std::move(field_result).get(field)) return err;
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return err;
    if (auto err = fn(key, field)) return err;
  }
  return simdjson::SUCCESS;
}

// As for_each_field, for a value that may not be an object: `is_object` (when given) says
// whether it is, and a value of another type is walked as an object without fields.
template <typename Fn>
simdjson::error_code for_each_field(simdjson::ondemand::value value, Fn&& fn,
                                    bool* is_object = nullptr) {
  simdjson::ondemand::json_type type;
  if (auto err = value.type().get(type)) return err;
  if (is_object != nullptr) *is_object = type == simdjson::ondemand::json_type::object;
  if (type != simdjson::ondemand::json_type::object) return simdjson::SUCCESS;
  simdjson::ondemand::object object;
  if (auto err = value.get_object().get(object)) return err;
  return for_each_field(object, std::forward<Fn>(fn));
}

}  // namespace tyr
