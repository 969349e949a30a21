// Roles, terms, votes, pre-vote and check-quorum.
#include "driver.h"

using namespace coraft;
using namespace coraft::test;
using core::role;

namespace {

vote_request vote_from(std::uint64_t from, std::uint64_t term, log_id last_log, bool pre_vote = false) {
  vote_request request;
  request.from = node_id(from);
  request.term = term_t(term);
  request.last_log = last_log;
  request.pre_vote = pre_vote;
  request.request_id = 77;
  return request;
}

// A lone member of a 3-node group that hears from nobody.
driven_node isolated_member(protocol_options options, std::uint64_t seed = 1) {
  driven_node n(node_id(1), {}, options, seed);
  n.apply_input([](core::node& node) { node.bootstrap(voters({1, 2, 3})); });
  return n;
}

}  // namespace

TEST_CASE("a follower campaigns after a randomized election timeout in [min, max)") {
  std::set<int> timeouts;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    auto n = isolated_member(test_options(), seed);
    int ticks = 0;
    while (n->current_role() == role::follower) {
      n.tick();
      ++ticks;
      REQUIRE(ticks <= 20);
    }
    CHECK(ticks >= 10);
    CHECK(ticks < 20);
    CHECK(n->current_role() == role::candidate);
    CHECK(n->term() == term_t(1));
    timeouts.insert(ticks);
  }
  CHECK(timeouts.size() > 3);  // the timeout really is randomized
}

TEST_CASE("a candidate asks every voter, carrying its last log id") {
  auto n = isolated_member(test_options());
  for (int i = 0; i < 20; ++i) n.tick();
  auto out = n.drain();
  auto requests = messages_of<vote_request>(out);
  REQUIRE(requests.size() == 2);
  for (const auto& request : requests) {
    CHECK(request.term == term_t(1));
    CHECK(request.last_log == log_id{term_t(0), index_t(1)});
    CHECK_FALSE(request.pre_vote);
  }
}

TEST_CASE("a higher term in any message makes a node a follower of that term") {
  cluster c({1, 2, 3});
  c.elect(1);
  REQUIRE(c[1]->term() == term_t(1));
  heartbeat_response response;
  response.from = node_id(2);
  response.term = term_t(5);
  c[1].step(response);
  CHECK(c[1]->current_role() == role::follower);
  CHECK(c[1]->term() == term_t(5));
  CHECK(c[1]->voted_for() == no_node);
  CHECK(c[1]->leader() == no_node);
}

TEST_CASE("an append from a higher term makes its sender the known leader") {
  auto n = isolated_member(test_options());
  append_request request;
  request.from = node_id(3);
  request.term = term_t(4);
  request.prev = {term_t(0), index_t(1)};
  n.step(request);
  CHECK(n->term() == term_t(4));
  CHECK(n->leader() == node_id(3));
}

TEST_CASE("a request from a stale term is answered with the current term and changes nothing") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.elect(2);
  REQUIRE(c[2]->term() == term_t(2));
  const index_t last_before = c[2]->log().last_index();
  append_request stale;
  stale.from = node_id(1);
  stale.term = term_t(1);
  stale.prev = c[2]->log().last_id();
  stale.entries = {command_entry(1, last_before.value + 1)};
  stale.request_id = 9;
  c[2].step(stale);
  auto out = c[2].drain();
  auto answers = messages_of<append_response>(out, node_id(1));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].term == term_t(2));
  CHECK_FALSE(answers[0].success);
  CHECK(answers[0].request_id == 9);
  CHECK(c[2]->log().last_index() == last_before);
  CHECK(c[2]->current_role() == role::leader);
}

TEST_CASE("a response from a stale term is dropped") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.elect(2);
  vote_response late;
  late.from = node_id(3);
  late.term = term_t(1);
  late.granted = true;
  c[2].step(late);
  CHECK(c[2]->current_role() == role::leader);
  CHECK(c[2]->term() == term_t(2));
  CHECK(c[2].drain().messages.empty());
}

TEST_CASE("a vote goes only to a candidate whose log is at least as up to date") {
  cluster c({1, 2, 3});
  c.elect(1);
  c[1].propose("a");
  c.settle();
  const log_id last = c[2]->log().last_id();  // (1, 3): bootstrap, no-op, "a"
  REQUIRE(last == log_id{term_t(1), index_t(3)});
  struct probe {
    log_id candidate_last;
    bool granted;
  };
  const probe probes[] = {
      {{term_t(1), index_t(2)}, false},  // same term, shorter
      {{term_t(0), index_t(9)}, false},  // older term, longer
      {{term_t(1), index_t(3)}, true},   // identical
      {{term_t(2), index_t(1)}, true},   // newer term wins whatever its length
  };
  std::uint64_t term = 10;
  for (const probe& p : probes) {
    INFO("candidate last " << p.candidate_last);
    auto answers = bodies_of<vote_response>(exchange(c[2], vote_from(3, ++term, p.candidate_last)), node_id(3));
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].granted == p.granted);
    CHECK(answers[0].request_id == 77);
  }
}

TEST_CASE("a node votes at most once per term") {
  auto n = isolated_member(test_options());
  auto first = bodies_of<vote_response>(exchange(n, vote_from(2, 3, {term_t(0), index_t(1)})), node_id(2));
  REQUIRE(first.size() == 1);
  CHECK(first[0].granted);
  auto second = bodies_of<vote_response>(exchange(n, vote_from(3, 3, {term_t(0), index_t(1)})), node_id(3));
  REQUIRE(second.size() == 1);
  CHECK_FALSE(second[0].granted);
  CHECK(n->voted_for() == node_id(2));
  // A retry from the same candidate.
  auto retry = bodies_of<vote_response>(exchange(n, vote_from(2, 3, {term_t(0), index_t(1)})), node_id(2));
  REQUIRE(retry.size() == 1);
  CHECK(retry[0].granted);
}

TEST_CASE("a candidate with a majority of votes becomes leader and appends a no-op of its term") {
  cluster c({1, 2, 3});
  c.elect(2);
  CHECK(c[2]->leader() == node_id(2));
  CHECK(c[1]->leader() == node_id(2));
  const log_entry& last = c[2]->log().at(c[2]->log().last_index());
  CHECK(last.kind == entry_kind::noop);
  CHECK(last.term == c[2]->term());
  CHECK(c[1]->commit_index() == last.index);  // the no-op committed everywhere
}

TEST_CASE("a candidate that loses the vote returns to follower") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.cut(3);
  c[1].propose("a");
  c.settle();
  c.heal();
  // Node 3 campaigns without having heard of "a": both others refuse it.
  while (c[3]->current_role() == role::follower) c.tick(3);
  REQUIRE(c[3]->current_role() == role::candidate);
  c.settle();
  CHECK(c[3]->current_role() == role::follower);
  CHECK(c[1]->voted_for() != node_id(3));
  CHECK(c[2]->voted_for() != node_id(3));
}

TEST_CASE("with pre-vote, an isolated node never raises its term") {
  auto options = test_options();
  options.pre_vote = true;
  auto n = isolated_member(options);
  for (int i = 0; i < 500; ++i) {
    n.tick();
    n.drain();
  }
  CHECK(n->term() == term_t(0));
  CHECK(n->current_role() == role::pre_candidate);
}

TEST_CASE("a pre-candidate asks with term + 1 without changing its own term or vote") {
  auto options = test_options();
  options.pre_vote = true;
  auto n = isolated_member(options);
  while (n->current_role() == role::follower) n.tick();
  CHECK(n->current_role() == role::pre_candidate);
  CHECK(n->term() == term_t(0));
  CHECK(n->voted_for() == no_node);
  auto out = n.drain();
  CHECK(out.write_id != 0);  // only the bootstrap entry: the term is not written
  CHECK_FALSE(out.state);
  auto requests = messages_of<vote_request>(out);
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].pre_vote);
  CHECK(requests[0].term == term_t(1));
}

TEST_CASE("a node with a lagging log loses the pre-vote and the cluster's term stays") {
  auto options = test_options();
  options.pre_vote = true;
  cluster c({1, 2, 3}, options);
  c.elect(1);
  c.cut(3);
  c[1].propose("a");
  c.settle();
  c.heal();
  c.cut(1);
  const term_t term = c[2]->term();
  for (int i = 0; i < 200; ++i) {
    c.tick(3);
    c.settle();
  }
  CHECK(c[2]->term() == term);
  CHECK(c[3]->term() == term);
  CHECK(c[3]->current_role() != role::leader);
}

TEST_CASE("pre-vote and vote succeed together when the candidate can win") {
  auto options = test_options();
  options.pre_vote = true;
  cluster c({1, 2, 3}, options);
  c.elect(3);
  CHECK(c[3]->term() == term_t(1));
  CHECK(c[1]->leader() == node_id(3));
}

TEST_CASE("with check-quorum a leader that hears from no quorum for an election timeout steps down") {
  auto options = test_options();
  options.check_quorum = true;
  cluster c({1, 2, 3}, options);
  c.elect(1);
  c.cut(1);
  for (int i = 0; i < 3 * 10 && c[1]->current_role() == role::leader; ++i) {
    c.tick(1);
    c.settle();
  }
  CHECK(c[1]->current_role() == role::follower);
  CHECK(c[1]->term() == term_t(1));
}

TEST_CASE("with check-quorum a leader that hears from a quorum stays leader") {
  auto options = test_options();
  options.check_quorum = true;
  cluster c({1, 2, 3}, options);
  c.elect(1);
  c.cut(3);
  for (int i = 0; i < 100; ++i) {
    c.tick(1);
    c.settle();
  }
  CHECK(c[1]->current_role() == role::leader);
}

TEST_CASE("a follower that heard from its leader recently rejects votes without taking their term") {
  auto options = test_options();
  options.check_quorum = true;
  cluster c({1, 2, 3}, options);
  c.elect(1);
  for (bool pre_vote : {false, true}) {
    INFO("pre_vote " << pre_vote);
    c[2].step(vote_from(3, 7, {term_t(9), index_t(9)}, pre_vote));
    auto answers = messages_of<vote_response>(c[2].drain(), node_id(3));
    REQUIRE(answers.size() == 1);
    CHECK_FALSE(answers[0].granted);
    CHECK(c[2]->term() == term_t(1));
    CHECK(c[2]->leader() == node_id(1));
  }
}

TEST_CASE("a campaign ordered by the leader ignores leader stickiness") {
  auto options = test_options();
  options.check_quorum = true;
  cluster c({1, 2, 3}, options);
  c.elect(1);
  auto request = vote_from(3, 2, c[2]->log().last_id());
  request.transfer = true;
  auto answers = bodies_of<vote_response>(exchange(c[2], request), node_id(3));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].granted);
  CHECK(c[2]->term() == term_t(2));
}

TEST_CASE("a single-node group elects itself once its vote is durable") {
  cluster c({1});
  c.pause_disk(1);
  for (int i = 0; i < 20; ++i) {
    c.tick(1);
    c.settle();
  }
  CHECK(c[1]->current_role() == role::candidate);
  c.resume_disk(1);
  c.settle();
  CHECK(c[1]->current_role() == role::leader);
}
