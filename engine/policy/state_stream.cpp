#include "engine/policy/state_stream.hpp"

#include <utility>

#include <simdjson.h>

#include "engine/core/ondemand_fields.hpp"

namespace tyr::engine::policy {

namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

error_code read_string(od::value value, JsonStringFact& out) {
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  out = {};
  if (type != od::json_type::string) {
    out.state = JsonStringFact::State::kNotString;
    return simdjson::SUCCESS;
  }
  std::string_view text;
  if (auto err = value.get_string().get(text)) return err;
  out.set(text);
  return simdjson::SUCCESS;
}

error_code read_hashes(od::value value, HashesFact& out) {
  out = {};
  out.present = true;
  return tyr::for_each_field(
      value,
      [&](std::string_view key, od::field& field) -> error_code {
        return key == "sha256" ? read_string(field.value(), out.sha256) : simdjson::SUCCESS;
      },
      &out.is_object);
}

error_code read_content(od::value value, PolicyEventFacts& facts) {
  facts.content_empty = true;
  facts.recommendation = {};
  facts.entity = {};
  facts.reason = {};
  facts.hashes[0] = {};
  facts.hashes[1] = {};
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  if (type == od::json_type::null) {
    bool is_null = false;
    if (auto err = value.is_null().get(is_null)) return err;
    facts.content = PolicyEventFacts::Content::kNull;
    return simdjson::SUCCESS;
  }
  if (type != od::json_type::object) {
    facts.content = PolicyEventFacts::Content::kNotObject;
    return simdjson::SUCCESS;
  }
  facts.content = PolicyEventFacts::Content::kObject;
  return tyr::for_each_field(value, [&](std::string_view key, od::field& field) -> error_code {
    facts.content_empty = false;
    if (key == "recommendation") return read_string(field.value(), facts.recommendation);
    if (key == "entity") return read_string(field.value(), facts.entity);
    if (key == "reason") return read_string(field.value(), facts.reason);
    if (key == kPolicyHashKeys[0]) return read_hashes(field.value(), facts.hashes[0]);
    if (key == kPolicyHashKeys[1]) return read_hashes(field.value(), facts.hashes[1]);
    return simdjson::SUCCESS;
  });
}

error_code read_unsigned(od::value value, bool& redacted) {
  redacted = false;
  return tyr::for_each_field(value, [&](std::string_view key, od::field&) -> error_code {
    if (key == "redacted_because") redacted = true;
    return simdjson::SUCCESS;
  });
}

error_code read_event(od::object object, PolicyEventFacts& facts) {
  return tyr::for_each_field(object, [&](std::string_view key, od::field& field) -> error_code {
    if (key == "type") return read_string(field.value(), facts.type);
    if (key == "state_key") return read_string(field.value(), facts.state_key);
    if (key == "event_id") return read_string(field.value(), facts.event_id);
    if (key == "room_id") return read_string(field.value(), facts.room_id);
    if (key == "content") return read_content(field.value(), facts);
    if (key == "unsigned") return read_unsigned(field.value(), facts.redacted);
    return simdjson::SUCCESS;
  });
}

StateStreamResult read_padded(const simdjson::padded_string& json, const StateEventVisitor& visit) {
  StateStreamResult result;
  auto fail = [&](error_code err) {
    result.error = simdjson::error_message(err);
    return result;
  };
  od::parser parser;
  od::document doc;
  if (auto err = parser.iterate(json).get(doc)) return fail(err);
  od::json_type type;
  if (auto err = doc.type().get(type)) return fail(err);
  if (type != od::json_type::array) {
    // Valid JSON of another shape, or not JSON at all: only a full parse tells them apart.
    simdjson::dom::parser dom;
    simdjson::dom::element element;
    if (auto err = dom.parse(json).get(element)) return fail(err);
    result.not_array = true;
    result.error = "not a JSON array";
    return result;
  }
  od::array array;
  if (auto err = doc.get_array().get(array)) return fail(err);
  size_t index = 0;
  for (auto element_result : array) {
    od::value element;
    if (auto err = std::move(element_result).get(element)) return fail(err);
    od::json_type element_type;
    if (auto err = element.type().get(element_type)) return fail(err);
    if (element_type != od::json_type::object) {
      visit(index++, nullptr);
      continue;
    }
    // The object's text runs from its '{' to the token after its '}' (',' or ']'), less the
    // whitespace before that token.
    const char* begin = nullptr;
    if (auto err = element.current_location().get(begin)) return fail(err);
    od::object object;
    if (auto err = element.get_object().get(object)) return fail(err);
    PolicyEventFacts facts;
    if (auto err = read_event(object, facts)) return fail(err);
    const char* end = nullptr;
    if (auto err = doc.current_location().get(end)) return fail(err);
    facts.text = std::string_view(begin, static_cast<size_t>(end - begin));
    while (!facts.text.empty() && facts.text.back() != '}') facts.text.remove_suffix(1);
    visit(index++, &facts);
  }
  // Past the array's end nothing may follow (simdjson 3.0 has no document::at_end()).
  if (doc.current_location().error() == simdjson::SUCCESS) {
    return fail(simdjson::TRAILING_CONTENT);
  }
  result.ok = true;
  return result;
}

}  // namespace

StateStreamResult read_state_events(std::string_view json, const StateEventVisitor& visit) {
  const simdjson::padded_string padded(json);
  return read_padded(padded, visit);
}

StateStreamResult read_state_events_file(const std::string& path, const StateEventVisitor& visit) {
  simdjson::padded_string padded;
  if (auto err = simdjson::padded_string::load(path).get(padded)) {
    return {false, false, simdjson::error_message(err)};
  }
  return read_padded(padded, visit);
}

}  // namespace tyr::engine::policy
