#include "engine/policyserver/policy_server.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "engine/core/clock.hpp"
#include "engine/core/log.hpp"
#include "engine/core/private_files.hpp"
#include "engine/federation/base64.hpp"
#include "engine/federation/event_crypto.hpp"
#include "engine/federation/pdu.hpp"
#include "engine/federation/room_version.hpp"
#include "engine/federation/x_matrix.hpp"
#include "engine/http/server.hpp"
#include "engine/metrics/tyr_metrics.hpp"

namespace tyr::engine::policyserver {

namespace {

constexpr std::string_view kOutcomes[] = {
    "signed",          "refused",   "signed_loading", "refused_loading", "signed_timeout",
    "refused_timeout", "not_found", "unauthorized",   "bad_request",     "error"};

std::string json_error(std::string_view errcode, std::string_view message) {
  // Messages may quote the request; invalid UTF-8 there must not throw.
  return nlohmann::json{{"errcode", errcode}, {"error", message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

constexpr char kLoadingReason[] = "The room's policy server is starting; try again shortly.";
constexpr char kTimeoutReason[] = "The room's policy server could not decide in time.";

}  // namespace

std::string_view outcome_name(Outcome o) {
  return kOutcomes[std::min<size_t>(static_cast<size_t>(o), std::size(kOutcomes) - 1)];
}

Result<federation::SigningKey> load_or_create_key(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error{"TYR_POLICY_KEY", "cannot read " + path.string()};
    std::ostringstream text;
    text << in.rdbuf();
    auto key = federation::parse_signing_key_file(text.str());
    if (!key) return Error{"TYR_POLICY_KEY", path.string() + ": " + key.error().message};
    if (key->version() != kKeyVersion) {
      return Error{"TYR_POLICY_KEY",
                   path.string() + ": the key's version must be '" + std::string(kKeyVersion) +
                       "' (Synapse verifies ed25519:" + std::string(kKeyVersion) + ")"};
    }
    return key;
  }
  auto key = federation::SigningKey::generate(kKeyVersion);
  if (!key) return key.error();
  if (auto dir = create_private_dir(path.parent_path()); !dir) return dir.error();
  if (auto w = write_private_file(path, federation::format_signing_key_file(key.value())); !w)
    return w.error();
  log::info("policy-server", "created the policy signing key " + path.string() + " (public key " +
                                 federation::base64_encode(key->public_key()) + ")");
  return key;
}

nlohmann::json policy_event_content(std::string_view server_name,
                                    const federation::SigningKey& key) {
  return {{"via", server_name},
          {"public_keys", {{"ed25519", federation::base64_encode(key.public_key())}}}};
}

Server::Server(const PolicyServerConfig& config, federation::SigningKey key, Backend& backend,
               ServerKeyCache& keys)
    : config_(config), key_(std::move(key)), backend_(backend), keys_(keys) {}

Server::~Server() { stop(); }

std::map<std::string, RoomCounts> Server::room_counts() const {
  std::lock_guard lock(mu_);
  return rooms_;
}

std::optional<Server::Verdict> Server::remembered(const std::string& event_id) {
  std::lock_guard lock(mu_);
  auto it = verdicts_.find(event_id);
  if (it == verdicts_.end()) return std::nullopt;
  return it->second;
}

void Server::remember(const std::string& event_id, const Verdict& v) {
  std::lock_guard lock(mu_);
  if (verdicts_.emplace(event_id, v).second) verdict_order_.push_back(event_id);
  while (verdict_order_.size() > kMaxRemembered) {
    verdicts_.erase(verdict_order_.front());
    verdict_order_.pop_front();
  }
}

Response Server::error(Outcome outcome, int status, std::string_view errcode,
                       std::string_view message) {
  ++stats_.outcomes[static_cast<size_t>(outcome)];
  metrics::tyr_metrics().policy_sign_requests.with(outcome_name(outcome)).inc();
  return {status, json_error(errcode, message)};
}

Response Server::answer(Outcome outcome, const std::string& room, const Verdict& v) {
  ++stats_.outcomes[static_cast<size_t>(outcome)];
  metrics::tyr_metrics().policy_sign_requests.with(outcome_name(outcome)).inc();
  {
    std::lock_guard lock(mu_);
    auto it = rooms_.find(room);
    if (it == rooms_.end() && rooms_.size() < kMaxRooms)
      it = rooms_.emplace(room, RoomCounts{}).first;
    if (it != rooms_.end()) ++(v.refused ? it->second.refused_events : it->second.signed_events);
  }
  if (v.refused) return {400, json_error("M_FORBIDDEN", v.reason)};
  nlohmann::json body = {{config_.server_name, {{key_.key_id(), v.signature}}}};
  return {200, body.dump()};
}

Response Server::handle(std::string_view method, std::string_view uri,
                        std::string_view authorization, std::string_view body) {
  const auto started = std::chrono::steady_clock::now();
  Response r = decide(method, uri, authorization, body);
  metrics::tyr_metrics().policy_sign_duration.observe_since(started);
  return r;
}

Response Server::decide(std::string_view method, std::string_view uri,
                        std::string_view authorization, std::string_view body) {
  std::string_view path = uri.substr(0, uri.find('?'));
  if (path != kSignPath && path != kUnstableSignPath) {
    return error(Outcome::kBadRequest, 404, "M_UNRECOGNIZED", "Unrecognized request");
  }
  if (method != "POST") {
    return error(Outcome::kBadRequest, 405, "M_UNRECOGNIZED", "Use POST");
  }
  auto auth = federation::parse_x_matrix(authorization);
  if (!auth) return error(Outcome::kUnauthorized, 401, "M_UNAUTHORIZED", auth.error().message);
  if (auth->destination && *auth->destination != config_.server_name) {
    return error(
        Outcome::kUnauthorized, 401, "M_UNAUTHORIZED",
        "This is the policy server of " + config_.server_name + ", not of " + *auth->destination);
  }
  auto pdu = federation::parse_pdu(body);
  if (!pdu) return error(Outcome::kBadRequest, 400, "M_BAD_JSON", pdu.error().message);
  const std::string& room = pdu->room_id;
  if (!backend_.protects_room(room)) {
    return error(Outcome::kNotFound, 404, "M_NOT_FOUND",
                 "This policy server does not police " + room);
  }
  // The request's signature, against the calling server's published key.
  auto public_key = keys_.key(auth->origin, auth->key, now_ms());
  if (!public_key) {
    return error(Outcome::kUnauthorized, 401, "M_UNAUTHORIZED",
                 "Cannot check the request's signature: " + public_key.error().message);
  }
  if (auto v = federation::verify_request(auth.value(), method, uri, config_.server_name, pdu->json,
                                          public_key.value());
      !v) {
    return error(Outcome::kUnauthorized, 401, "M_UNAUTHORIZED", v.error().message);
  }
  auto version = backend_.room_version(room);
  if (!version) {
    return error(Outcome::kError, 500, "M_UNKNOWN",
                 "Cannot read the room's version: " + version.error().message);
  }
  const federation::RoomVersion* rv = federation::find_room_version(version.value());
  if (rv == nullptr) {
    return error(Outcome::kBadRequest, 400, "M_UNSUPPORTED_ROOM_VERSION",
                 "Room version " + version.value() + " is not supported");
  }
  // A content hash that does not match would have Tyr judge one text and sign another.
  if (auto h = federation::check_content_hash(pdu->json, federation::canonical_options(*rv)); !h) {
    return error(Outcome::kBadRequest, 400, "M_FORBIDDEN", h.error().message);
  }
  auto event_id = federation::event_id(pdu->json, *rv);
  if (!event_id) return error(Outcome::kBadRequest, 400, "M_BAD_JSON", event_id.error().message);
  if (auto known = remembered(event_id.value())) {
    return answer(known->refused ? Outcome::kRefused : Outcome::kSigned, room, *known);
  }

  const auto sign = [&](Outcome outcome, bool keep) {
    auto sig = federation::sign_event(pdu->json, *rv, config_.server_name, key_);
    if (!sig) return error(Outcome::kError, 500, "M_UNKNOWN", sig.error().message);
    Verdict v{false, std::move(sig).value(), {}};
    if (keep) remember(event_id.value(), v);
    return answer(outcome, room, v);
  };
  const auto refuse = [&](Outcome outcome, std::string reason, bool keep) {
    Verdict v{true, {}, std::move(reason)};
    if (keep) remember(event_id.value(), v);
    return answer(outcome, room, v);
  };

  // The policy event itself is never refused: it is how a room changes or drops its server.
  const bool policy_event =
      pdu->state_key && pdu->state_key->empty() &&
      (pdu->type == "m.room.policy" || pdu->type == "org.matrix.msc4284.policy");
  if (policy_event) return sign(Outcome::kSigned, true);
  if (!backend_.policy_ready()) {
    return config_.sign_while_loading ? sign(Outcome::kSignedLoading, false)
                                      : refuse(Outcome::kRefusedLoading, kLoadingReason, false);
  }
  nlohmann::json event = {
      {"event_id", event_id.value()}, {"room_id", room},
      {"sender", pdu->sender},        {"type", pdu->type},
      {"content", pdu->content()},    {"origin_server_ts", pdu->origin_server_ts}};
  if (pdu->state_key) event["state_key"] = *pdu->state_key;
  Judgement j = backend_.judge_event(event, auth->origin, config_.deadline);
  if (j.timed_out) {
    return config_.sign_on_timeout ? sign(Outcome::kSignedTimeout, false)
                                   : refuse(Outcome::kRefusedTimeout, kTimeoutReason, false);
  }
  if (j.refuse) return refuse(Outcome::kRefused, std::move(j.reason), true);
  return sign(Outcome::kSigned, true);
}

bool Server::start() {
  http::Options o;
  o.name = "policy_server";
  o.bind_address = config_.bind_address;
  o.port = config_.port;
  // Decisions wait up to the deadline for the scorer, and a first request from a server waits
  // for its keys: enough threads that one slow server does not hold up the rest.
  o.limits.handler_threads = 16;
  o.body_limit = [](std::string_view, std::string_view) { return kMaxBodyBytes; };
  // No X-Matrix header, or the wrong method or path: refused before the body is read.
  o.screen = [this](const http::Request& head) -> std::optional<http::Response> {
    http::Response r;
    if (head.path != kSignPath && head.path != kUnstableSignPath) {
      r.status = 404;
      r.body = error(Outcome::kBadRequest, 404, "M_UNRECOGNIZED", "Unrecognized request").body;
    } else if (head.method != "POST") {
      r.status = 405;
      r.body = error(Outcome::kBadRequest, 405, "M_UNRECOGNIZED", "Use POST").body;
      r.headers.emplace_back("Allow", "POST");
    } else if (head.authorization.rfind("X-Matrix ", 0) != 0) {
      r.status = 401;
      r.body =
          error(Outcome::kUnauthorized, 401, "M_UNAUTHORIZED", "Missing X-Matrix authorization")
              .body;
    } else {
      return std::nullopt;
    }
    return r;
  };
  o.handler = [this](http::Request& req) {
    std::string uri = req.path;
    if (!req.query.empty()) {
      // The signed URI is the target as sent; this listener's paths take no query, so one
      // present is rebuilt only to make the signature check fail honestly.
      uri += "?";
      for (const auto& [k, v] : req.query) uri += k + "=" + v + "&";
      uri.pop_back();
    }
    Response out = handle(req.method, uri, req.authorization, req.body);
    http::Response r;
    r.status = out.status;
    r.body = std::move(out.body);
    return r;
  };
  o.error = [](int status, std::string_view message) {
    http::Response r;
    r.status = status;
    r.body = json_error(status == 413 ? "M_TOO_LARGE" : "M_BAD_JSON", message);
    return r;
  };
  http_ = std::make_unique<http::Server>(std::move(o));
  if (!http_->start()) {
    http_.reset();
    return false;
  }
  bound_port_ = http_->port();
  log::info("policy-server", "signing for " + config_.server_name + " on " + config_.bind_address +
                                 ":" + std::to_string(bound_port_) + " (public key " +
                                 federation::base64_encode(key_.public_key()) + ")");
  return true;
}

void Server::stop() {
  if (http_) http_->stop();
  http_.reset();
}

}  // namespace tyr::engine::policyserver
