#include "engine/veto/veto.hpp"

#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/core/token.hpp"
#include "engine/http/server.hpp"
#include "engine/metrics/tyr_metrics.hpp"

namespace tyr::engine::veto {

namespace {

constexpr std::string_view kNames[] = {"user_may_join_room",
                                       "user_may_invite",
                                       "check_event_for_spam",
                                       "should_drop_federated_event",
                                       "federated_user_may_invite",
                                       "accept_make_join",
                                       "ping",
                                       "other"};
constexpr std::string_view kOutcomes[] = {"allow",     "reject",  "drop",
                                          "not_ready", "timeout", "error"};

Response json_error(int status, std::string_view errcode, const std::string& error) {
  // The error may quote the request (a callback name); invalid UTF-8 there must not throw.
  return {status, nlohmann::json{{"errcode", errcode}, {"error", error}}.dump(
                      -1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

Error bad(std::string_view callback, const std::string& what) {
  return Error{"M_BAD_JSON", std::string(callback) + ": " + what};
}

// The first of `keys` present in `obj`; it must be a string.
Result<std::string> string_field(const nlohmann::json& obj, std::string_view callback,
                                 std::initializer_list<const char*> keys,
                                 bool (*valid)(std::string_view), std::string_view what) {
  for (const char* k : keys) {
    auto it = obj.find(k);
    if (it == obj.end()) continue;
    if (!it->is_string() || (valid != nullptr && !valid(it->get_ref<const std::string&>()))) {
      return bad(callback, "field '" + std::string(k) + "' must be " + std::string(what));
    }
    return it->get<std::string>();
  }
  return bad(callback, "missing field '" + std::string(*keys.begin()) + "'");
}

bool valid_user(std::string_view s) { return is_user_id(s); }
bool valid_room(std::string_view s) { return !s.empty() && s.front() == '!'; }

}  // namespace

std::string_view callback_name(Callback c) {
  return kNames[std::min<size_t>(static_cast<size_t>(c), std::size(kNames) - 1)];
}

Callback callback_from_name(std::string_view name) {
  for (size_t i = 0; i + 1 < std::size(kNames); ++i) {
    if (kNames[i] == name) return static_cast<Callback>(i);
  }
  return Callback::kOther;
}

std::string_view outcome_name(Outcome o) {
  return kOutcomes[std::min<size_t>(static_cast<size_t>(o), std::size(kOutcomes) - 1)];
}

Result<Request> parse_request(std::string_view callback, std::string_view body) {
  Request r;
  r.name = std::string(callback);
  r.callback = callback_from_name(callback);
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return Error{"M_NOT_JSON", std::string(callback) + ": body is not JSON"};
  if (!j.is_object()) return bad(callback, "body must be a JSON object");
  switch (r.callback) {
    case Callback::kUserMayJoinRoom:
    case Callback::kAcceptMakeJoin: {
      auto user = string_field(j, callback, {"user", "user_id"}, valid_user, "a user ID");
      if (!user) return user.error();
      auto room = string_field(j, callback, {"room", "room_id"}, valid_room, "a room ID");
      if (!room) return room.error();
      r.user = std::move(*user);
      r.room = std::move(*room);
      if (auto it = j.find("is_invited"); it != j.end()) {
        if (!it->is_boolean()) return bad(callback, "field 'is_invited' must be true or false");
        r.is_invited = it->get<bool>();
      }
      break;
    }
    case Callback::kUserMayInvite: {
      auto inviter =
          string_field(j, callback, {"inviter", "inviter_user_id"}, valid_user, "a user ID");
      if (!inviter) return inviter.error();
      auto invitee = string_field(j, callback, {"invitee", "user_id"}, valid_user, "a user ID");
      if (!invitee) return invitee.error();
      auto room = string_field(j, callback, {"room_id", "room"}, valid_room, "a room ID");
      if (!room) return room.error();
      r.inviter = std::move(*inviter);
      r.user = std::move(*invitee);
      r.room = std::move(*room);
      break;
    }
    case Callback::kCheckEventForSpam:
    case Callback::kShouldDropFederatedEvent:
    case Callback::kFederatedUserMayInvite: {
      auto it = j.find("event");
      if (it == j.end() || !it->is_object())
        return bad(callback, "field 'event' must be an object");
      for (const char* k : {"event_id", "room_id", "sender", "type"}) {
        auto f = it->find(k);
        if (f == it->end() || !f->is_string()) {
          return bad(callback, "field 'event." + std::string(k) + "' must be a string");
        }
      }
      if (!is_user_id(it->at("sender").get_ref<const std::string&>())) {
        return bad(callback, "field 'event.sender' must be a user ID");
      }
      r.event = std::move(*it);
      r.user = r.event["sender"].get<std::string>();
      r.room = r.event["room_id"].get<std::string>();
      break;
    }
    case Callback::kPing: {
      auto it = j.find("id");
      if (it != j.end() && !it->is_string()) return bad(callback, "field 'id' must be a string");
      if (it != j.end()) r.ping_id = it->get<std::string>();
      break;
    }
    case Callback::kOther:
    case Callback::kCount: break;
  }
  return r;
}

Server::Server(const VetoConfig& config, Backend& backend) : config_(config), backend_(backend) {}

Server::~Server() { stop(); }

std::optional<Response> Server::screen(std::string_view method, std::string_view path,
                                       std::string_view authorization) {
  if (path.substr(0, kPathPrefix.size()) != kPathPrefix) {
    return json_error(404, "M_UNRECOGNIZED", "Unrecognized request");
  }
  const std::string_view callback = path.substr(kPathPrefix.size());
  if (method != "POST") return json_error(405, "M_UNRECOGNIZED", "Use POST");
  if (authorization.size() <= 7 ||
      (authorization.substr(0, 7) != "Bearer " && authorization.substr(0, 7) != "bearer ")) {
    ++stats_.auth_failures;
    return json_error(401, "M_MISSING_TOKEN", "Missing Bearer secret");
  }
  if (!secure_equals(authorization.substr(7), config_.secret)) {
    ++stats_.auth_failures;
    log::warn("veto",
              "request for " + escape_untrusted(callback, 64) + " with a wrong secret refused");
    return json_error(403, "M_FORBIDDEN", "Invalid secret");
  }
  return std::nullopt;
}

Response Server::handle(std::string_view method, std::string_view path,
                        std::string_view authorization, std::string_view body) {
  if (auto refused = screen(method, path, authorization)) return *refused;
  const std::string_view callback = path.substr(kPathPrefix.size());
  if (body.size() > kMaxBodyBytes) {
    ++stats_.bad_requests;
    return json_error(413, "M_TOO_LARGE", "Request body too large");
  }
  auto req = parse_request(callback, body);
  if (!req) {
    ++stats_.bad_requests;
    log::warn("veto", "bad request: " + req.error().message);
    return json_error(400, req.error().code, req.error().message);
  }
  return decide(*req);
}

Response Server::decide(const Request& request) {
  auto& m = metrics::tyr_metrics();
  const std::string_view label = callback_name(request.callback);
  metrics::ScopedTimer timer(m.veto_duration.with(label));
  Decision d;
  if (request.callback == Callback::kPing) {
    ++stats_.decisions[static_cast<size_t>(Callback::kPing)][static_cast<size_t>(Outcome::kAllow)];
    return {200, nlohmann::json{{"id", request.ping_id}, {"status", "ok"}}.dump(
                     -1, ' ', false, nlohmann::json::error_handler_t::replace)};
  }
  if (request.callback == Callback::kOther) {
    d.outcome = Outcome::kAllow;
  } else if (!backend_.veto_ready()) {
    d.outcome = Outcome::kNotReady;
  } else {
    try {
      switch (request.callback) {
        case Callback::kUserMayJoinRoom:
        case Callback::kAcceptMakeJoin:
        case Callback::kUserMayInvite: d = backend_.decide_membership(request); break;
        default:
          d = backend_.decide_event(request, config_.deadline);
          if (d.outcome == Outcome::kReject &&
              request.callback == Callback::kShouldDropFederatedEvent) {
            d.outcome = Outcome::kDrop;
          }
          break;
      }
    } catch (const std::exception& e) {
      log::error("veto", std::string(callback_name(request.callback)) + " failed: " + e.what());
      d = Decision{Outcome::kError, {}, {}};
    }
  }
  ++stats_.decisions[static_cast<size_t>(request.callback)][static_cast<size_t>(d.outcome)];
  m.vetoes.with(label, outcome_name(d.outcome)).inc();
  if (d.outcome == Outcome::kReject || d.outcome == Outcome::kDrop) {
    return json_error(403, d.errcode.empty() ? "M_FORBIDDEN" : d.errcode,
                      d.error.empty() ? "Refused by the server's moderation policy" : d.error);
  }
  return {200, "{}"};
}

bool Server::start() {
  http::Options o;
  o.name = "veto";
  o.bind_address = config_.bind_address;
  o.port = config_.port;
  // Decisions wait up to the deadline for the scorer: enough threads for Synapse's pool of
  // connections to the module, each with a request in flight.
  o.limits.handler_threads = kWorkerThreads;
  o.body_limit = [](std::string_view, std::string_view) { return kMaxBodyBytes; };
  // The secret is checked before the body is read.
  o.screen = [this](const http::Request& head) -> std::optional<http::Response> {
    auto refused = screen(head.method, head.path, head.authorization);
    if (!refused) return std::nullopt;
    http::Response r;
    r.status = refused->status;
    r.body = std::move(refused->body);
    return r;
  };
  o.handler = [this](http::Request& req) {
    Response out = handle(req.method, req.path, req.authorization, req.body);
    http::Response r;
    r.status = out.status;
    r.body = std::move(out.body);
    return r;
  };
  o.error = [](int status, std::string_view message) {
    http::Response r;
    r.status = status;
    if (status == 413) {
      r.body = json_error(413, "M_TOO_LARGE", "Request body too large").body;
    } else {
      // A request Tyr could not read is not a decision: the module refuses whatever a JSON
      // errcode says, but applies its fail-open policy to a non-JSON answer, as to an
      // unreachable Tyr.
      r.content_type = "text/plain; charset=utf-8";
      r.body = "Tyr could not read the request: " + std::string(message);
    }
    return r;
  };
  http_ = std::make_unique<http::Server>(std::move(o));
  if (!http_->start()) {
    http_.reset();
    return false;
  }
  bound_port_ = http_->port();
  log::info("veto",
            "inline veto listening on " + config_.bind_address + ":" + std::to_string(bound_port_));
  return true;
}

void Server::stop() {
  if (http_) http_->stop();
  http_.reset();
}

std::string synapse_module_yaml(const VetoConfig& config, const std::string& base_url) {
  const std::string fo = config.fail_open ? "true" : "false";
  std::string y;
  y += "modules:\n";
  y += "  - module: synapse_http_antispam.HTTPAntispam\n";
  y += "    config:\n";
  y += "      base_url: " + base_url + "\n";
  y += "      authorization: " + config.secret + "\n";
  y += "      do_ping: true\n";
  y += "      enabled_callbacks:\n";
  for (const char* c : {"user_may_join_room", "user_may_invite", "check_event_for_spam"}) {
    y += "        - " + std::string(c) + "\n";
  }
  y += "      fail_open:\n";
  for (const char* c : {"user_may_join_room", "user_may_invite", "check_event_for_spam"}) {
    y += "        " + std::string(c) + ": " + fo + "\n";
  }
  return y;
}

}  // namespace tyr::engine::veto
