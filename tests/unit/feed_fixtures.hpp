#pragma once
// A feed's settings as the feed tests start from: named "test", on an unreachable loopback URL.

#include "engine/policy/feed.hpp"

namespace tyr::test {

using nlohmann::json;
using tyr::entity_problem;
using tyr::policy::EntityKind;
using tyr::policy::FeedConfig;
using tyr::policy::FeedParse;
using tyr::policy::FeedPoller;
using tyr::policy::FeedState;
using tyr::policy::FetchLimits;
using tyr::policy::PolicyRule;
using tyr::policy::Recommendation;

inline tyr::policy::FeedConfig feed_config(tyr::policy::FeedConfig::Format format,
                                           tyr::EntityKind kind = tyr::EntityKind::kServer) {
  tyr::policy::FeedConfig feed;
  feed.name = "test";
  feed.url = "http://127.0.0.1:1/list";
  feed.format = format;
  feed.kind = kind;
  feed.reason = "listed in feed test";
  return feed;
}

}  // namespace tyr::test
