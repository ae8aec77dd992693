// Fuzzes the appservice transaction body: what the homeserver PUTs to
// /_matrix/app/v1/transactions/{txnId}, parsed by the same function the handler uses.
// Beyond "no crash", checks what the store relies on: one (ID, JSON) slot per entry, a reason
// for every skipped one, and every kept event re-serialised to JSON that parses back to an
// object with that same event_id.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/appservice/appservice_server.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = tyr::engine::parse_transaction_body(body);
  if (!parsed) {
    const tyr::Error& e = parsed.error();
    require(e.status == 400 && (e.code == "M_NOT_JSON" || e.code == "M_BAD_JSON"));
    return 0;
  }
  const auto& ids = parsed->event_ids;
  const auto& events = parsed->event_json;
  require(ids.size() == events.size());
  size_t skipped = 0;
  for (const auto& [index, why] : parsed->skipped) {
    require(index < ids.size() && ids[index].empty() && !why.empty());
    ++skipped;
  }
  require(skipped == static_cast<size_t>(std::count(ids.begin(), ids.end(), std::string())));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) {
      require(events[i].empty());
      continue;
    }
    const auto event = nlohmann::json::parse(events[i], nullptr, false);
    require(event.is_object());
    const auto id = event.find("event_id");
    require(id != event.end() && id->is_string() && id->get_ref<const std::string&>() == ids[i]);
  }
  return 0;
}
