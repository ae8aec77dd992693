#pragma once
// What reading one policy state event looks at, whichever JSON parser read it: the DOM reader
// (parse_policy_event, nlohmann) and the streaming reader (state_stream.hpp, simdjson
// On-Demand) both fill these facts and hand them to policy_event_from_facts, so both give the
// same PolicyEvent, the same problem text included.
//
// Strings are views into the parser's buffers: valid only while that document lives. With
// duplicate keys the last one counts (as nlohmann's DOM keeps it).

#include <optional>
#include <string>
#include <string_view>

#include "engine/policy/policy_rule.hpp"

namespace tyr::engine::policy {

struct JsonStringFact {
  enum class State : uint8_t { kMissing, kNotString, kString };
  State state = State::kMissing;
  std::string_view value;  // when kString

  bool present() const { return state != State::kMissing; }
  bool is_string() const { return state == State::kString; }
  void set(std::string_view v) {
    state = State::kString;
    value = v;
  }
};

// One MSC4205 hashes object (`org.matrix.msc4205.hashes` or `hashes`).
struct HashesFact {
  bool present = false;
  bool is_object = false;
  JsonStringFact sha256;
};

struct PolicyEventFacts {
  JsonStringFact type;
  JsonStringFact state_key;
  JsonStringFact event_id;
  JsonStringFact room_id;  // not part of the rule; list files name their list by it

  enum class Content : uint8_t { kMissing, kNull, kNotObject, kObject };
  Content content = Content::kMissing;
  bool content_empty = true;  // an object without members
  bool redacted = false;      // `unsigned` is an object with `redacted_because`

  JsonStringFact recommendation;
  JsonStringFact entity;
  JsonStringFact reason;
  HashesFact hashes[2];  // indexed like kPolicyHashKeys

  // The event object's JSON text as received, when read from text (state_stream.hpp); empty
  // when read from a DOM.
  std::string_view text;
};

// MSC4205 keeps the hashes under an unstable key; the stable name is what the MSC proposes.
// The first key present decides: a broken unstable object is not rescued by a stable one.
inline constexpr std::string_view kPolicyHashKeys[2] = {"org.matrix.msc4205.hashes", "hashes"};

// The PolicyEvent of an event object (see parse_policy_event for the rules).
std::optional<PolicyEvent> policy_event_from_facts(const PolicyEventFacts& facts,
                                                   const std::string& list);

}  // namespace tyr::engine::policy
