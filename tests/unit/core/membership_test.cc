// Learners, membership change by joint consensus, and leadership transfer.
#include "driver.h"

using namespace coraft;
using namespace coraft::test;
using core::role;

namespace {

membership with_learners(std::initializer_list<std::uint64_t> voter_ids, std::initializer_list<std::uint64_t> learner_ids) {
  membership config = voters(voter_ids);
  for (auto id : learner_ids) config.learners.insert(node_id(id));
  return config;
}

// The configurations appended to `n`'s log, in order.
std::vector<membership> configs_in_log(const core::node& n) {
  std::vector<membership> configs;
  for (index_t i = n.log().first_index(); i <= n.log().last_index(); ++i)
    if (n.log().at(i).kind == entry_kind::membership) configs.push_back(*decode_membership(n.log().at(i).payload.view()));
  return configs;
}

void run_ticks(cluster& c, std::uint64_t id, int ticks) {
  for (int i = 0; i < ticks; ++i) {
    c.tick(id);
    c.settle();
  }
}

}  // namespace

TEST_CASE("a learner receives the log but never votes, campaigns or counts for a commit") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4);
  REQUIRE_FALSE(c[1]->change_membership(with_learners({1, 2, 3}, {4})));
  c.settle();
  CHECK(c[4]->log().last_id() == c[1]->log().last_id());
  CHECK(c[4]->config().learners.contains(node_id(4)));
  CHECK(configs_in_log(c[1].get()).size() == 2);  // bootstrap, then one step: learners need no joint phase

  c.cut(2);
  c.cut(3);
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  CHECK(c[4]->log().last_index() == c[1]->log().last_index());
  CHECK(c[1]->commit_index() < c[1]->log().last_index());  // the learner's copy does not count

  for (int i = 0; i < 100; ++i) c.tick(4);
  CHECK(c[4]->current_role() == role::follower);
  CHECK(c[4]->term() == c[1]->term());
}

TEST_CASE("adding a voter goes through a joint configuration that the leader leaves on its own") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4);
  REQUIRE_FALSE(c[1]->change_membership(with_learners({1, 2, 3}, {4})));
  c.settle();
  REQUIRE_FALSE(c[1]->change_membership(voters({1, 2, 3, 4})));
  c.settle();
  auto configs = configs_in_log(c[1].get());
  REQUIRE(configs.size() == 4);
  CHECK(configs[2].joint());
  CHECK(configs[2].voters == voters({1, 2, 3, 4}).voters);
  CHECK(configs[2].outgoing_voters == voters({1, 2, 3}).voters);
  CHECK_FALSE(configs[3].joint());
  CHECK(configs[3].voters == voters({1, 2, 3, 4}).voters);
  CHECK(c[1]->commit_index() == c[1]->log().last_index());
  CHECK(c[4]->config() == configs[3]);
  // The new voter now counts: with two of four cut, nothing commits.
  c.cut(3);
  c.cut(4);
  REQUIRE_FALSE(c[1].propose("x").error);
  c.settle();
  CHECK(c[1]->commit_index() < c[1]->log().last_index());
}

TEST_CASE("in a joint configuration an entry commits only with a majority of both halves") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4);
  c.add_node(5);
  REQUIRE_FALSE(c[1]->change_membership(with_learners({1, 2, 3}, {4, 5})));
  c.settle();
  c.cut(4);
  c.cut(5);
  REQUIRE_FALSE(c[1]->change_membership(voters({1, 4, 5})));
  c.settle();
  REQUIRE(c[1]->config().joint());
  const index_t joint = c[1]->log().last_index();
  CHECK(c[1]->commit_index() < joint);  // {1,2,3} agree, {1,4,5} do not
  c.heal();
  c.tick(1, 2);
  c.settle();
  CHECK(c[1]->commit_index() > joint);
  CHECK_FALSE(c[1]->config().joint());
  CHECK(c[1]->config().voters == voters({1, 4, 5}).voters);
}

TEST_CASE("only one membership change runs at a time") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.add_node(4);
  c.cut(2);
  c.cut(3);
  REQUIRE_FALSE(c[1]->change_membership(with_learners({1, 2, 3}, {4})));
  CHECK(c[1]->change_membership(with_learners({1, 2, 3}, {5})) == errc::membership_change_in_progress);
  CHECK(c[2]->change_membership(with_learners({1, 2, 3}, {5})) == errc::not_leader);
  CHECK(c[1]->change_membership(with_learners({1, 2}, {2})) == errc::membership_change_in_progress);
  c.heal();
  c.settle();
  CHECK(c[1]->change_membership(with_learners({1, 2}, {2})) == errc::invalid_argument);  // 2 both voter and learner
  CHECK(c[1]->change_membership(membership{}) == errc::invalid_argument);
}

TEST_CASE("a removed leader steps down once the new configuration commits, and the rest elect a leader") {
  cluster c({1, 2, 3});
  c.elect(1);
  REQUIRE_FALSE(c[1]->change_membership(voters({2, 3})));
  c.settle();
  CHECK(c[1]->current_role() == role::follower);
  CHECK(c[2]->config().voters == voters({2, 3}).voters);
  CHECK(c[2]->commit_index() >= c[1]->log().last_index() - 1);
  for (int i = 0; i < 100; ++i) c.tick(1);
  CHECK(c[1]->current_role() == role::follower);  // no longer a voter: it never campaigns
  c.elect(2);
  REQUIRE_FALSE(c[2].propose("after").error);
  c.settle();
  CHECK(c[3]->commit_index() == c[2]->log().last_index());
}

TEST_CASE("a configuration takes effect when appended and is undone with its entry") {
  cluster c({1, 2, 3, 4, 5});
  c.elect(1);
  // Only node 2 receives the change; node 1 never hears an answer.
  c.filter = [](node_id from, const message& m) { return from == node_id(1) && m.to == node_id(2); };
  REQUIRE_FALSE(c[1]->change_membership(voters({1, 2, 3, 4})));
  c.settle();
  REQUIRE(c[2]->config().joint());
  c.filter = nullptr;
  c.cut(1);
  c.cut(2);
  c.elect(3);  // with 4 and 5, whose logs lack the change
  REQUIRE_FALSE(c[3].propose("x").error);
  c.settle();
  c.heal();
  c.cut(1);
  c.tick(3, 2);
  c.settle();
  CHECK_FALSE(c[2]->config().joint());
  CHECK(c[2]->config().voters == voters({1, 2, 3, 4, 5}).voters);
  CHECK(c[2]->log().last_id() == c[3]->log().last_id());
}

TEST_CASE("leadership transfer hands over to an up-to-date target, even past leader stickiness") {
  auto options = test_options();
  options.check_quorum = true;
  options.pre_vote = true;
  cluster c({1, 2, 3}, options);
  c.elect(1);
  REQUIRE_FALSE(c[1]->transfer_leadership(node_id(3)));
  c.settle();
  CHECK(c[3]->current_role() == role::leader);
  CHECK(c[3]->term() == term_t(2));
  CHECK(c[1]->current_role() == role::follower);
  CHECK(c[1]->leader() == node_id(3));
}

TEST_CASE("a lagging transfer target is caught up before it is told to campaign") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.cut(3);
  for (int i = 0; i < 20; ++i) REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  c.heal();
  bool caught_up_when_told = false;
  int told = 0;
  c.filter = [&](node_id, const message& m) {
    if (std::holds_alternative<timeout_now_request>(m.body)) {
      ++told;
      caught_up_when_told = c[3]->log().last_id() == c[1]->log().last_id();
    }
    return true;
  };
  REQUIRE_FALSE(c[1]->transfer_leadership(node_id(3)));
  CHECK(c[1].propose("refused").error == errc::transfer_in_progress);
  run_ticks(c, 1, 4);
  CHECK(told == 1);
  CHECK(caught_up_when_told);
  CHECK(c[3]->current_role() == role::leader);
}

TEST_CASE("a transfer to an unreachable target aborts after an election timeout") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.cut(3);
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  REQUIRE_FALSE(c[1]->transfer_leadership(node_id(3)));
  CHECK(c[1]->transfer_target() == node_id(3));
  CHECK(c[1]->change_membership(voters({1, 2})) == errc::transfer_in_progress);
  run_ticks(c, 1, 10);
  CHECK(c[1]->transfer_target() == no_node);
  CHECK(c[1]->current_role() == role::leader);
  CHECK_FALSE(c[1].propose("accepted again").error);
  CHECK(c[1]->transfer_leadership(node_id(1)) == errc::invalid_argument);
  CHECK(c[1]->transfer_leadership(node_id(9)) == errc::invalid_argument);
}
