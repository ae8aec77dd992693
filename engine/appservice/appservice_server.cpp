#include "engine/appservice/appservice_server.hpp"

#include <charconv>

#include "engine/metrics/tyr_metrics.hpp"

#include <nlohmann/json.hpp>

#include "engine/core/clock.hpp"
#include "engine/core/ids.hpp"
#include "engine/core/log.hpp"
#include "engine/core/text.hpp"
#include "engine/core/token.hpp"
#include "engine/http/server.hpp"

namespace tyr::engine {

namespace {

constexpr std::string_view kPrefix = "/_matrix/app/v1/";

AppserviceResponse matrix_error(int status, std::string_view errcode, std::string_view error) {
  nlohmann::json body = {{"errcode", errcode}, {"error", error}};
  return {status, body.dump()};
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Iterative on purpose: it guards the recursive code that would overflow on such input.
bool nested_deeper_than(const nlohmann::json& value, size_t limit) {
  std::vector<std::pair<const nlohmann::json*, size_t>> stack{{&value, 1}};
  while (!stack.empty()) {
    const auto [v, depth] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    if (depth > limit) return true;
    for (const auto& child : *v) stack.emplace_back(&child, depth + 1);
  }
  return false;
}

}  // namespace

AppserviceServer::AppserviceServer(const Config& config, Store& store, Hooks hooks)
    : config_(config), store_(store), hooks_(std::move(hooks)) {}

AppserviceServer::~AppserviceServer() { stop(); }

AppserviceResponse AppserviceServer::check_auth(const AppserviceRequest& request) const {
  std::optional<std::string_view> header_token;
  if (!request.authorization.empty()) {
    std::string_view h = request.authorization;
    if (h.size() > 7 && (starts_with(h, "Bearer ") || starts_with(h, "bearer "))) {
      header_token = h.substr(7);
    } else {
      return matrix_error(401, "M_MISSING_TOKEN", "Authorization header is not a Bearer token");
    }
  }
  std::optional<std::string_view> query_token;
  if (auto it = request.query.find("access_token"); it != request.query.end()) {
    query_token = it->second;
  }
  if (!header_token && !query_token) {
    return matrix_error(401, "M_MISSING_TOKEN", "Missing hs_token");
  }
  const std::string& expected = config_.appservice.hs_token;
  // When both are present, both must match.
  if ((header_token && !secure_equals(*header_token, expected)) ||
      (query_token && !secure_equals(*query_token, expected))) {
    return matrix_error(403, "M_FORBIDDEN", "Invalid hs_token");
  }
  return {0, {}};
}

bool AppserviceServer::is_own_user(std::string_view user_id) const {
  if (!is_user_id(user_id)) return false;
  if (user_id == config_.bot_user_id()) return true;
  if (server_of(user_id) != config_.homeserver.server_name) return false;
  std::string_view local = user_id.substr(1, user_id.find(':') - 1);
  const std::string& prefix = config_.appservice.user_prefix;
  return !prefix.empty() && local.size() > prefix.size() && starts_with(local, prefix);
}

std::optional<AppserviceResponse> AppserviceServer::refuse_unauthorised(
    const AppserviceRequest& request) {
  auto denied = check_auth(request);
  if (denied.status == 0) return std::nullopt;
  ++stats_.auth_failures;
  metrics::tyr_metrics().appservice_auth_failures.inc();
  // The method and path are the client's: escaped, so that they cannot forge log lines.
  log::warn("appservice", escape_untrusted(request.method, 16) + " " +
                              escape_untrusted(request.path, 200) + " refused: " + denied.body);
  return denied;
}

AppserviceResponse AppserviceServer::handle(const AppserviceRequest& request) {
  if (auto denied = refuse_unauthorised(request)) return *denied;
  std::string_view path = request.path;
  if (!starts_with(path, kPrefix)) {
    return matrix_error(404, "M_UNRECOGNIZED", "Unrecognized request");
  }
  std::string_view rest = path.substr(kPrefix.size());
  auto segment_after = [&](std::string_view name) -> std::optional<std::string_view> {
    if (!starts_with(rest, name)) return std::nullopt;
    std::string_view arg = rest.substr(name.size());
    if (arg.empty() || arg.find('/') != std::string_view::npos) return std::nullopt;
    return arg;
  };
  auto method_is = [&](std::string_view m) { return request.method == m; };
  auto wrong_method = [] { return matrix_error(405, "M_UNRECOGNIZED", "Method not allowed"); };

  if (auto txn = segment_after("transactions/")) {
    if (!method_is("PUT")) return wrong_method();
    return handle_transaction(std::string(*txn), request.body);
  }
  if (rest == "ping") {
    if (!method_is("POST")) return wrong_method();
    ++stats_.pings;
    auto body = nlohmann::json::parse(request.body.empty() ? "{}" : request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return matrix_error(400, "M_NOT_JSON", "Request body is not a JSON object");
    }
    return {200, "{}"};
  }
  if (auto user = segment_after("users/")) {
    if (!method_is("GET")) return wrong_method();
    if (is_own_user(*user) && hooks_.provision_user && hooks_.provision_user(std::string(*user))) {
      return {200, "{}"};
    }
    return matrix_error(404, "M_NOT_FOUND", "No such user in Tyr's namespace");
  }
  if (auto alias = segment_after("rooms/")) {
    if (!method_is("GET")) return wrong_method();
    // Tyr declares no alias namespace: no alias is ever Tyr's to create.
    return matrix_error(404, "M_NOT_FOUND", "No such room alias");
  }
  return matrix_error(404, "M_UNRECOGNIZED", "Unrecognized request");
}

Result<TransactionBody> parse_transaction_body(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error{"M_NOT_JSON", "Transaction body is not a JSON object", 400, -1};
  }
  auto events_it = doc.find("events");
  if (events_it == doc.end()) {
    return Error{"M_BAD_JSON", "Transaction has no 'events' array", 400, -1};
  }
  if (!events_it->is_array()) {
    return Error{"M_BAD_JSON", "Transaction field 'events' is not an array", 400, -1};
  }
  TransactionBody out;
  out.event_ids.reserve(events_it->size());
  out.event_json.reserve(events_it->size());
  for (const auto& ev : *events_it) {
    auto id = ev.is_object() ? ev.find("event_id") : ev.end();
    std::string problem;
    if (!ev.is_object() || id == ev.end() || !id->is_string() ||
        id->get_ref<const std::string&>().empty()) {
      problem = "is not an event with an event_id";
    } else if (nested_deeper_than(ev, kMaxEventDepth)) {
      problem = "nests deeper than " + std::to_string(kMaxEventDepth) + " levels";
    }
    if (!problem.empty()) {
      out.skipped.emplace_back(out.event_ids.size(), std::move(problem));
      out.event_ids.emplace_back();
      out.event_json.emplace_back();
    } else {
      out.event_ids.push_back(id->get<std::string>());
      out.event_json.push_back(ev.dump());
    }
  }
  return out;
}

bool AppserviceServer::note_txn_number(const std::string& txn_id, bool retried) {
  // Synapse numbers each appservice's transactions 1, 2, 3, … and sends them in order: a jump
  // means a transaction it never sent (or not yet), and Tyr then reads the rooms' recent
  // history. Other servers number them otherwise (Dendrite: a nanosecond timestamp), so a jump
  // counts only once the numbering has shown itself sequential (two consecutive numbers) and
  // never once it has shown a timestamp; until then txnIds are opaque.
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(txn_id.data(), txn_id.data() + txn_id.size(), n);
  if (ec != std::errc() || end != txn_id.data() + txn_id.size()) return retried;
  const int64_t now = now_ms();
  int64_t gap_since = 0;
  bool resent = retried;
  bool became_opaque = false;
  {
    std::lock_guard lock(txn_mu_);
    if (n >= kTimestampLikeTxn && numbering_ != Numbering::kOpaque) {
      numbering_ = Numbering::kOpaque;
      became_opaque = true;
    }
    // Below the last number: sent late (Synapse's queue can send the next transaction before
    // its recoverer resends a failed one) or numbered anew after Synapse's restart.
    if (n < last_txn_num_) resent = true;
    if (n > last_txn_num_) {
      if (numbering_ == Numbering::kUnknown && last_txn_num_ != 0 && n == last_txn_num_ + 1)
        numbering_ = Numbering::kSequential;
      if (numbering_ == Numbering::kSequential && last_txn_num_ != 0 && n > last_txn_num_ + 1)
        gap_since = last_txn_ms_;
      last_txn_num_ = n;
      last_txn_ms_ = now;
    } else if (n < last_txn_num_ && !retried) {
      // A lower, new number: the homeserver started its numbering over (or sent a late one).
      last_txn_num_ = n;
      last_txn_ms_ = now;
    }
  }
  if (became_opaque) {
    log::info("appservice", "transaction IDs are timestamps (" + txn_id +
                                "), not a sequence: gaps are not read from them; the periodic "
                                "catch-up covers what the homeserver did not send");
  }
  if (gap_since != 0) {
    metrics::tyr_metrics().transaction_gaps.inc();
    log::warn("appservice",
              "transaction " + txn_id + " skipped " + std::to_string(n - 1) +
                  " or earlier numbers; reading recent room history for missed events");
    if (hooks_.on_txn_gap) hooks_.on_txn_gap(gap_since, txn_id);
  }
  return resent;
}

AppserviceResponse AppserviceServer::handle_transaction(const std::string& txn_id,
                                                        const std::string& body) {
  auto parsed = parse_transaction_body(body);
  if (!parsed) {
    const Error& e = parsed.error();
    return matrix_error(e.status, e.code, e.message);
  }
  ++stats_.transactions;
  metrics::tyr_metrics().transactions_received.inc();

  const std::vector<std::string>& ids = parsed->event_ids;
  const std::vector<std::string>& json = parsed->event_json;
  for (const auto& [index, why] : parsed->skipped) {
    // Rejecting the whole transaction would block the homeserver's queue forever.
    log::warn("appservice", "transaction " + txn_id + ": entry " + std::to_string(index) + " " +
                                why + "; skipped");
  }
  std::vector<std::string_view> id_views(ids.begin(), ids.end());
  auto result = store_.accept_transaction(txn_id, id_views, json);
  if (!result) {
    log::error("appservice",
               "transaction " + txn_id + " not stored: " + result.error().to_string());
    return matrix_error(500, "M_UNKNOWN", "Could not store the transaction");
  }
  stats_.events_accepted += result->accepted;
  stats_.events_duplicate += result->duplicates;
  stats_.events_invalid += result->invalid;
  if (result->retried_txn) ++stats_.transactions_retried;
  auto& m = metrics::tyr_metrics();
  if (result->retried_txn) m.transactions_deduplicated.inc();
  m.events_deduplicated.add(result->duplicates);
  m.events_invalid.add(result->invalid);
  if (log::enabled(log::Level::kDebug)) {
    std::string line = "transaction " + txn_id + ": " + std::to_string(result->accepted) +
                       " new, " + std::to_string(result->duplicates) + " duplicate";
    if (!result->duplicate_ids.empty() && !result->retried_txn) {
      // Events already handled: a replay, or read back from history (catch_up.cpp) first.
      line += " (already handled:";
      for (auto id : result->duplicate_ids) line += " " + std::string(id);
      line += ")";
    }
    log::debug("appservice", line);
  }
  if (result->accepted > 0 && hooks_.on_events_accepted) hooks_.on_events_accepted();
  const bool resent = note_txn_number(txn_id, result->retried_txn);
  if (hooks_.on_transaction) hooks_.on_transaction(resent);
  return {200, "{}"};
}

namespace {

AppserviceRequest to_appservice(http::Request& req) {
  AppserviceRequest r;
  r.method = std::move(req.method);
  r.path = std::move(req.path);
  r.authorization = std::move(req.authorization);
  r.query = std::move(req.query);
  r.body = std::move(req.body);
  return r;
}

http::Response to_http(AppserviceResponse out) {
  http::Response r;
  r.status = out.status;
  r.body = std::move(out.body);
  return r;
}

}  // namespace

bool AppserviceServer::start() {
  const auto& as = config_.appservice;
  http::Options o;
  o.name = "appservice";
  o.bind_address = as.bind_address;
  o.port = as.port;
  // A transaction of max_body_bytes from a homeserver on another host may need more than the
  // default 10 s; a client that trickles still costs only a socket and is shed first.
  o.limits.request_deadline = std::chrono::seconds(30);
  // Transactions are the only large bodies; everything else the homeserver sends is tiny.
  o.body_limit = [max = as.max_body_bytes](std::string_view method, std::string_view) {
    return method == "PUT" ? max : size_t{64 * 1024};
  };
  // The hs_token is checked before the body is read: a client without it costs nothing.
  o.screen = [this](const http::Request& head) -> std::optional<http::Response> {
    AppserviceRequest r;
    r.method = head.method;
    r.path = head.path;
    r.authorization = head.authorization;
    r.query = head.query;
    if (auto denied = refuse_unauthorised(r)) return to_http(std::move(*denied));
    return std::nullopt;
  };
  o.handler = [this](http::Request& req) { return to_http(handle(to_appservice(req))); };
  o.error = [](int status, std::string_view message) {
    const std::string_view code = status == 413 ? "M_TOO_LARGE" : "M_UNKNOWN";
    return to_http(matrix_error(status, code, message));
  };
  http_ = std::make_unique<http::Server>(std::move(o));
  if (!http_->start()) {
    http_.reset();
    return false;
  }
  bound_port_ = http_->port();
  log::info("appservice", "listening on " + as.bind_address + ":" + std::to_string(bound_port_));
  return true;
}

void AppserviceServer::stop() {
  if (http_) http_->stop();
  http_.reset();
}

}  // namespace tyr::engine
