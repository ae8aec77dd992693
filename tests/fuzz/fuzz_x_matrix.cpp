// Fuzzes server-server authentication: the first line of the input is an Authorization header
// value for parse_x_matrix, the second a method, the third a request URI, the rest a request body
// (JSON, or none); the whole input is also offered to parse_server_keys. Beyond "no crash":
//   - a parsed header names a valid origin; parsing is bounded by the header limit;
//   - a header built by x_matrix_header for the same request parses back to the same origin,
//     key and destination and verifies; it fails for another destination or under another key.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/federation/canonical_json.hpp"
#include "engine/federation/ed25519.hpp"
#include "engine/federation/x_matrix.hpp"

namespace {

using nlohmann::json;
using namespace tyr::engine::federation;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_x_matrix: %s\n", what);
  std::abort();
}

void require(bool condition, const char* what) {
  if (!condition) fail(what);
}

const SigningKey& key() {
  static const SigningKey k = SigningKey::from_seed(std::string(32, '\x05'), "fz_1").value();
  return k;
}

std::string_view next_line(std::string_view& rest) {
  const size_t nl = rest.find('\n');
  const std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)parse_server_keys(input, "origin.example", 0);

  std::string_view rest = input;
  const std::string_view header = next_line(rest);
  const std::string_view method = next_line(rest);
  const std::string_view uri = next_line(rest);

  auto parsed = parse_x_matrix(header);
  if (parsed) {
    require(header.size() <= kMaxXMatrixHeaderBytes, "a header over the limit parsed");
    require(!parsed->origin.empty(), "a parsed header has no origin");
  }

  std::optional<json> content;
  if (!rest.empty() && json_depth_within(rest)) {
    json body = json::parse(rest, nullptr, false);
    if (!body.is_discarded()) content = std::move(body);
  }
  const std::string origin = parsed ? parsed->origin : "a.example";
  auto built = x_matrix_header(method, uri, origin, "policy.example", content, key());
  if (!built) return 0;  // e.g. a body with floats
  auto back = parse_x_matrix(*built);
  if (built->size() > kMaxXMatrixHeaderBytes) return 0;
  require(back.ok(), "a built header does not parse");
  require(back->origin == origin && back->key == key().key_id() &&
              back->destination == std::optional<std::string>("policy.example"),
          "a built header parses to other values");
  require(verify_request(*back, method, uri, "policy.example", content, key().public_key()).ok(),
          "a built header does not verify");
  require(!verify_request(*back, method, uri, "other.example", content, key().public_key()).ok(),
          "a header verifies for another destination");
  require(
      !verify_request(*back, method, uri, "policy.example", content, std::string(32, '\x02')).ok(),
      "a header verifies under another key");
  return 0;
}
