#include "engine/client/homeserver_client.hpp"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine/core/text.hpp"
#include "engine/metrics/tyr_metrics.hpp"

namespace tyr::engine {

namespace {

using nlohmann::json;

constexpr std::string_view kClientV3 = "/_matrix/client/v3";
// Idle connections kept for reuse; more may be open while calls run concurrently.
constexpr std::size_t kMaxIdleConnections = 8;

struct BaseUrl {
  bool https = false;
  std::string host;  // without IPv6 brackets
  int port = 0;
  // "" or "/prefix" without trailing slash, for a homeserver served under a sub-path.
  std::string path_prefix;
};

// Accepts "http[s]://host[:port][/prefix]" with host a name, IPv4 or bracketed IPv6 literal.
std::optional<BaseUrl> parse_base_url(std::string_view url) {
  BaseUrl out;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  std::string scheme(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme == "https") {
    out.https = true;
  } else if (scheme != "http") {
    return std::nullopt;
  }
  std::string_view rest = url.substr(scheme_end + 3);
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (path.find_first_of("?#") != std::string_view::npos) return std::nullopt;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.path_prefix = std::string(path);

  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port_text = after.substr(1);
      if (port_text.empty()) return std::nullopt;
    }
  } else {
    auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return std::nullopt;
    }
  }
  if (out.host.empty()) return std::nullopt;
  if (port_text.empty()) {
    out.port = out.https ? 443 : 80;
  } else {
    if (port_text.size() > 5) return std::nullopt;
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return std::nullopt;
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return std::nullopt;
    out.port = port;
  }
  return out;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Delta-seconds form only; an HTTP-date (which Synapse never sends) is ignored.
std::optional<int64_t> parse_retry_after_header(const std::string& value) {
  std::size_t begin = value.find_first_not_of(" \t");
  std::size_t end = value.find_last_not_of(" \t");
  if (begin == std::string::npos) return std::nullopt;
  std::string_view digits(value.data() + begin, end - begin + 1);
  if (digits.size() > 9) return std::nullopt;  // keeps the multiplication below in range
  int64_t seconds = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    seconds = seconds * 10 + (c - '0');
  }
  return seconds * 1000;
}

Error bad_response(std::string message, int status) {
  return Error{"TYR_BAD_RESPONSE", std::move(message), status};
}

json reason_body(const std::string& reason) {
  json body = json::object();
  if (!reason.empty()) body["reason"] = reason;
  return body;
}

std::string room_path(const std::string& room_id) {
  return std::string(kClientV3) + "/rooms/" + HomeserverClient::encode_segment(room_id);
}

// A 2xx answer with its status, so that a malformed body can be reported with the status seen.
struct Answer {
  int status = 0;
  json body;
  std::string text;  // the body unparsed, when asked for (and then `body` stays null)
};

std::string invalid_json_message(int status, const std::string& method, const std::string& path) {
  return "invalid JSON in HTTP " + std::to_string(status) + " answer to " + method + " " + path;
}

constexpr const char* kStateNotArray = "room state is not an array";

}  // namespace

struct HomeserverClient::Impl {
  explicit Impl(ClientOptions options) : options_(std::move(options)) {
    base_ = parse_base_url(options_.base_url);
  }

  // `parse` false leaves a 2xx body unparsed in Answer::text.
  Result<Answer> perform(const HttpRequest& request, bool parse = true);

  std::unique_ptr<httplib::ClientImpl> acquire();
  void release(std::unique_ptr<httplib::ClientImpl> client);
  std::chrono::milliseconds backoff(int failures);
  void sleep(std::chrono::milliseconds duration);

  ClientOptions options_;
  std::optional<BaseUrl> base_;

  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<httplib::ClientImpl>> idle_;  // guarded by pool_mutex_

  std::mutex sleep_mutex_;
  std::function<void(std::chrono::milliseconds)> sleep_;  // guarded by sleep_mutex_; empty = real
};

std::unique_ptr<httplib::ClientImpl> HomeserverClient::Impl::acquire() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      auto client = std::move(idle_.back());
      idle_.pop_back();
      return client;
    }
  }
  std::unique_ptr<httplib::ClientImpl> client;
  if (base_->https) {
    client = std::make_unique<httplib::SSLClient>(base_->host, base_->port);
  } else {
    client = std::make_unique<httplib::ClientImpl>(base_->host, base_->port);
  }
  client->set_connection_timeout(options_.connect_timeout);
  client->set_read_timeout(options_.request_timeout);
  client->set_write_timeout(options_.request_timeout);
  client->set_keep_alive(true);
  // httplib writes headers and body separately; with Nagle each request would stall on the
  // peer's delayed ACK (~40 ms).
  client->set_tcp_nodelay(true);
  // Paths and queries are fully percent-encoded here; httplib must not re-encode them.
  client->set_url_encode(false);
  return client;
}

void HomeserverClient::Impl::release(std::unique_ptr<httplib::ClientImpl> client) {
  std::lock_guard lock(pool_mutex_);
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(client));
}

// Exponential from backoff_initial, capped at backoff_max, with "equal jitter": a uniform
// draw from [base/2, base] so that concurrent callers spread out but still wait.
std::chrono::milliseconds HomeserverClient::Impl::backoff(int failures) {
  int64_t cap = std::max<int64_t>(0, options_.backoff_max.count());
  int64_t base = std::clamp<int64_t>(options_.backoff_initial.count(), 0, cap);
  for (int i = 1; i < failures && base < cap; ++i) base = std::min(cap, base * 2);
  if (base <= 1) return std::chrono::milliseconds(base);
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> dist(base / 2, base);
  return std::chrono::milliseconds(dist(rng));
}

void HomeserverClient::Impl::sleep(std::chrono::milliseconds duration) {
  std::function<void(std::chrono::milliseconds)> fn;
  {
    std::lock_guard lock(sleep_mutex_);
    fn = sleep_;
  }
  if (fn) {
    fn(duration);
  } else {
    std::this_thread::sleep_for(duration);
  }
}

namespace {

// The kind of call, for the latency histogram's bounded `endpoint` label (paths hold IDs).
std::string_view endpoint_kind(const HttpRequest& r) {
  const std::string& p = r.path;
  auto has = [&](std::string_view s) { return p.find(s) != std::string::npos; };
  if (has("/_synapse/admin")) return "admin";
  if (has("/account/whoami")) return "whoami";
  if (has("/register")) return "register";
  if (has("/appservice/") && has("/ping")) return "ping";
  if (has("/createRoom")) return "create_room";
  if (has("/directory/room/")) return "resolve_alias";
  if (has("/join")) return has("/joined_members") ? "joined_members" : "join";
  if (has("/leave")) return "leave";
  if (has("/invite")) return "invite";
  if (has("/unban")) return "unban";
  if (has("/ban")) return "ban";
  if (has("/kick")) return "kick";
  if (has("/redact/")) return "redact";
  if (has("/send/")) return "send_event";
  if (has("/members")) return "members";
  if (has("/messages")) return "messages";
  if (has("/state/")) return r.method == "PUT" ? "send_state" : "state_event";
  if (p.ends_with("/state")) return "room_state";
  return "other";
}

}  // namespace

Result<Answer> HomeserverClient::Impl::perform(const HttpRequest& request, bool parse) {
  if (!base_) {
    return Error{"TYR_BAD_CONFIG", "invalid homeserver base_url '" + options_.base_url + "'", 0};
  }

  httplib::Request req;
  req.method = request.method;
  req.path = base_->path_prefix + request.path;
  std::string user_query;
  if (!request.as_user.empty()) user_query = "user_id=" + encode_segment(request.as_user);
  char separator = req.path.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [key, value] : request.query) {
    req.path += separator;
    req.path += encode_segment(key) + "=" + encode_segment(value);
    separator = '&';
  }
  if (!user_query.empty()) req.path += separator + user_query;
  const std::string& token =
      request.bearer_token.empty() ? options_.as_token : request.bearer_token;
  req.headers.emplace("Authorization", "Bearer " + token);
  if (request.body) {
    req.body = dump_json(*request.body);  // outside text in a body is sent, never thrown on
    req.headers.emplace("Content-Type", "application/json");
  }

  const int max_attempts = std::max(1, options_.max_attempts);
  for (int attempt = 1;; ++attempt) {
    auto client = acquire();
    const auto sent_at = std::chrono::steady_clock::now();
    httplib::Result res = client->send(req);
    metrics::tyr_metrics()
        .homeserver_request_duration.with(endpoint_kind(request))
        .observe_since(sent_at);
    if (!res) {
      // The connection state is unknown; let the client go rather than pool it.
      Error error{"TYR_NETWORK", httplib::to_string(res.error()), 0};
      if (attempt >= max_attempts) return error;
      sleep(backoff(attempt));
      continue;
    }
    release(std::move(client));

    const int status = res->status;
    if (status >= 200 && status < 300) {
      if (!parse) return Answer{status, json(), std::move(res->body)};
      if (res->body.empty()) return Answer{status, json::object(), {}};
      json body = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded()) {
        return bad_response(invalid_json_message(status, request.method, request.path), status);
      }
      return Answer{status, std::move(body), {}};
    }

    Error error{"M_UNKNOWN", {}, status};
    json body = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    if (body.is_object()) {
      if (auto it = body.find("errcode"); it != body.end() && it->is_string()) {
        error.code = it->get<std::string>();
      }
      if (auto it = body.find("error"); it != body.end() && it->is_string()) {
        error.message = it->get<std::string>();
      }
      if (auto it = body.find("retry_after_ms"); it != body.end() && it->is_number_integer()) {
        error.retry_after_ms = std::max<int64_t>(0, it->get<int64_t>());
      }
    }
    if (error.message.empty()) {
      error.message = res->reason.empty() ? "HTTP " + std::to_string(status) : res->reason;
    }

    const bool rate_limited = status == 429 || error.code == "M_LIMIT_EXCEEDED";
    const bool server_error = status >= 500 && status != 501;
    if (!rate_limited && !server_error) return error;

    std::chrono::milliseconds wait{0};
    if (rate_limited) {
      // The spec (v1.10) prefers the header over the deprecated body field.
      if (auto header = parse_retry_after_header(res->get_header_value("Retry-After"))) {
        error.retry_after_ms = *header;
      }
      if (error.retry_after_ms >= 0) {
        if (error.retry_after_ms > options_.max_retry_after.count()) return error;
        wait = std::chrono::milliseconds(error.retry_after_ms);
      } else {
        wait = backoff(attempt);
      }
    } else {
      wait = backoff(attempt);
    }
    if (attempt >= max_attempts) return error;
    sleep(wait);
  }
}

HomeserverClient::HomeserverClient(ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HomeserverClient::~HomeserverClient() = default;

void HomeserverClient::set_sleep_for_testing(std::function<void(std::chrono::milliseconds)> sleep) {
  std::lock_guard lock(impl_->sleep_mutex_);
  impl_->sleep_ = std::move(sleep);
}

Result<nlohmann::json> HomeserverClient::call(const HttpRequest& request) {
  auto answer = impl_->perform(request);
  if (!answer) return answer.error();
  return std::move(answer->body);
}

std::string HomeserverClient::encode_segment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (char ch : segment) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
  return out;
}

namespace {

// Aggregate initialisation of HttpRequest would leave members unnamed, which
// -Wmissing-field-initializers flags even for designated initialisers.
HttpRequest make_request(std::string method, std::string path,
                         std::optional<json> body = std::nullopt, std::string as_user = {}) {
  HttpRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.body = std::move(body);
  request.as_user = std::move(as_user);
  return request;
}

// Strict extraction from a 2xx answer: a missing or mistyped field is a bad response,
// never an empty value.
Result<std::string> string_field(const Result<Answer>& answer, const char* field,
                                 std::string_view what) {
  if (!answer) return answer.error();
  const json& body = answer->body;
  if (body.is_object()) {
    if (auto it = body.find(field); it != body.end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  return bad_response(std::string(what) + " answer lacks string '" + field + "'", answer->status);
}

Result<void> no_value(const Result<Answer>& answer) {
  if (!answer) return answer.error();
  return {};
}

HttpRequest membership_change(const std::string& room_id, std::string_view action,
                              const std::string& user_id, const std::string& reason) {
  json body = reason_body(reason);
  body["user_id"] = user_id;
  return make_request("POST", room_path(room_id) + "/" + std::string(action), std::move(body));
}

}  // namespace

Result<std::string> HomeserverClient::whoami(const std::string& as_user) {
  return string_field(impl_->perform(make_request("GET", std::string(kClientV3) + "/account/whoami",
                                                  std::nullopt, as_user)),
                      "user_id", "whoami");
}

Result<void> HomeserverClient::register_appservice_user(const std::string& localpart) {
  auto answer = impl_->perform(make_request("POST", std::string(kClientV3) + "/register",
                                            json{{"type", "m.login.application_service"},
                                                 {"username", localpart},
                                                 {"inhibit_login", true}}));
  if (!answer && answer.error().code == "M_USER_IN_USE") return {};
  return no_value(answer);
}

Result<int64_t> HomeserverClient::ping_appservice(const std::string& appservice_id,
                                                  const std::string& transaction_id) {
  json body = json::object();
  if (!transaction_id.empty()) body["transaction_id"] = transaction_id;
  auto answer = impl_->perform(make_request(
      "POST", "/_matrix/client/v1/appservice/" + encode_segment(appservice_id) + "/ping",
      std::move(body)));
  if (!answer) return answer.error();
  if (answer->body.is_object()) {
    if (auto it = answer->body.find("duration_ms");
        it != answer->body.end() && it->is_number_integer()) {
      return it->get<int64_t>();
    }
  }
  return bad_response("appservice ping answer lacks integer 'duration_ms'", answer->status);
}

Result<std::string> HomeserverClient::server_software() {
  auto answer = impl_->perform(make_request("GET", "/_matrix/federation/v1/version"));
  if (!answer) return answer.error();
  const json& body = answer->body;
  if (body.is_object()) {
    if (auto server = body.find("server"); server != body.end() && server->is_object()) {
      auto name = server->find("name"), version = server->find("version");
      if (name != server->end() && name->is_string() && version != server->end() &&
          version->is_string()) {
        return name->get<std::string>() + " " + version->get<std::string>();
      }
    }
  }
  return bad_response("federation version answer lacks server.name and server.version",
                      answer->status);
}

Result<std::string> HomeserverClient::join(const std::string& room_id_or_alias,
                                           const std::vector<std::string>& via,
                                           const std::string& reason, const std::string& as_user) {
  auto request =
      make_request("POST", std::string(kClientV3) + "/join/" + encode_segment(room_id_or_alias),
                   reason_body(reason), as_user);
  for (const auto& server : via) request.query.emplace_back("via", server);
  return string_field(impl_->perform(request), "room_id", "join");
}

Result<void> HomeserverClient::leave(const std::string& room_id, const std::string& reason,
                                     const std::string& as_user) {
  return no_value(impl_->perform(
      make_request("POST", room_path(room_id) + "/leave", reason_body(reason), as_user)));
}

Result<ResolvedAlias> HomeserverClient::resolve_alias(const std::string& alias) {
  auto answer = impl_->perform(
      make_request("GET", std::string(kClientV3) + "/directory/room/" + encode_segment(alias)));
  auto room_id = string_field(answer, "room_id", "directory");
  if (!room_id) return room_id.error();
  ResolvedAlias out{std::move(*room_id), {}};
  // `servers` is required by the spec; its absence loses nothing (the room ID is what
  // matters) so it reads as no servers, but a malformed value is a bad response.
  if (auto it = answer->body.find("servers"); it != answer->body.end()) {
    if (!it->is_array()) return bad_response("directory 'servers' is not an array", answer->status);
    for (const auto& server : *it) {
      if (!server.is_string()) {
        return bad_response("directory 'servers' holds a non-string", answer->status);
      }
      out.servers.push_back(server.get<std::string>());
    }
  }
  return out;
}

Result<std::string> HomeserverClient::create_room(const nlohmann::json& body,
                                                  const std::string& as_user) {
  return string_field(
      impl_->perform(make_request("POST", std::string(kClientV3) + "/createRoom", body, as_user)),
      "room_id", "createRoom");
}

Result<void> HomeserverClient::invite(const std::string& room_id, const std::string& user_id,
                                      const std::string& as_user) {
  return no_value(impl_->perform(
      make_request("POST", room_path(room_id) + "/invite", json{{"user_id", user_id}}, as_user)));
}

Result<nlohmann::json> HomeserverClient::room_state(const std::string& room_id) {
  auto answer = impl_->perform(make_request("GET", room_path(room_id) + "/state"));
  if (!answer) return answer.error();
  if (!answer->body.is_array()) return bad_response(kStateNotArray, answer->status);
  return std::move(answer->body);
}

Result<HomeserverClient::StateText> HomeserverClient::room_state_text(const std::string& room_id) {
  auto answer = impl_->perform(make_request("GET", room_path(room_id) + "/state"), /*parse=*/false);
  if (!answer) return answer.error();
  // room_state reads an empty body as an empty object.
  if (answer->text.empty()) return bad_response(kStateNotArray, answer->status);
  return StateText{answer->status, std::move(answer->text)};
}

Error HomeserverClient::room_state_error(const std::string& room_id, const StateText& answer,
                                         bool not_array) {
  if (not_array) return bad_response(kStateNotArray, answer.status);
  return bad_response(invalid_json_message(answer.status, "GET", room_path(room_id) + "/state"),
                      answer.status);
}

Result<nlohmann::json> HomeserverClient::state_event(const std::string& room_id,
                                                     const std::string& type,
                                                     const std::string& state_key) {
  // An empty state key keeps its segment: the path ends in "/".
  auto answer =
      impl_->perform(make_request("GET", room_path(room_id) + "/state/" + encode_segment(type) +
                                             "/" + encode_segment(state_key)));
  if (!answer) return answer.error();
  if (!answer->body.is_object()) {
    return bad_response("state event content is not an object", answer->status);
  }
  return std::move(answer->body);
}

Result<nlohmann::json> HomeserverClient::joined_members(const std::string& room_id) {
  auto answer = impl_->perform(make_request("GET", room_path(room_id) + "/joined_members"));
  if (!answer) return answer.error();
  const json& body = answer->body;
  if (!body.is_object() || !body.contains("joined") || !body["joined"].is_object()) {
    return bad_response("joined_members answer lacks object 'joined'", answer->status);
  }
  return std::move(answer->body);
}

Result<nlohmann::json> HomeserverClient::members(const std::string& room_id,
                                                 const std::string& membership) {
  auto request = make_request("GET", room_path(room_id) + "/members");
  if (!membership.empty()) request.query.emplace_back("membership", membership);
  auto answer = impl_->perform(request);
  if (!answer) return answer.error();
  json& body = answer->body;
  if (!body.is_object() || !body.contains("chunk") || !body["chunk"].is_array()) {
    return bad_response("members answer lacks array 'chunk'", answer->status);
  }
  return std::move(body["chunk"]);
}

Result<nlohmann::json> HomeserverClient::messages(const std::string& room_id,
                                                  const std::string& dir, const std::string& from,
                                                  int limit,
                                                  const std::optional<nlohmann::json>& filter) {
  auto request = make_request("GET", room_path(room_id) + "/messages");
  request.query.emplace_back("dir", dir);
  if (!from.empty()) request.query.emplace_back("from", from);
  request.query.emplace_back("limit", std::to_string(limit));
  if (filter) request.query.emplace_back("filter", filter->dump());
  auto answer = impl_->perform(request);
  if (!answer) return answer.error();
  const json& body = answer->body;
  if (!body.is_object() || !body.contains("chunk") || !body["chunk"].is_array()) {
    return bad_response("messages answer lacks array 'chunk'", answer->status);
  }
  return std::move(answer->body);
}

Result<std::string> HomeserverClient::send_event(const std::string& room_id,
                                                 const std::string& type,
                                                 const nlohmann::json& content,
                                                 const std::string& txn_id,
                                                 const std::string& as_user) {
  return string_field(
      impl_->perform(make_request(
          "PUT",
          room_path(room_id) + "/send/" + encode_segment(type) + "/" + encode_segment(txn_id),
          content, as_user)),
      "event_id", "send");
}

Result<std::string> HomeserverClient::send_state(const std::string& room_id,
                                                 const std::string& type,
                                                 const std::string& state_key,
                                                 const nlohmann::json& content,
                                                 const std::string& as_user) {
  return string_field(
      impl_->perform(make_request(
          "PUT",
          room_path(room_id) + "/state/" + encode_segment(type) + "/" + encode_segment(state_key),
          content, as_user)),
      "event_id", "state");
}

Result<std::string> HomeserverClient::redact(const std::string& room_id,
                                             const std::string& event_id, const std::string& txn_id,
                                             const std::string& reason,
                                             const std::string& as_user) {
  return string_field(
      impl_->perform(make_request(
          "PUT",
          room_path(room_id) + "/redact/" + encode_segment(event_id) + "/" + encode_segment(txn_id),
          reason_body(reason), as_user)),
      "event_id", "redact");
}

Result<void> HomeserverClient::kick(const std::string& room_id, const std::string& user_id,
                                    const std::string& reason) {
  return no_value(impl_->perform(membership_change(room_id, "kick", user_id, reason)));
}

Result<void> HomeserverClient::ban(const std::string& room_id, const std::string& user_id,
                                   const std::string& reason) {
  return no_value(impl_->perform(membership_change(room_id, "ban", user_id, reason)));
}

Result<void> HomeserverClient::unban(const std::string& room_id, const std::string& user_id,
                                     const std::string& reason) {
  return no_value(impl_->perform(membership_change(room_id, "unban", user_id, reason)));
}

}  // namespace tyr::engine
