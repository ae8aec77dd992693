// NoticeThrottle: the per-window budget for unsolicited management-room notices.

#include "engine/pipeline/notice_throttle.hpp"

#include <catch2/catch.hpp>

using tyr::engine::NoticeThrottle;

TEST_CASE("notice throttle: posts up to the limit, then counts and summarises once the window ends",
          "[notices]") {
  NoticeThrottle t(3, 60'000);
  const int64_t t0 = 1'000'000;
  CHECK(t.admit("acting", t0));
  CHECK(t.admit("acting", t0 + 1));
  CHECK(t.admit("notify", t0 + 2));
  CHECK_FALSE(t.admit("acting", t0 + 3));
  CHECK_FALSE(t.admit("acting", t0 + 4));
  CHECK_FALSE(t.admit("notify", t0 + 5));
  CHECK(t.suppressed_total() == 3);
  CHECK_FALSE(t.summary(t0 + 30'000).has_value());  // the window is not over yet
  const auto s = t.summary(t0 + 60'000);
  REQUIRE(s.has_value());
  CHECK(*s == "3 more notices in the last 60 s were not posted (2 acting, 1 notify)");
  CHECK_FALSE(t.summary(t0 + 60'001).has_value());  // said once
  // A new window posts again.
  CHECK(t.admit("acting", t0 + 60'000));
}

TEST_CASE("notice throttle: a category's own limit sits below the overall one", "[notices]") {
  NoticeThrottle t(10, 60'000);
  t.set_category_limit("refused", 2);
  CHECK(t.admit("refused", 0 + 100'000));
  CHECK(t.admit("refused", 100'001));
  CHECK_FALSE(t.admit("refused", 100'002));
  CHECK(t.admit("acting", 100'003));  // other categories still have room
  const auto s = t.summary(0, /*force=*/true);
  REQUIRE(s.has_value());
  CHECK(s->find("1 refused") != std::string::npos);
  t.set_category_limit("refused", -1);
  CHECK(t.admit("refused", 100'004));
}

TEST_CASE("notice throttle: a zero budget posts nothing and summarises everything", "[notices]") {
  NoticeThrottle t(0, 1000);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(t.admit("bans", 5000 + i));
  const auto s = t.summary(6000);
  REQUIRE(s.has_value());
  CHECK(s->find("5 more notices") == 0);
  CHECK(s->find("(5 bans)") != std::string::npos);
}
