// Fuzzes the management-room command parser with the message body as an operator would send it.
// Beyond "no crash", checks two properties the bot's dispatch relies on:
//   - a parsed command survives a round trip: its words, each re-quoted, parse back to the same
//     words (quotes and escapes lose nothing and invent nothing);
//   - an error names a character that really is the unterminated quote it reports.
// The input is parsed with the default prefix "!tyr" and, to reach the prefix comparison with
// other prefixes, with its own first line (up to 16 bytes) as the prefix.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/commands/command_parser.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

std::string quote(std::string_view word) {
  std::string out = "\"";
  for (char c : word) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void check(std::string_view text, std::string_view prefix) {
  const auto parsed = tyr::engine::commands::parse_command(text, prefix);
  if (!parsed) return;
  if (!parsed->ok()) {
    const tyr::Error& e = parsed->error();
    require(e.code == "TYR_BAD_COMMAND");
    const std::string_view at = " quote opened at character ";
    const size_t pos = e.message.find(at);
    require(pos != std::string::npos);
    const size_t character = std::stoul(e.message.substr(pos + at.size()));
    require(character >= 1 && character <= text.size());
    const char quote_char = text[character - 1];
    require(quote_char == '"' || quote_char == '\'');
    require(e.message.starts_with(std::string("unterminated ") + quote_char));
    return;
  }
  const auto& words = parsed->value().words;
  std::string again(prefix);
  for (const auto& w : words) again += " " + quote(w);
  const auto reparsed = tyr::engine::commands::parse_command(again, prefix);
  require(reparsed && reparsed->ok() && reparsed->value().words == words);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check(text, "!tyr");
  const std::string_view first_line = text.substr(0, std::min<size_t>(text.find('\n'), 16));
  check(text, first_line);
  return 0;
}
