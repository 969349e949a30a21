// Snapshots, log compaction, and catching a follower up by snapshot.
#include "driver.h"

using namespace coraft;
using namespace coraft::test;
using core::role;

namespace {

void propose_many(cluster& c, std::uint64_t leader, int count) {
  for (int i = 0; i < count; ++i) REQUIRE_FALSE(c[leader].propose("e" + std::to_string(i)).error);
  c.settle();
}

}  // namespace

TEST_CASE("a follower whose next entries were compacted receives the snapshot and continues from it") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.cut(3);
  propose_many(c, 1, 50);
  const snapshot_meta meta = c.take_snapshot(1);
  CHECK(c[1]->log().base() == meta.last_included);
  c.heal();
  std::size_t offers = 0;
  c.count<snapshot_request>(offers);
  c.tick(1, 2);
  c.settle();
  CHECK(offers == 1);
  CHECK(c[3]->log().base() == meta.last_included);
  CHECK(c[3]->commit_index() >= meta.last_included.index);
  CHECK(c.applied(3) == c.applied(1));
  propose_many(c, 1, 5);
  CHECK(c[3]->log().last_id() == c[1]->log().last_id());
  CHECK(c.applied(3) == c.applied(1));
  CHECK(c[1]->progress_of(node_id(3))->state() == core::replication_state::replicate);
}

TEST_CASE("entries kept behind the snapshot let a slightly lagging follower catch up from the log") {
  cluster c({1, 2, 3});
  c.elect(1);
  propose_many(c, 1, 10);
  c.cut(3);
  propose_many(c, 1, 10);
  c.take_snapshot(1, 15);
  c.heal();
  std::size_t offers = 0;
  c.count<snapshot_request>(offers);
  c.tick(1, 2);
  c.settle();
  CHECK(offers == 0);
  CHECK(c[3]->log().last_id() == c[1]->log().last_id());
}

TEST_CASE("a snapshot the follower already covers is acknowledged without being installed") {
  cluster c({1, 2, 3});
  c.elect(1);
  propose_many(c, 1, 10);
  c.take_snapshot(1);
  snapshot_request offer;
  offer.from = node_id(1);
  offer.term = c[1]->term();
  offer.meta = c[1]->snapshot();
  const auto answers = bodies_of<snapshot_response>(exchange(c[2], offer), node_id(1));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].success);
  CHECK(answers[0].last_index >= offer.meta.last_included.index);
  CHECK(c[2]->log().base() == log_id{});  // nothing was replaced
}

TEST_CASE("an installed snapshot is acknowledged only once it is durable") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.cut(3);
  propose_many(c, 1, 10);
  c.take_snapshot(1);
  c.heal();
  c.pause_disk(3);
  std::vector<snapshot_response> answers;
  c.filter = [&](node_id, const message& m) {
    if (auto* answer = std::get_if<snapshot_response>(&m.body)) answers.push_back(*answer);
    return true;
  };
  c.tick(1, 2);
  c.settle();
  CHECK(answers.empty());
  c.resume_disk(3);
  c.settle();
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].success);
}

TEST_CASE("a failed snapshot transfer is retried only after the follower answers a heartbeat") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.cut(3);
  propose_many(c, 1, 10);
  c.take_snapshot(1);
  c.heal();
  c.filter = [](node_id, const message& m) { return !std::holds_alternative<snapshot_request>(m.body); };
  c.tick(1, 2);
  c.settle();  // node 3 answers the heartbeat; the snapshot offer is lost
  REQUIRE(c[1]->progress_of(node_id(3))->state() == core::replication_state::snapshot);
  c[1].apply_input([](core::node& n) { n.report_snapshot_failed(node_id(3)); });
  CHECK(c[1]->progress_of(node_id(3))->state() == core::replication_state::probe);
  CHECK(c[1]->progress_of(node_id(3))->paused());
  c.filter = nullptr;
  c.settle();
  CHECK(c[3]->log().last_id() != c[1]->log().last_id());  // no retry without a heartbeat answer
  c.tick(1, 2);
  c.settle();
  CHECK(c[3]->log().last_id() == c[1]->log().last_id());
}

TEST_CASE("a node restarts from its snapshot and the log after it") {
  cluster c({1, 2, 3});
  c.elect(1);
  propose_many(c, 1, 10);
  const snapshot_meta meta = c.take_snapshot(1);
  propose_many(c, 1, 3);
  core::restored_state restored;
  restored.state = {c[1]->term(), c[1]->voted_for()};
  restored.snapshot = meta;
  for (index_t i = meta.last_included.index + 1; i <= c[1]->log().last_index(); ++i)
    restored.entries.push_back(c[1]->log().at(i));
  restored.applied = meta.last_included.index;
  driven_node n(node_id(1), restored, test_options(), 7);
  CHECK(n->log().base() == meta.last_included);
  CHECK(n->log().last_id() == c[1]->log().last_id());
  CHECK(n->config() == meta.config);
  CHECK(n->commit_index() == meta.last_included.index);
  CHECK(n->applying_index() == meta.last_included.index);
}

TEST_CASE("a restart ignores a log that does not continue the snapshot") {
  membership config = voters({1, 2, 3});
  core::restored_state restored;
  restored.snapshot = {{term_t(3), index_t(10)}, config};
  restored.entries = {command_entry(2, 10), command_entry(2, 11), command_entry(2, 12)};
  restored.state = {term_t(3), no_node};
  driven_node n(node_id(1), restored, test_options(), 1);
  CHECK(n->log().last_id() == log_id{term_t(3), index_t(10)});
}

TEST_CASE("compaction keeps the configuration in force at the new start of the log") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4);
  REQUIRE_FALSE(c[1]->change_membership(membership{voters({1, 2, 3}).voters, {}, {node_id(4)}, {}}));
  c.settle();
  propose_many(c, 1, 5);
  const snapshot_meta meta = c.take_snapshot(1);
  CHECK(meta.config.learners.contains(node_id(4)));
  CHECK(c[1]->config().learners.contains(node_id(4)));
  REQUIRE_FALSE(c[1]->change_membership(voters({1, 2, 3})));
  c.settle();
  CHECK(c[1]->config().learners.empty());
}
