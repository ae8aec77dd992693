// Policy-server sign latency and throughput: real PDUs (content hash, origin signature), real
// X-Matrix headers, the real listener on loopback, the calling server's keys from a local key
// answer. The judge is the default rules pack's scorer when TYR_RULES_DIR is given, otherwise a
// backend that allows everything (the cost of Tyr's own work around the decision).
//
//   tyr_policy_server_bench [requests=4000] [rate_per_s=200]
//
// Prints p50/p90/p99/max of the answer time seen by the client at the given rate, the
// server-side time (handle(), without the socket), and the throughput of back-to-back requests.

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "engine/core/clock.hpp"
#include "engine/federation/base64.hpp"
#include "engine/federation/event_crypto.hpp"
#include "engine/federation/room_version.hpp"
#include "engine/federation/x_matrix.hpp"
#include "engine/policyserver/policy_server.hpp"

using namespace tyr;
using namespace tyr::engine;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kRoom[] = "!bench:tyr.test";
constexpr char kUs[] = "tyr.test";
constexpr char kOrigin[] = "remote.test";

struct AllowAll : policyserver::Backend {
  bool policy_ready() const override { return true; }
  bool protects_room(const std::string& room) const override { return room == kRoom; }
  Result<std::string> room_version(const std::string&) override { return std::string("10"); }
  policyserver::Judgement judge_event(const nlohmann::json& event, const std::string&,
                                      std::chrono::milliseconds) override {
    // A stand-in for the scorer: refuse one phrase.
    const auto& body = event["content"].value("body", "");
    if (body.find("cheap pills") != std::string::npos) return {true, false, "spam"};
    return {};
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 4000;
  const int rate = argc > 2 ? std::atoi(argv[2]) : 200;
  const auto origin_key = federation::SigningKey::from_seed(std::string(32, 'o'), "k1").value();
  nlohmann::json keys = {
      {"server_name", kOrigin},
      {"valid_until_ts", now_ms() + 3'600'000},
      {"verify_keys",
       {{origin_key.key_id(), {{"key", federation::base64_encode(origin_key.public_key())}}}}}};
  const std::string key_answer = federation::sign_json(keys, kOrigin, origin_key).value().dump();
  policyserver::ServerKeyCache cache(
      policyserver::KeyFetchOptions{},
      [&](const std::string&, size_t) -> Result<std::string> { return key_answer; });
  PolicyServerConfig cfg;
  cfg.enabled = true;
  cfg.server_name = kUs;
  cfg.port = 0;
  AllowAll backend;
  policyserver::Server server(cfg, federation::SigningKey::generate("policy_server").value(),
                              backend, cache);
  if (!server.start()) return 1;

  // The requests, made in advance: each a distinct event (no remembered verdicts).
  const auto* rv = federation::find_room_version("10");
  std::vector<std::pair<std::string, std::string>> requests;  // body, authorization
  for (int i = 0; i < n; ++i) {
    nlohmann::json p = {
        {"room_id", kRoom},
        {"sender", "@user" + std::to_string(i % 50) + ":remote.test"},
        {"type", "m.room.message"},
        {"content",
         {{"msgtype", "m.text"},
          {"body", i % 10 == 0 ? "cheap pills " + std::to_string(i)
                               : "an ordinary line of chat, number " + std::to_string(i)}}},
        {"origin_server_ts", 1'700'000'000'000 + i},
        {"depth", 100 + i},
        {"prev_events", {"$prev" + std::to_string(i)}},
        {"auth_events", {"$create", "$power", "$member"}}};
    p["hashes"] = {{"sha256", federation::base64_encode(federation::content_hash(p).value())}};
    p["signatures"] = {
        {kOrigin,
         {{origin_key.key_id(), federation::sign_event(p, *rv, kOrigin, origin_key).value()}}}};
    requests.emplace_back(p.dump(), federation::x_matrix_header("POST", policyserver::kSignPath,
                                                                kOrigin, kUs, p, origin_key)
                                        .value());
  }

  // Server-side: handle() alone.
  std::vector<double> inside;
  for (int i = 0; i < std::min(n, 2000); ++i) {
    const auto t0 = Clock::now();
    auto r = server.handle("POST", policyserver::kSignPath, requests[i].second, requests[i].first);
    inside.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (r.status != 200 && r.status != 400) {
      std::fprintf(stderr, "unexpected %d %s\n", r.status, r.body.c_str());
      return 1;
    }
  }

  // Over HTTP at `rate` requests per second (events not yet remembered: a second server).
  policyserver::Server paced(cfg, federation::SigningKey::generate("policy_server").value(),
                             backend, cache);
  if (!paced.start()) return 1;
  httplib::Client client("127.0.0.1", paced.port());
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  std::vector<double> seen;
  const auto interval = std::chrono::microseconds(1'000'000 / std::max(1, rate));
  auto next = Clock::now();
  for (const auto& [body, auth] : requests) {
    std::this_thread::sleep_until(next);
    next += interval;
    const auto t0 = Clock::now();
    auto r = client.Post(std::string(policyserver::kSignPath), {{"Authorization", auth}}, body,
                         "application/json");
    seen.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r || (r->status != 200 && r->status != 400)) {
      std::fprintf(stderr, "request failed\n");
      return 1;
    }
  }

  // Back to back, one connection: throughput.
  policyserver::Server flat(cfg, federation::SigningKey::generate("policy_server").value(), backend,
                            cache);
  if (!flat.start()) return 1;
  httplib::Client fast("127.0.0.1", flat.port());
  fast.set_keep_alive(true);
  fast.set_tcp_nodelay(true);
  const auto t0 = Clock::now();
  for (const auto& [body, auth] : requests) {
    auto r = fast.Post(std::string(policyserver::kSignPath), {{"Authorization", auth}}, body,
                       "application/json");
    if (!r) return 1;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  std::printf("policy server, %d distinct events (10%% refused)\n", n);
  std::printf("  handle() alone:        p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
              percentile(inside, 0.5), percentile(inside, 0.99), percentile(inside, 1.0));
  std::printf("  HTTP at %d req/s:      p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", rate,
              percentile(seen, 0.5), percentile(seen, 0.9), percentile(seen, 0.99),
              percentile(seen, 1.0));
  std::printf("  HTTP back to back:     %.0f requests/s (one connection)\n",
              static_cast<double>(n) / secs);
  server.stop();
  paced.stop();
  flat.stop();
  return 0;
}
