// Fuzzes the inline veto's request handling: the first line of the input is the callback name
// (the path segment after /_tyr/veto/), the rest the body synapse-http-antispam would POST.
// Everything goes through veto::Server::handle with a valid secret and a backend that allows,
// so parsing, validation and the answer are all exercised. Properties beyond "no crash":
//   - every answer is JSON (an object), with an errcode whenever the status is not 200;
//   - a request that parses names valid IDs for the fields Tyr acts on.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/ids.hpp"
#include "engine/veto/veto.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

struct AllowAll : tyr::engine::veto::Backend {
  bool veto_ready() const override { return true; }
  tyr::engine::veto::Decision decide_membership(const tyr::engine::veto::Request&) override {
    return {};
  }
  tyr::engine::veto::Decision decide_event(const tyr::engine::veto::Request&,
                                           std::chrono::milliseconds) override {
    return {};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string_view callback = input.substr(0, std::min(nl, input.size()));
  const std::string_view body =
      nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  using namespace tyr::engine;
  auto parsed = veto::parse_request(callback, body);
  if (parsed) {
    switch (parsed->callback) {
      case veto::Callback::kUserMayJoinRoom:
      case veto::Callback::kAcceptMakeJoin:
        require(tyr::is_user_id(parsed->user) && !parsed->room.empty() && parsed->room[0] == '!');
        break;
      case veto::Callback::kUserMayInvite:
        require(tyr::is_user_id(parsed->user) && tyr::is_user_id(parsed->inviter));
        break;
      case veto::Callback::kCheckEventForSpam:
      case veto::Callback::kShouldDropFederatedEvent:
      case veto::Callback::kFederatedUserMayInvite:
        require(parsed->event.is_object() && tyr::is_user_id(parsed->user));
        break;
      default: break;
    }
  }

  static VetoConfig config = [] {
    VetoConfig c;
    c.secret = "fuzz-secret-0123456789";
    return c;
  }();
  static AllowAll backend;
  static veto::Server server(config, backend);
  const std::string path = "/_tyr/veto/" + std::string(callback);
  const auto answer = server.handle("POST", path, "Bearer fuzz-secret-0123456789", body);
  const auto json = nlohmann::json::parse(answer.body, nullptr, false);
  require(json.is_object());
  if (answer.status != 200) require(json.contains("errcode"));
  return 0;
}
