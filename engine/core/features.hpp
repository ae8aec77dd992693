#pragma once
// Features: everything rules and protections read from an event, extracted once per event (by
// the verdict combiner, engine/pipeline/verdict_combiner.hpp) and shared by both. Views point
// into the event JSON, which must outlive the Features; owned buffers keep their capacity across
// events (one Features per thread or per scorer), so steady-state extraction allocates nothing.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tyr {

// Text fields a regex or keyword condition scans (one Hyperscan database per field).
enum class Field : uint8_t {
  kBody,
  kFormattedBody,
  kUrls,
  kDomains,
  kDisplayName,
  kSender,
  kSenderServer,
  kRoom
};
inline constexpr int kFields = 8;
std::string_view field_name(Field f);

// Derived numbers `feature:` conditions compare.
enum class Feature : uint8_t {
  kMentions,
  kLinks,
  kLength,
  kUppercaseRatio,
  kLetters,
  kDistinctDomains,
  kLines,
  kDigits,
  kDigitRun,
  kEmoji
};
inline constexpr int kFeatures = 10;
std::string_view feature_name(Feature f);

struct Features {
  std::string_view type, sender, room, msgtype;
  std::string_view sender_server;  // server part of sender, port stripped
  std::string_view body, formatted_body, display_name;
  std::string body_lower;  // ASCII-lower-cased body (URL detection)
  std::string urls;        // URLs in body and formatted_body hrefs, '\n'-separated, deduplicated
  std::string domains;     // their hosts, lower case, '\n'-separated, deduplicated
  double numbers[kFeatures] = {};

  std::string_view field(Field f) const;
  double number(Feature f) const { return numbers[static_cast<int>(f)]; }
  // An image, video, audio file, file or sticker.
  bool media() const {
    return type == "m.sticker" || msgtype == "m.image" || msgtype == "m.video" ||
           msgtype == "m.audio" || msgtype == "m.file";
  }
};

// Fills `out` from a Matrix event. Missing or mistyped fields read as absent (empty), never
// throw: a rule about `body` simply does not match an event without one.
void extract_features(const nlohmann::json& event, std::string_view display_name, Features& out);

// The fields extraction reads, found by whatever parsed the event (a DOM, or a streaming reader
// that never builds one). Views must outlive the Features. Absent and mistyped fields are empty.
struct EventFields {
  std::string_view type, sender, room, msgtype, body, formatted_body;
  std::string_view member_display_name;  // content.displayname of an m.room.member event
  size_t mentioned_user_ids = 0;         // size of content["m.mentions"].user_ids, an array
};
// Fills `out` from fields already read; extract_features(json, …) is this after reading them.
void extract_features(const EventFields& fields, std::string_view display_name, Features& out);

}  // namespace tyr
