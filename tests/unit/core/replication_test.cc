// Replication, pipelining, batching, commit rules and fast back-off.
#include "driver.h"

using namespace coraft;
using namespace coraft::test;
using core::role;

namespace {

std::vector<append_request> appends_to(const core::output& out, std::uint64_t to) {
  return messages_of<append_request>(out, node_id(to));
}

// Proposes `count` commands on `leader` without draining in between.
void propose_many(cluster& c, std::uint64_t leader, int count, std::size_t size = 1) {
  for (int i = 0; i < count; ++i) REQUIRE_FALSE(c[leader].propose(std::string(size, 'c')).error);
}

bool same_log(const core::raft_log& a, const core::raft_log& b) {
  if (a.last_id() != b.last_id()) return false;
  for (index_t i = std::max(a.first_index(), b.first_index()); i <= a.last_index(); ++i)
    if (a.at(i).term != b.at(i).term || !(a.at(i).payload == b.at(i).payload)) return false;
  return true;
}

}  // namespace

TEST_CASE("one output holds everything proposed since the last drain: one write and one append per follower") {
  cluster c({1, 2, 3});
  c.elect(1);
  propose_many(c, 1, 100);
  core::output out = c[1].drain();
  CHECK(out.write_id != 0);
  CHECK(out.entries.size() == 100);
  for (std::uint64_t follower : {2, 3}) {
    auto appends = appends_to(out, follower);
    REQUIRE(appends.size() == 1);
    CHECK(appends[0].entries.size() == 100);
  }
  // Grouped by destination: all of node 2's messages come before node 3's.
  CHECK(std::is_sorted(out.messages.begin(), out.messages.end(),
                       [](const message& a, const message& b) { return a.to < b.to; }));
}

TEST_CASE("appends batch entries up to the byte budget per message") {
  auto options = test_options();
  options.max_append_bytes = 250;
  cluster c({1, 2}, options);
  c.elect(1);
  propose_many(c, 1, 10, 100);
  auto appends = appends_to(c[1].drain(), 2);
  REQUIRE(appends.size() == 5);
  for (const auto& append : appends) CHECK(append.entries.size() == 2);
}

TEST_CASE("in replicate state the leader pipelines appends up to the in-flight window") {
  auto options = test_options();
  options.max_append_bytes = 1;
  options.max_inflight_appends = 3;
  cluster c({1, 2}, options);
  c.elect(1);
  REQUIRE(c[1]->progress_of(node_id(2))->state() == core::replication_state::replicate);
  propose_many(c, 1, 10);
  core::output out = c[1].drain();
  auto first = appends_to(out, 2);
  CHECK(first.size() == 3);  // sent back to back, without waiting for answers
  const index_t next = c[1]->progress_of(node_id(2))->next();
  CHECK(next == first.back().entries.back().index + 1);
  c.deliver(1, std::move(out));
  c.settle();
  CHECK(c[2]->log().last_id() == c[1]->log().last_id());
  CHECK(c[1]->commit_index() == c[1]->log().last_index());
}

TEST_CASE("a lost append is detected, next rolls back and the entries are sent again") {
  cluster c({1, 2, 3});
  c.elect(1);
  bool dropped = false;
  std::size_t rejections = 0;
  c.filter = [&](node_id, const message& m) {
    if (auto* answer = std::get_if<append_response>(&m.body); answer && !answer->success) ++rejections;
    auto* append = std::get_if<append_request>(&m.body);
    if (!dropped && m.to == node_id(2) && append && !append->entries.empty()) {
      dropped = true;
      return false;
    }
    return true;
  };
  propose_many(c, 1, 3);
  c.settle();
  REQUIRE(dropped);
  propose_many(c, 1, 3);  // its append does not fit after node 2's log
  c.settle();
  CHECK(rejections == 1);
  CHECK(same_log(c[2]->log(), c[1]->log()));
  c.tick(1, 2);
  c.settle();
  CHECK(c[2]->commit_index() == c[1]->commit_index());
}

TEST_CASE("heartbeats carry a commit index no higher than what the follower holds") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.cut(3);
  propose_many(c, 1, 5);
  c.settle();
  const index_t match3 = c[1]->progress_of(node_id(3))->match();
  REQUIRE(c[1]->commit_index() > match3);
  c.heal();
  std::vector<heartbeat_request> to3;
  std::vector<heartbeat_request> to2;
  c.filter = [&](node_id, const message& m) {
    if (auto* heartbeat = std::get_if<heartbeat_request>(&m.body))
      (m.to == node_id(3) ? to3 : to2).push_back(*heartbeat);
    return m.to != node_id(3);  // keep node 3 behind
  };
  c.tick(1, 2);
  c.settle();
  REQUIRE(to3.size() == 1);
  REQUIRE(to2.size() == 1);
  CHECK(to3[0].commit == match3);
  CHECK(to2[0].commit == c[1]->commit_index());
}

namespace {

// Records in `empty` every append without entries that `c` delivers from now
// on, then has node 1 commit the command "a". Returns its index.
index_t commit_recording_empty_appends(cluster& c, std::vector<append_request>& empty) {
  c.filter = [&](node_id, const message& m) {
    if (auto* append = std::get_if<append_request>(&m.body); append && append->entries.empty())
      empty.push_back(*append);
    return true;
  };
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  return c[1]->log().last_index();
}

}  // namespace

TEST_CASE("by default followers learn a new commit index from the next heartbeat, with no empty append") {
  cluster c({1, 2, 3}, announcing_commit_on_heartbeats());
  c.elect(1);
  c.tick(1, 2);
  c.settle();
  std::vector<append_request> empty;
  const index_t entry = commit_recording_empty_appends(c, empty);
  CHECK(c[1]->commit_index() == entry);  // the leader commits as soon as a quorum holds the entry
  CHECK(c.applied(1).back().payload == shared_bytes(std::string("a")));
  CHECK(empty.empty());
  for (std::uint64_t follower : {2, 3}) CHECK(c[follower]->commit_index() < entry);
  c.tick(1, 2);
  c.settle();
  CHECK(empty.empty());
  for (std::uint64_t follower : {2, 3}) {
    CHECK(c[follower]->commit_index() == entry);
    CHECK(c.applied(follower) == c.applied(1));
  }
}

TEST_CASE("by default the next append carries the commit index the followers were not told") {
  cluster c({1, 2, 3}, announcing_commit_on_heartbeats());
  c.elect(1);
  c.tick(1, 2);
  c.settle();
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  const index_t first = c[1]->log().last_index();
  REQUIRE(c[2]->commit_index() < first);
  REQUIRE_FALSE(c[1].propose("b").error);
  auto appends = appends_to(c[1].drain(), 2);
  REQUIRE(appends.size() == 1);
  CHECK(appends[0].leader_commit == first);
}

TEST_CASE("with announce_commit_at_once the leader tells followers with nothing in flight at once") {
  cluster c({1, 2, 3});
  REQUIRE(test_options().announce_commit_at_once);
  c.elect(1);
  c.settle();
  std::vector<append_request> empty;
  const index_t entry = commit_recording_empty_appends(c, empty);
  REQUIRE(empty.size() == 2);
  for (const append_request& announcement : empty) CHECK(announcement.leader_commit == entry);
  for (std::uint64_t follower : {2, 3}) CHECK(c[follower]->commit_index() == entry);
}

TEST_CASE("an entry from an earlier term on a majority is not committed until one of the current term is (Figure 8)") {
  // Raft's Figure 8: entry e (term 1, index 3) was replicated by an old leader
  // to some members. Node 1 now leads term 3. Even once e is on a majority
  // (nodes 1, 2, 3 of 5) it is not committed by counting its replicas: a
  // leader of term 2 that never saw e could still be elected and overwrite it.
  // Only node 1's no-op (term 3), once on a majority, commits e with it.
  membership config = voters({1, 2, 3, 4, 5});
  core::restored_state restored;
  restored.state = {term_t(2), no_node};
  restored.entries = {{term_t(0), index_t(1), entry_kind::membership, shared_bytes(encode_membership(config))},
                      {term_t(1), index_t(2), entry_kind::noop, {}},
                      command_entry(1, 3, "e")};
  restored.committed = index_t(2);
  driven_node n(node_id(1), restored, test_options(), 1);
  while (n->current_role() != role::candidate) n.tick();
  REQUIRE(n->term() == term_t(3));
  n.persisted(n.drain().write_id);
  for (std::uint64_t voter : {2, 3}) {
    vote_response vote;
    vote.from = node_id(voter);
    vote.term = term_t(3);
    vote.granted = true;
    n.step(vote);
  }
  REQUIRE(n->current_role() == role::leader);
  n.persisted(n.drain().write_id);
  const index_t noop = n->log().last_index();
  REQUIRE(noop == index_t(4));

  auto acknowledge = [&](std::uint64_t from, std::uint64_t match) {
    append_response answer;
    answer.from = node_id(from);
    answer.term = term_t(3);
    answer.success = true;
    answer.match_index = index_t(match);
    n.step(answer);
  };
  acknowledge(2, 3);
  acknowledge(3, 3);
  CHECK(n->commit_index() == index_t(2));  // e is on 1, 2 and 3, yet not committed
  acknowledge(2, 4);
  CHECK(n->commit_index() == index_t(2));  // the no-op is on 1 and 2 only
  acknowledge(3, 4);
  CHECK(n->commit_index() == noop);  // the no-op commits, and e with it
}

TEST_CASE("a follower missing 10,000 entries is repaired in a handful of round trips") {
  auto options = test_options();
  options.max_uncommitted_bytes = 0;
  options.max_append_bytes = 1u << 20;
  cluster c({1, 2, 3}, options);
  c.elect(1);
  c.cut(3);
  propose_many(c, 1, 10'000);
  c.settle();
  c.heal();
  std::size_t with_node3 = 0;
  c.filter = [&](node_id from, const message& m) {
    if (from == node_id(3) || m.to == node_id(3)) ++with_node3;
    return true;
  };
  for (int i = 0; i < 10 && c[3]->log().last_id() != c[1]->log().last_id(); ++i) {
    c.tick(1);
    c.settle();
  }
  CHECK(c[3]->log().last_id() == c[1]->log().last_id());
  CHECK(with_node3 <= 12);
}

TEST_CASE("a follower holding 10,000 divergent entries is repaired in a handful of round trips") {
  auto options = test_options();
  options.max_uncommitted_bytes = 0;
  cluster c({1, 2, 3}, options);
  c.elect(3);
  c.cut(3);
  propose_many(c, 3, 10'000);  // never committed: only node 3 has them
  c.settle();
  c.elect(1);
  propose_many(c, 1, 10'000);
  c.settle();
  c.elect(2);  // a leader whose progress for node 3 starts at its own last index
  c.heal();
  std::size_t with_node3 = 0;
  c.filter = [&](node_id from, const message& m) {
    if (from == node_id(3) || m.to == node_id(3)) ++with_node3;
    return true;
  };
  for (int i = 0; i < 10 && c[3]->log().last_id() != c[2]->log().last_id(); ++i) {
    c.tick(2);
    c.settle();
  }
  CHECK(same_log(c[3]->log(), c[2]->log()));
  CHECK(with_node3 <= 16);
}

TEST_CASE("every member applies the same committed entries in the same order") {
  cluster c({1, 2, 3, 4, 5});
  c.elect(4);
  for (int round = 0; round < 20; ++round) {
    propose_many(c, 4, 3);
    c.settle();
  }
  for (std::uint64_t id : {1, 2, 3, 5}) {
    INFO("node " << id);
    CHECK(c.applied(id) == c.applied(4));
  }
  CHECK(c.applied(4).size() == c[4]->commit_index().value);
}

TEST_CASE("proposals go only to the leader; others answer not_leader with a hint") {
  cluster c({1, 2, 3});
  c.elect(2);
  core::proposal refused = c[1].propose("x");
  CHECK(refused.error == errc::not_leader);
  CHECK(refused.leader_hint == node_id(2));
}

TEST_CASE("a leader refuses proposals beyond its uncommitted byte budget") {
  auto options = test_options();
  options.max_uncommitted_bytes = 1000;
  cluster c({1, 2, 3}, options);
  c.elect(1);
  c.cut(2);
  c.cut(3);
  CHECK_FALSE(c[1].propose(std::string(600, 'a')).error);
  CHECK(c[1].propose(std::string(600, 'b')).error == errc::overloaded);
  c.heal();
  c.tick(1, 2);
  c.settle();
  CHECK_FALSE(c[1].propose(std::string(600, 'b')).error);
}
