#pragma once
// A feed's settings as the feed tests start from: named "test", on an unreachable loopback URL.

#include "engine/policy/feed.hpp"

namespace tyr::test {

using nlohmann::json;
using tyr::entity_problem;
using tyr::engine::policy::EntityKind;
using tyr::engine::policy::FeedConfig;
using tyr::engine::policy::FeedParse;
using tyr::engine::policy::FeedPoller;
using tyr::engine::policy::FeedState;
using tyr::engine::policy::FetchLimits;
using tyr::engine::policy::PolicyRule;
using tyr::engine::policy::Recommendation;

inline tyr::engine::policy::FeedConfig feed_config(
    tyr::engine::policy::FeedConfig::Format format,
    tyr::EntityKind kind = tyr::EntityKind::kServer) {
  tyr::engine::policy::FeedConfig feed;
  feed.name = "test";
  feed.url = "http://127.0.0.1:1/list";
  feed.format = format;
  feed.kind = kind;
  feed.reason = "listed in feed test";
  return feed;
}

}  // namespace tyr::test
