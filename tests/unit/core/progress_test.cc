#include "core/progress.h"

#include <catch2/catch.hpp>

using namespace coraft;

TEST_CASE("a probing follower gets one append at a time") {
  core::progress pr(index_t(10), 4, 1000);
  CHECK_FALSE(pr.paused());
  pr.sent_append(index_t(12), 10);
  CHECK(pr.paused());
  CHECK(pr.next() == index_t(10));
  CHECK(pr.acknowledge(index_t(12)));
  CHECK_FALSE(pr.paused());
}

TEST_CASE("in replicate state next advances optimistically until the window is full") {
  core::progress pr(index_t(1), 3, 1000);
  pr.acknowledge(index_t(5));
  pr.become_replicate();
  CHECK(pr.next() == index_t(6));
  pr.sent_append(index_t(7), 10);
  pr.sent_append(index_t(9), 10);
  CHECK(pr.next() == index_t(10));
  CHECK_FALSE(pr.paused());
  pr.sent_append(index_t(11), 10);
  CHECK(pr.paused());
  pr.acknowledge(index_t(9));
  CHECK(pr.inflight().count() == 1);
  CHECK_FALSE(pr.paused());
}

TEST_CASE("the in-flight window is bounded by bytes as well as messages") {
  core::progress pr(index_t(1), 100, 1000);
  pr.become_replicate();
  pr.sent_append(index_t(1), 600);
  CHECK_FALSE(pr.paused());
  pr.sent_append(index_t(2), 600);
  CHECK(pr.paused());
}

TEST_CASE("a stale rejection is ignored and a fresh one rolls next back") {
  core::progress pr(index_t(1), 8, 1000);
  pr.acknowledge(index_t(5));
  pr.become_replicate();
  pr.sent_append(index_t(8), 10);
  CHECK_FALSE(pr.reject(index_t(4), index_t(1)));
  CHECK(pr.next() == index_t(9));
  CHECK(pr.reject(index_t(6), index_t(2)));
  CHECK(pr.next() == index_t(6));
  pr.become_probe();
  CHECK(pr.next() == index_t(6));
  pr.sent_append(index_t(6), 10);
  CHECK_FALSE(pr.reject(index_t(7), index_t(1)));  // not the probe in flight
  CHECK(pr.reject(index_t(5), index_t(1)));
  CHECK(pr.next() == index_t(6));  // never below match + 1
}

TEST_CASE("a heartbeat answer unblocks a probe and frees a stuck window") {
  core::progress pr(index_t(1), 1, 1000);
  pr.sent_append(index_t(3), 1);
  CHECK(pr.paused());
  pr.heard_heartbeat();
  CHECK_FALSE(pr.paused());
  pr.acknowledge(index_t(1));
  pr.become_replicate();
  pr.sent_append(index_t(3), 1);
  CHECK(pr.paused());
  pr.heard_heartbeat();
  CHECK_FALSE(pr.paused());
}

TEST_CASE("leaving snapshot state resumes after the snapshot") {
  core::progress pr(index_t(1), 8, 1000);
  pr.become_snapshot(index_t(100));
  CHECK(pr.paused());
  pr.become_probe();
  CHECK(pr.next() == index_t(101));
}
