// engine/core/text: the one place that makes outside text safe to cut, quote and serialise.

#include "engine/core/text.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace tyr;

TEST_CASE("text: truncate_utf8 cuts on a character boundary and marks the cut", "[text]") {
  CHECK(truncate_utf8("short", 10) == "short");
  CHECK(truncate_utf8("exactly10!", 10) == "exactly10!");
  CHECK(truncate_utf8("eleven char", 10) == "eleven cha…");
  // "€" is 3 bytes: a cut at 4 would fall inside the second one.
  CHECK(truncate_utf8("a€€", 5) == "a€…");
  CHECK(truncate_utf8("a€€", 6) == "a€…");
  CHECK(truncate_utf8("a€€", 7) == "a€€");
  CHECK(truncate_utf8("😀😀", 5) == "😀…");
  CHECK(truncate_utf8("😀", 3) == "…");
  CHECK(truncate_utf8("abc", 0) == "…");
  CHECK(truncate_utf8("", 0).empty());
}

TEST_CASE("text: sanitize_utf8 replaces what dump() refuses and keeps the rest", "[text]") {
  const std::string valid = "plain, é, €, 😀, \x01 and DEL \x7f";
  CHECK(sanitize_utf8(valid) == valid);
  CHECK(is_valid_utf8(valid));
  CHECK(sanitize_utf8("caf\xe9") == "caf\xEF\xBF\xBD");  // Latin-1
  CHECK(sanitize_utf8("\xff\xfe") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(sanitize_utf8("a\xe2\x82") == "a\xEF\xBF\xBD\xEF\xBF\xBD");                // cut short
  CHECK(sanitize_utf8("\xc0\xaf") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  CHECK(sanitize_utf8("\xed\xa0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  CHECK(sanitize_utf8("\xf4\x90\x80\x80").size() == 12);                           // above U+10FFFF
  for (const char* bad : {"caf\xe9", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_utf8(bad));
    CHECK_THROWS(nlohmann::json(std::string(bad)).dump());  // the validator agrees with dump()
    CHECK_NOTHROW(nlohmann::json(sanitize_utf8(bad)).dump());
  }
}

TEST_CASE("text: escape_untrusted keeps quoted text on one line", "[text]") {
  CHECK(escape_untrusted("line one\nline two\r\tend", 100) == "line one\\nline two\\r\\tend");
  CHECK(escape_untrusted("bell\x07", 100) == "bell\\x07");
  CHECK(escape_untrusted("a\xE2\x80\xAEz", 100) == "a\\u{202E}z");  // right-to-left override
  CHECK(escape_untrusted("a\xE2\x80\xA8z", 100) == "a\\u{2028}z");  // line separator
  CHECK(escape_untrusted("caf\xe9", 100) == "caf\xEF\xBF\xBD");
  // An escape is kept whole or not at all.
  CHECK(escape_untrusted("abc\n", 4) == "abc…");
  CHECK(escape_untrusted("abc\n", 5) == "abc\\n");
  CHECK(quote_untrusted("@room hi", 100) == "“@room hi”");
}

TEST_CASE("text: dump_json replaces invalid UTF-8 instead of throwing", "[text]") {
  const nlohmann::json j = {{"body", std::string("caf\xe9")}};
  CHECK_THROWS(j.dump());
  CHECK(dump_json(j) == "{\"body\":\"caf\xEF\xBF\xBD\"}");
}
