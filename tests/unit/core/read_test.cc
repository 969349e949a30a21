// Linearizable reads: ReadIndex, lease reads and follower reads.
#include "driver.h"

using namespace coraft;
using namespace coraft::test;
using core::role;

namespace {

protocol_options lease_options() {
  auto options = test_options();
  options.check_quorum = true;
  return options;
}

// Settles the cluster and returns the read outcomes node `id` produced.
read_outcomes drain_reads(cluster& c, std::uint64_t id) {
  c.settle();
  return c.take_reads(id);
}

}  // namespace

TEST_CASE("a read index is the commit index, confirmed by one heartbeat round") {
  cluster c({1, 2, 3});
  c.elect(1);
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  std::size_t heartbeats = 0;
  c.count<heartbeat_request>(heartbeats);
  c[1].apply_input([](core::node& n) { n.read_index(7, read_mode::read_index); });
  auto outcomes = drain_reads(c, 1);
  REQUIRE(outcomes.ready.size() == 1);
  CHECK(outcomes.ready[0].id == 7);
  CHECK(outcomes.ready[0].index == c[1]->commit_index());
  CHECK(heartbeats == 2);  // one round to the two followers, sent at once
}

TEST_CASE("reads arriving together share one heartbeat round") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.settle();
  std::size_t heartbeats = 0;
  c.count<heartbeat_request>(heartbeats);
  for (std::uint64_t id = 1; id <= 50; ++id)
    c[1].apply_input([id](core::node& n) { n.read_index(id, read_mode::read_index); });
  auto outcomes = drain_reads(c, 1);
  CHECK(outcomes.ready.size() == 50);
  CHECK(heartbeats == 2);
}

TEST_CASE("a leader that cannot reach a quorum never confirms a read") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.settle();
  c.cut(1);
  c[1].apply_input([](core::node& n) { n.read_index(1, read_mode::read_index); });
  auto outcomes = drain_reads(c, 1);
  CHECK(outcomes.ready.empty());
  // Another leader takes over; the old one learns of it and fails the read.
  c.elect(2);
  c.heal();
  c.tick(2, 2);
  outcomes = drain_reads(c, 1);
  c.settle();
  CHECK(outcomes.ready.empty());
  REQUIRE(outcomes.failed.size() == 1);
  CHECK(outcomes.failed[0].error == errc::not_leader);
}

TEST_CASE("a new leader defers reads until its no-op commits") {
  cluster c({1, 2, 3});
  c.elect(1);
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  // Node 2 wins term 2, but nothing else gets through: its no-op stays uncommitted.
  c.filter = [](node_id, const message& m) {
    return std::holds_alternative<vote_request>(m.body) || std::holds_alternative<vote_response>(m.body);
  };
  while (c[2]->current_role() != role::candidate) c.tick(2);
  c.settle();
  REQUIRE(c[2]->current_role() == role::leader);
  REQUIRE(c[2]->log().term_at(c[2]->commit_index()) != c[2]->term());
  c[2].apply_input([](core::node& n) { n.read_index(5, read_mode::read_index); });
  auto outcomes = drain_reads(c, 2);
  CHECK(outcomes.ready.empty());
  c.filter = nullptr;
  c.tick(2, 2);
  outcomes = drain_reads(c, 2);
  REQUIRE(outcomes.ready.size() == 1);
  CHECK(c[2]->log().term_at(outcomes.ready[0].index) == c[2]->term());
}

TEST_CASE("a lease read is served without a round while the lease holds") {
  cluster c({1, 2, 3}, lease_options());
  c.elect(1);
  c.tick(1, 2);  // one heartbeat round answered by a quorum grants the lease
  c.settle();
  std::size_t heartbeats = 0;
  c.count<heartbeat_request>(heartbeats);
  c[1].apply_input([](core::node& n) { n.read_index(3, read_mode::lease); });
  auto outcomes = drain_reads(c, 1);
  REQUIRE(outcomes.ready.size() == 1);
  CHECK(heartbeats == 0);
}

TEST_CASE("a lease read falls back to a heartbeat round once the lease expires") {
  cluster c({1, 2, 3}, lease_options());
  c.elect(1);
  c.tick(1, 2);
  c.settle();
  c.cut(2);
  c.cut(3);
  c.tick(1, 9);  // lease: 10 - 2 ticks from the last answered round
  c.settle();
  c[1].apply_input([](core::node& n) { n.read_index(4, read_mode::lease); });
  auto outcomes = drain_reads(c, 1);
  CHECK(outcomes.ready.empty());  // needs a round, and nobody answers
  c.heal();
  c.tick(1, 2);
  outcomes = drain_reads(c, 1);
  CHECK(outcomes.ready.size() == 1);
}

TEST_CASE("a follower read asks the leader for its read index") {
  cluster c({1, 2, 3});
  c.elect(1);
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  c[2].apply_input([](core::node& n) { n.read_index(11, read_mode::follower); });
  auto outcomes = drain_reads(c, 2);
  REQUIRE(outcomes.ready.size() == 1);
  CHECK(outcomes.ready[0].id == 11);
  CHECK(outcomes.ready[0].index == c[1]->commit_index());
}

TEST_CASE("a follower read needs no announcement of the commit: the round confirming it carries the commit index") {
  cluster c({1, 2, 3}, announcing_commit_on_heartbeats());
  c.elect(1);
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  REQUIRE(c[2]->commit_index() < c[1]->commit_index());
  c[2].apply_input([](core::node& n) { n.read_index(12, read_mode::follower); });
  auto outcomes = drain_reads(c, 2);
  REQUIRE(outcomes.ready.size() == 1);
  CHECK(outcomes.ready[0].index == c[1]->commit_index());
  CHECK(c[2]->commit_index() >= outcomes.ready[0].index);
  CHECK(c.applied(2) == c.applied(1));
}

TEST_CASE("a follower read fails when the follower knows no leader, or its leader changes") {
  cluster c({1, 2, 3});
  c[2].apply_input([](core::node& n) { n.read_index(1, read_mode::follower); });
  auto no_leader = drain_reads(c, 2);
  REQUIRE(no_leader.failed.size() == 1);
  c.elect(1);
  c.cut(1);
  c[2].apply_input([](core::node& n) { n.read_index(2, read_mode::follower); });
  drain_reads(c, 2);
  c.elect(3);
  auto changed = drain_reads(c, 2);
  REQUIRE(changed.failed.size() == 1);
  CHECK(changed.failed[0].id == 2);
}

TEST_CASE("a read on a node that leads nothing fails with not_leader and a hint") {
  cluster c({1, 2, 3});
  c.elect(3);
  c[1].apply_input([](core::node& n) { n.read_index(9, read_mode::read_index); });
  auto outcomes = drain_reads(c, 1);
  REQUIRE(outcomes.failed.size() == 1);
  CHECK(outcomes.failed[0].error == errc::not_leader);
  CHECK(outcomes.failed[0].leader_hint == node_id(3));
}

namespace {

// Node 1 leads and holds a lease; it is then cut off, and nodes 2 and 3 tick
// `follower_ticks` times for every `leader_ticks` of node 1 until one of them
// leads and commits a new entry. Returns the outcome of a lease read on node 1
// and node 2's commit index.
std::pair<read_outcomes, index_t> lease_read_after_takeover(int follower_ticks, int leader_ticks) {
  cluster c({1, 2, 3}, lease_options());
  c.elect(1);
  c.tick(1, 2);
  c.settle();
  c.cut(1);
  for (int round = 0; round < 200 && c[2]->current_role() != role::leader; ++round) {
    c.tick(2, follower_ticks);
    c.tick(3, follower_ticks);
    c.tick(1, leader_ticks);
    c.settle();
  }
  REQUIRE(c[2]->current_role() == role::leader);
  REQUIRE_FALSE(c[2].propose("written by the new leader").error);
  c.settle();
  c[1].apply_input([](core::node& n) { n.read_index(1, read_mode::lease); });
  return {drain_reads(c, 1), c[2]->commit_index()};
}

}  // namespace

TEST_CASE("within the drift bound a deposed leader's lease runs out before another leader is elected") {
  // The followers' clocks run 5/4 as fast as the leader's, within the bound of
  // 2 ticks in 10: the lease lasts 8 of the leader's ticks, which is no longer
  // than the 10 follower ticks any election waits for.
  auto [outcomes, new_commit] = lease_read_after_takeover(5, 4);
  CHECK(outcomes.ready.empty());
}

TEST_CASE("beyond the drift bound a deposed leader can serve a stale lease read") {
  // The followers' clocks run 10 times as fast as the leader's: a new leader is
  // elected and commits while the old one still trusts its lease. This is why
  // max_clock_drift_ticks must bound the real drift.
  auto [outcomes, new_commit] = lease_read_after_takeover(10, 1);
  REQUIRE(outcomes.ready.size() == 1);
  CHECK(outcomes.ready[0].index < new_commit);
}
