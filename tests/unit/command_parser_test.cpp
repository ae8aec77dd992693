#include <catch2/catch.hpp>

#include "engine/commands/command_parser.hpp"

using tyr::engine::commands::parse_command;

namespace {
std::vector<std::string> words(std::string_view text) {
  auto r = parse_command(text, "!tyr");
  REQUIRE(r.has_value());
  REQUIRE(r->ok());
  return r->value().words;
}
}  // namespace

TEST_CASE("commands: text without the prefix is not a command", "[commands]") {
  CHECK_FALSE(parse_command("hello", "!tyr").has_value());
  CHECK_FALSE(parse_command("!tyrant status", "!tyr").has_value());
  CHECK_FALSE(parse_command("say !tyr status", "!tyr").has_value());
  CHECK_FALSE(parse_command("", "!tyr").has_value());
}

TEST_CASE("commands: words split on whitespace, prefix case-insensitive", "[commands]") {
  CHECK(words("!tyr status") == std::vector<std::string>{"status"});
  CHECK(words("  !TYR   rooms\tadd  #a:hs\n") == std::vector<std::string>{"rooms", "add", "#a:hs"});
  CHECK(words("!tyr").empty());
  CHECK(words("!tyr   ").empty());
}

TEST_CASE("commands: quotes group words and escapes work inside double quotes", "[commands]") {
  CHECK(words(R"(!tyr ban coc @u:hs "spam and abuse")") ==
        std::vector<std::string>{"ban", "coc", "@u:hs", "spam and abuse"});
  CHECK(words(R"(!tyr x 'single quoted' "say \"hi\"")") ==
        std::vector<std::string>{"x", "single quoted", "say \"hi\""});
  CHECK(words(R"(!tyr a"b c"d)") == std::vector<std::string>{"ab cd"});
  CHECK(words(R"(!tyr "")") == std::vector<std::string>{""});
}

TEST_CASE("commands: an unterminated quote is an error that says where", "[commands]") {
  auto r = parse_command(R"(!tyr ban "oops)", "!tyr");
  REQUIRE(r.has_value());
  REQUIRE_FALSE(r->ok());
  CHECK(r->error().code == "TYR_BAD_COMMAND");
  CHECK(r->error().message == "unterminated \" quote opened at character 10");
  auto r2 = parse_command("  !tyr x 'a", "!tyr");
  REQUIRE_FALSE(r2->ok());
  CHECK(r2->error().message == "unterminated ' quote opened at character 10");
}

TEST_CASE("commands: another prefix can be configured", "[commands]") {
  auto r = parse_command("!mod help", "!mod");
  REQUIRE(r.has_value());
  CHECK(r->value().words == std::vector<std::string>{"help"});
  CHECK_FALSE(parse_command("!tyr help", "!mod").has_value());
}
