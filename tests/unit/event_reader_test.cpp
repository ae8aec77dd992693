// EventReader (simdjson On-Demand) against extraction from the DOM: the same features from the
// same event text, field by field, for the shapes events take and the ways they go wrong.

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>
#include <string>

#include "engine/core/features.hpp"
#include "rules/event_reader.hpp"

using tyr::EventFields;
using tyr::Features;
using tyr::rules::EventReader;

namespace {

void check_same(const std::string& text) {
  INFO(text);
  Features dom;
  const auto event = nlohmann::json::parse(text);
  tyr::extract_features(event, {}, dom);
  EventReader reader;
  EventFields fields;
  REQUIRE(reader.read(text, fields));
  Features read;
  tyr::extract_features(fields, {}, read);
  CHECK(read.type == dom.type);
  CHECK(read.sender == dom.sender);
  CHECK(read.room == dom.room);
  CHECK(read.msgtype == dom.msgtype);
  CHECK(read.sender_server == dom.sender_server);
  CHECK(read.body == dom.body);
  CHECK(read.formatted_body == dom.formatted_body);
  CHECK(read.display_name == dom.display_name);
  CHECK(read.body_lower == dom.body_lower);
  CHECK(read.urls == dom.urls);
  CHECK(read.domains == dom.domains);
  for (int k = 0; k < tyr::kFeatures; ++k) {
    INFO(tyr::feature_name(static_cast<tyr::Feature>(k)));
    CHECK(read.numbers[k] == dom.numbers[k]);
  }
}

}  // namespace

TEST_CASE("event reader: the same features as the DOM", "[features][event_reader]") {
  check_same(
      R"({"type":"m.room.message","sender":"@a:example.org:8448","room_id":"!r:x",)"
      R"("origin_server_ts":1700000000000,"content":{"msgtype":"m.text",)"
      R"("body":"WIN a PRIZE \u00e9\ud83d\ude00 call 0906 170 1461 https://bit.ly/x www.Spam.com\nok",)"
      R"("formatted_body":"<a href=\"https://matrix.to/#/@b:x\">b</a> <a href='HTTP://Evil.EXAMPLE/p'>x</a>",)"
      R"("m.mentions":{"user_ids":["@b:x","@c:x"],"room":true}}})");
  // Fields of other types read as absent; unknown fields and nesting are skipped.
  check_same(
      R"({"type":"m.room.message","sender":42,"room_id":null,"unsigned":{"a":[1,{"b":"c"}]},)"
      R"("content":{"msgtype":["m.text"],"body":{"nested":"x"},"m.mentions":{"user_ids":"@b:x"}}})");
  // A repeated key counts as its last value, as in the DOM.
  check_same(R"({"type":"m.room.notice","content":{"body":"first"},"content":{"body":"second"},)"
             R"("sender":"@a:x","sender":"@b:y"})");
  // Content that is not an object, and no content at all.
  check_same(R"({"type":"m.room.message","content":"body"})");
  check_same(R"({"type":"m.room.message"})");
  // A membership's displayname is its display name, whichever comes first in the text.
  check_same(
      R"({"content":{"membership":"join","displayname":"Free Bitcoin"},"type":"m.room.member"})");
  check_same(R"({"type":"m.room.message","content":{"displayname":"not a name","body":"x"}})");
}

TEST_CASE("event reader: origin_server_ts and what it refuses", "[event_reader]") {
  EventReader reader;
  EventFields fields;
  int64_t ts = -1;
  REQUIRE(
      reader.read(R"({"origin_server_ts":1700000000123,"type":"m.room.message"})", fields, &ts));
  CHECK(ts == 1700000000123);
  CHECK(fields.type == "m.room.message");
  ts = -1;
  REQUIRE(reader.read(R"({"origin_server_ts":"1700000000123"})", fields, &ts));
  CHECK(ts == -1);
  CHECK_FALSE(reader.read("[1,2]", fields));
  CHECK_FALSE(reader.read("\"text\"", fields));
  CHECK_FALSE(reader.read(R"({"type":"m.room.message","content":{"body":"x")", fields));
  CHECK_FALSE(reader.read(R"({"type":"m.room.me)", fields));
  CHECK_FALSE(reader.read("", fields));
  // Views from an earlier read are not kept: a failed read leaves the fields empty.
  CHECK(fields.type.empty());
}
