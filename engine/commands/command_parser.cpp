#include "engine/commands/command_parser.hpp"

#include <cctype>

namespace tyr::engine::commands {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<Result<Command>> parse_command(std::string_view text, std::string_view prefix) {
  size_t start = 0;
  while (start < text.size() && is_space(text[start])) ++start;
  text.remove_prefix(start);
  if (prefix.empty() || !iequals_prefix(text, prefix)) return std::nullopt;
  if (text.size() > prefix.size() && !is_space(text[prefix.size()])) return std::nullopt;

  Command cmd;
  size_t i = prefix.size();
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    if (i >= text.size()) break;
    std::string word;
    while (i < text.size() && !is_space(text[i])) {
      char c = text[i];
      if (c == '"' || c == '\'') {
        const size_t open = i++;
        bool closed = false;
        while (i < text.size()) {
          if (text[i] == '\\' && c == '"' && i + 1 < text.size()) {
            word.push_back(text[i + 1]);
            i += 2;
            continue;
          }
          if (text[i] == c) {
            closed = true;
            ++i;
            break;
          }
          word.push_back(text[i++]);
        }
        if (!closed) {
          return Result<Command>(Error{"TYR_BAD_COMMAND",
                                       std::string("unterminated ") + (c == '"' ? "\"" : "'") +
                                           " quote opened at character " +
                                           std::to_string(start + open + 1),
                                       0, -1});
        }
      } else {
        word.push_back(c);
        ++i;
      }
    }
    cmd.words.push_back(std::move(word));
  }
  return Result<Command>(std::move(cmd));
}

}  // namespace tyr::engine::commands
