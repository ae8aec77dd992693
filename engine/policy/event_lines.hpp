#pragma once
// Reads a file of JSON events, one per line (JSONL, as `tyr check` takes them), with simdjson:
// the file is read in blocks and each line parsed, and fully validated, by one reused DOM
// parser, so a line costs no allocation once the parser has grown to the longest line.
//
// The reader recognises the common shape only: an object with exactly one "sender", a string,
// and at most one "event_id", a string. Every other line (invalid JSON, another shape, a
// duplicate key, a number simdjson cannot hold) is handed over without fields, so that the
// caller reads it with its reference reader and reports it in its own words.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace tyr::engine::policy {

struct EventLineFields {
  std::string_view sender;
  std::string_view event_id;  // empty when absent
  bool has_event_id = false;
};

// `line` excludes its '\n'; `fields` is nullptr for a line the caller must read itself. Both
// are valid during the call only. Lines with nothing but spaces, tabs and '\r' are skipped.
// Returning false stops the read.
using EventLineVisitor =
    std::function<bool(size_t line_no, std::string_view line, const EventLineFields* fields)>;

// False when the file cannot be opened. A read error ends the file, as it ends std::getline.
bool read_event_lines(const std::string& path, const EventLineVisitor& visit);

}  // namespace tyr::engine::policy
