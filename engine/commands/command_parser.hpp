#pragma once
// Parses management-room commands: "<prefix> word word "quoted words" …".

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/result.hpp"

namespace tyr::engine::commands {

struct Command {
  std::vector<std::string> words;  // everything after the prefix, unquoted
};

// nullopt: the text is not addressed to Tyr (no prefix). An Error (code "TYR_BAD_COMMAND")
// says what is malformed and at which character, e.g. an unterminated quote.
// The prefix matches case-insensitively and must be followed by whitespace or the end.
std::optional<Result<Command>> parse_command(std::string_view text, std::string_view prefix);

}  // namespace tyr::engine::commands
