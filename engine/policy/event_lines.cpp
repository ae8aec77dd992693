#include "engine/policy/event_lines.hpp"

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <simdjson.h>

namespace tyr::engine::policy {

namespace {

constexpr size_t kBlock = 1 << 20;
constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Fields of a line in the common shape, or nullptr. `line` is followed by at least
// kPadding readable bytes.
const EventLineFields* read_fields(simdjson::dom::parser& parser, std::string_view line,
                                   EventLineFields& fields) {
  simdjson::dom::element doc;
  if (parser.parse(line.data(), line.size(), false).get(doc)) return nullptr;
  simdjson::dom::object object;
  if (doc.get_object().get(object)) return nullptr;
  fields = {};
  bool has_sender = false;
  for (const auto field : object) {
    if (field.key == "sender") {
      if (has_sender || field.value.get_string().get(fields.sender)) return nullptr;
      has_sender = true;
    } else if (field.key == "event_id") {
      if (fields.has_event_id || field.value.get_string().get(fields.event_id)) return nullptr;
      fields.has_event_id = true;
    }
  }
  return has_sender ? &fields : nullptr;
}

}  // namespace

bool read_event_lines(const std::string& path, const EventLineVisitor& visit) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) return false;
  simdjson::dom::parser parser;
  EventLineFields fields;
  // buffer[begin, end) holds the bytes not yet split into lines; kPadding spare bytes
  // always follow `end`, so a line can be parsed where it lies.
  std::vector<char> buffer(kBlock + kPadding);
  size_t begin = 0, end = 0, line_no = 0;
  bool eof = false;
  while (true) {
    const char* newline =
        static_cast<const char*>(std::memchr(buffer.data() + begin, '\n', end - begin));
    if (newline == nullptr && !eof) {
      // Move the partial line to the front, grow when it fills the buffer, read more.
      std::memmove(buffer.data(), buffer.data() + begin, end - begin);
      end -= begin;
      begin = 0;
      if (buffer.size() - kPadding - end < kBlock / 2) {
        buffer.resize(2 * (buffer.size() - kPadding) + kPadding);
      }
      const size_t n =
          std::fread(buffer.data() + end, 1, buffer.size() - kPadding - end, file.get());
      end += n;
      if (n == 0) eof = true;
      continue;
    }
    if (newline == nullptr && begin == end) return true;  // eof, nothing left
    const size_t stop = newline != nullptr ? static_cast<size_t>(newline - buffer.data()) : end;
    const std::string_view line(buffer.data() + begin, stop - begin);
    begin = newline != nullptr ? stop + 1 : end;
    ++line_no;
    if (blank(line)) continue;
    if (!visit(line_no, line, read_fields(parser, line, fields))) return true;
  }
}

}  // namespace tyr::engine::policy
