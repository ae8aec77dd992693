#pragma once
// Reads the fields scoring needs from an event's JSON text with simdjson On-Demand, without
// building a DOM: for the offline paths that score many events they never print back (the
// rules bench). Everything else reads events as nlohmann::json and extracts features from that
// (engine/core/features.hpp); both give the same EventFields for a well-formed event.
//
//   EventReader reader;   // one per thread; its buffers are reused across events
//   EventFields fields;
//   int64_t ts = 0;
//   if (reader.read(line, fields, &ts)) extract_features(fields, {}, features);

#include <cstdint>
#include <memory>
#include <string_view>

#include "engine/core/features.hpp"

namespace tyr::rules {

class EventReader {
 public:
  EventReader();
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Reads one event. The views in `fields` point into this reader and stay valid until the
  // next read. `origin_server_ts` is set when the event has an integer one (else untouched).
  // False when `json` is not a JSON object or is malformed where it was read (values the
  // reader skips are checked only for structure).
  bool read(std::string_view json, EventFields& fields, int64_t* origin_server_ts = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tyr::rules
