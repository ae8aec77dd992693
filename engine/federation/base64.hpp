#pragma once
// Unpadded base64 as Matrix writes it (hashes, signatures, keys, event IDs). Bytes travel in
// std::string.

#include <string>
#include <string_view>

#include "engine/core/result.hpp"

namespace tyr::engine::federation {

// Standard alphabet (+/), no '=' padding.
std::string base64_encode(std::string_view bytes);
// URL-safe alphabet (-_), no padding: event IDs of room versions 4+.
std::string base64url_encode(std::string_view bytes);

// Accept padded or unpadded input of their alphabet; any other character, misplaced padding or
// a length of 4n+1 is an error. Unused low bits of the last digit are ignored, as Python's
// decoder ignores them.
Result<std::string> base64_decode(std::string_view text);
Result<std::string> base64url_decode(std::string_view text);

}  // namespace tyr::engine::federation
