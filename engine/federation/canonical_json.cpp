#include "engine/federation/canonical_json.hpp"

#include <cstddef>
#include <string_view>
#include <vector>

namespace tyr::engine::federation {
namespace {

using nlohmann::json;

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. Returns the offset of
// the first bad byte, or npos.
size_t invalid_utf8_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;  // surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < lo || b1 > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

bool plain_key(std::string_view key) {
  if (key.empty() || key.size() > 64) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.' || c == '@' || c == ':' || c == '$' ||
                    c == '!' || c == '#';
    if (!ok) return false;
  }
  return true;
}

// Path segments are kept as raw pieces and rendered only when an error is reported.
struct Segment {
  const std::string* key = nullptr;  // object member, or
  size_t index = 0;                  // array element
};

std::string render_path(const std::vector<Segment>& path) {
  std::string out = "$";
  for (const Segment& seg : path) {
    if (seg.key == nullptr) {
      out += "[" + std::to_string(seg.index) + "]";
    } else if (plain_key(*seg.key)) {
      out += "." + *seg.key;
    } else {
      out += "[" + quoted_text(*seg.key) + "]";
    }
  }
  return out;
}

class Checker {
 public:
  explicit Checker(CanonicalOptions options) : options_(options) {}

  Result<void> check(const json& value) {
    if (path_.size() > static_cast<size_t>(kMaxJsonDepth)) {
      return fail("nesting deeper than " + std::to_string(kMaxJsonDepth));
    }
    switch (value.type()) {
      case json::value_t::object:
        for (const auto& [key, member] : value.items()) {
          if (invalid_utf8_at(key) != std::string_view::npos) {
            return fail("object key is not valid UTF-8");
          }
          path_.push_back(Segment{&key, 0});
          Result<void> r = check(member);
          path_.pop_back();
          if (!r) return r;
        }
        return {};
      case json::value_t::array:
        for (size_t i = 0; i < value.size(); ++i) {
          path_.push_back(Segment{nullptr, i});
          Result<void> r = check(value[i]);
          path_.pop_back();
          if (!r) return r;
        }
        return {};
      case json::value_t::string:
        if (invalid_utf8_at(value.get_ref<const std::string&>()) != std::string_view::npos) {
          return fail("string is not valid UTF-8");
        }
        return {};
      case json::value_t::number_integer: {
        const auto n = value.get<int64_t>();
        if (options_.strict_integers && (n > kMaxSafeInteger || n < -kMaxSafeInteger)) {
          return fail("integer " + std::to_string(n) + " is outside [-(2^53-1), 2^53-1]");
        }
        return {};
      }
      case json::value_t::number_unsigned: {
        const auto n = value.get<uint64_t>();
        if (options_.strict_integers && n > static_cast<uint64_t>(kMaxSafeInteger)) {
          return fail("integer " + std::to_string(n) + " is outside [-(2^53-1), 2^53-1]");
        }
        return {};
      }
      case json::value_t::number_float: return fail("floats are not allowed in canonical JSON");
      case json::value_t::binary:
      case json::value_t::discarded: return fail("value is not JSON");
      case json::value_t::null:
      case json::value_t::boolean: return {};
    }
    return fail("value is not JSON");
  }

 private:
  Error fail(const std::string& what) const {
    return Error{"M_BAD_JSON", "canonical JSON: " + render_path(path_) + ": " + what};
  }

  CanonicalOptions options_;
  std::vector<Segment> path_;
};

}  // namespace

bool json_depth_within(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

std::string quoted_text(std::string_view text) {
  std::string cut(text.substr(0, 64));
  // Drop a code point the cut split (and anything invalid) rather than show broken UTF-8.
  return json(cut).dump(-1, ' ', true, json::error_handler_t::ignore) +
         (text.size() > cut.size() ? "..." : "");
}

// nlohmann's compact dump already is Python's canonical form for what passes the checker: object
// members in std::map (byte = code point) order, "," and ":" without spaces, UTF-8 as is, the
// same short escapes (\b \f \n \r \t \" \\) and \u00xx in lower-case hex for other control
// characters, DEL and U+2028/U+2029 unescaped, integers in full. Only floats (Python's repr),
// integer ranges and invalid UTF-8 differ, and the checker refuses those.
Result<std::string> canonical_json(const json& value, CanonicalOptions options) {
  Checker checker(options);
  if (Result<void> r = checker.check(value); !r) return r.error();
  return value.dump();
}

}  // namespace tyr::engine::federation
