#pragma once
// Reads a JSON array of client-format state events (a room's /state answer, a list file, a
// JSON feed) one event at a time with simdjson On-Demand: no DOM of the whole array is built,
// so a 10^5-rule list costs the bytes of its text plus what the caller keeps of each event.
//
// Each element is handed to the visitor as PolicyEventFacts (policy_event_facts.hpp), whose
// views stay valid until the read returns; policy_event_from_facts turns them into the same
// PolicyEvent that parse_policy_event gives for the same event.
//
// Strictness: the whole text is validated for structure and UTF-8 up front; values of fields
// that no policy event reads (e.g. `origin_server_ts`) are skipped, not checked, so a malformed
// number there is not reported as invalid JSON where a DOM parser would report it.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "engine/policy/policy_event_facts.hpp"

namespace tyr::engine::policy {

// `facts` is nullptr when the element is not a JSON object.
using StateEventVisitor = std::function<void(size_t index, const PolicyEventFacts* facts)>;

struct StateStreamResult {
  bool ok = false;
  bool not_array = false;  // the document is valid JSON but not an array
  std::string error;       // when !ok: simdjson's message for the first problem met
};

// `json` is copied into a padded buffer first.
StateStreamResult read_state_events(std::string_view json, const StateEventVisitor& visit);
// Loads the file straight into a padded buffer.
StateStreamResult read_state_events_file(const std::string& path, const StateEventVisitor& visit);

}  // namespace tyr::engine::policy
