// Membership changes and leadership transfer in the engine, under load:
// learners join and become voters, members leave (the leader too), one change
// at a time, and leadership moves on request. No acknowledged write is lost.
#include "engine_test_support.h"

#include <catch2/catch.hpp>

#include <asio/co_spawn.hpp>
#include <asio/strand.hpp>

namespace coraft::test {
namespace {

using void_operation = std::function<asio::awaitable<result<void>>(raft&)>;

result<void> on_leader(test_cluster& cluster, const void_operation& operation, const std::set<node_id>& among = {}) {
  return run_on_leader<void>(cluster, operation, among);
}

void_operation add_learner(node_id id) {
  return [id](raft& node) { return node.add_learner(id, test_cluster::address_of(id)); };
}

void_operation make_voters(std::set<node_id> voters) {
  return [voters](raft& node) { return node.change_membership(voters); };
}

void_operation remove(node_id id) {
  return [id](raft& node) { return node.remove_member(id); };
}

std::set<node_id> ids(std::initializer_list<std::uint64_t> numbers) {
  std::set<node_id> out;
  for (std::uint64_t n : numbers) out.insert(node_id(n));
  return out;
}

// Every running member among `members` ends up with this configuration.
void wait_for_config(test_cluster& cluster, const std::set<node_id>& members, const std::set<node_id>& voters,
                     const std::set<node_id>& learners) {
  for (node_id id : members) {
    std::shared_ptr<raft> node = cluster.node(id);
    eventually(
        [&] {
          const membership config = node->get_metrics().config;
          return config.voters == voters && config.learners == learners && !config.joint();
        },
        "a member learns the new configuration");
  }
}

bool is_error(const result<void>& answer, errc code) { return answer.error() == make_error_code(code); }

}  // namespace

TEST_CASE("learners added and promoted under load catch up and count as voters") {
  test_cluster cluster(cluster_setup{.size = 5, .founders = 3});
  cluster.start_all();
  cluster.wait_for_leader();
  session_clients clients(cluster, 4);
  clients.wait_for_more(30);

  REQUIRE(on_leader(cluster, add_learner(node_id(4))));
  REQUIRE(on_leader(cluster, add_learner(node_id(5))));
  wait_for_config(cluster, ids({1, 2, 3, 4, 5}), ids({1, 2, 3}), ids({4, 5}));
  clients.wait_for_more(30);
  REQUIRE(on_leader(cluster, make_voters(ids({1, 2, 3, 4, 5}))));
  wait_for_config(cluster, ids({1, 2, 3, 4, 5}), ids({1, 2, 3, 4, 5}), {});
  clients.wait_for_more(30);

  // Three of five remain, two of them new: commits need the new voters.
  const node_id leader = cluster.wait_for_leader();
  cluster.stop(leader);
  cluster.stop(leader == node_id(1) ? node_id(2) : node_id(1));
  clients.wait_for_more(60);
  clients.stop();
  check_every_member_holds(cluster, clients);
}

TEST_CASE("a leader that removes itself steps down once the change commits, and the rest carry on") {
  test_cluster cluster(3);
  cluster.start_all();
  cluster.wait_for_leader();
  session_clients clients(cluster, 4);
  clients.wait_for_more(30);

  // Answered when the final configuration commits, which is when it steps down.
  node_id leader;
  REQUIRE(on_leader(cluster, [&leader](raft& node) {
    leader = node.get_metrics().id;
    return node.remove_member(leader);
  }));
  std::shared_ptr<raft> removed = cluster.node(leader);
  eventually([&] { return removed->get_metrics().role != "leader"; }, "the removed leader steps down");
  const std::set<node_id> rest = all_but(cluster, leader);
  wait_for_config(cluster, rest, rest, {});
  const node_id successor = cluster.wait_for_leader(rest);
  CHECK(successor != leader);
  clients.wait_for_more(60);
  // The removed node never campaigns: nothing disturbs the new leader.
  CHECK(removed->get_metrics().role == "follower");
  cluster.stop(leader);
  clients.stop();
  check_every_member_holds(cluster, clients);
}

TEST_CASE("a learner is removed in one step and receives nothing more") {
  test_cluster cluster(cluster_setup{.size = 4, .founders = 3});
  cluster.start_all();
  cluster.wait_for_leader();
  session_clients clients(cluster, 2);
  REQUIRE(on_leader(cluster, add_learner(node_id(4))));
  clients.wait_for_more(20);
  std::shared_ptr<raft> learner = cluster.node(node_id(4));
  eventually([&] { return learner->get_metrics().applied > index_t(20); }, "the learner applies the log");

  REQUIRE(on_leader(cluster, remove(node_id(4))));
  // Appends sent before the leader dropped the learner may still land, but
  // none carries an entry past the removal, which is at or below this.
  const index_t removed_by = cluster.node(cluster.wait_for_leader())->get_metrics().last_log;
  const std::set<node_id> voters = ids({1, 2, 3});
  wait_for_config(cluster, voters, voters, {});
  clients.wait_for_more(30);
  clients.stop();
  check_every_member_holds(cluster, clients, voters);
  CHECK(learner->get_metrics().last_log <= removed_by);
  CHECK(cluster.highest_commit() > removed_by);
}

TEST_CASE("membership changes go one at a time, and a new voter is promoted only once it has caught up") {
  test_cluster cluster(cluster_setup{.size = 5, .founders = 3});
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  REQUIRE(on_leader(cluster, add_learner(node_id(4))));
  cluster.network().isolate(node_id(4));
  // Far enough behind that it is not caught up.
  for (int i = 0; i < 200; ++i) REQUIRE(cluster.io().run(propose_to_leader(cluster, put("k", std::to_string(i)))));

  // Both calls reach the node in this order: a strand starts them one after
  // the other, and each hands itself to the node before it suspends.
  std::shared_ptr<raft> node = cluster.node(leader);
  auto calls = asio::make_strand(cluster.io().context());
  std::future<result<void>> promotion = asio::co_spawn(calls, node->change_membership(ids({1, 2, 3, 4})), asio::use_future);
  std::future<result<void>> second = asio::co_spawn(calls, node->add_learner(node_id(5), "node-5"), asio::use_future);
  REQUIRE(second.wait_for(hang_limit) == std::future_status::ready);
  const result<void> refused = second.get();
  CHECK(is_error(refused, errc::membership_change_in_progress));
  CHECK(refused.leader().id == leader);
  // The promotion waits for node 4, which cannot catch up while cut off.
  CHECK(promotion.wait_for(200ms) == std::future_status::timeout);
  CHECK(node->get_metrics().config.voters == ids({1, 2, 3}));

  cluster.network().heal();
  REQUIRE(promotion.wait_for(hang_limit) == std::future_status::ready);
  CHECK(promotion.get());
  wait_for_config(cluster, ids({1, 2, 3, 4}), ids({1, 2, 3, 4}), {});
  REQUIRE(on_leader(cluster, add_learner(node_id(5))));
}

TEST_CASE("a new voter that does not catch up in time is not promoted, and the next change may go ahead") {
  test_cluster cluster(cluster_setup{.size = 4, .founders = 3,
                                     .tweak = [](raft_options& options) { options.catch_up_timeout = 300ms; }});
  cluster.start_all();
  cluster.wait_for_leader();
  REQUIRE(on_leader(cluster, add_learner(node_id(4))));
  cluster.network().isolate(node_id(4));
  for (int i = 0; i < 200; ++i) REQUIRE(cluster.io().run(propose_to_leader(cluster, put("k", std::to_string(i)))));

  CHECK(is_error(on_leader(cluster, make_voters(ids({1, 2, 3, 4}))), errc::timeout));
  wait_for_config(cluster, ids({1, 2, 3}), ids({1, 2, 3}), ids({4}));
  REQUIRE(on_leader(cluster, remove(node_id(4))));
  wait_for_config(cluster, ids({1, 2, 3}), ids({1, 2, 3}), {});
}

TEST_CASE("membership operations refuse what cannot be done, naming the leader to non-leaders") {
  test_cluster cluster(cluster_setup{.size = 4, .founders = 3});
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  const node_id follower(leader.value % 3 + 1);
  eventually([&] { return cluster.node(follower)->get_metrics().leader == leader; }, "the follower learns who leads");

  const result<void> refused = cluster.io().run(cluster.node(follower)->add_learner(node_id(4), "node-4"));
  CHECK(is_error(refused, errc::not_leader));
  CHECK(refused.leader().id == leader);
  CHECK(refused.leader().address == test_cluster::address_of(leader));
  CHECK(is_error(cluster.io().run(cluster.node(follower)->transfer_leadership(leader)), errc::not_leader));

  CHECK(is_error(on_leader(cluster, add_learner(follower)), errc::not_member));
  CHECK(is_error(on_leader(cluster, make_voters(ids({1, 2, 3, 4}))), errc::not_member));
  CHECK(is_error(on_leader(cluster, make_voters({})), errc::invalid_argument));
  CHECK(is_error(on_leader(cluster, remove(node_id(4))), errc::not_member));
  CHECK(is_error(on_leader(cluster, [](raft& node) { return node.transfer_leadership(node_id(9)); }),
                 errc::invalid_argument));
  // A learner cannot lead.
  REQUIRE(on_leader(cluster, add_learner(node_id(4))));
  CHECK(is_error(on_leader(cluster, [](raft& node) { return node.transfer_leadership(node_id(4)); }),
                 errc::invalid_argument));
  CHECK(cluster.node(leader)->get_metrics().config.voters == ids({1, 2, 3}));
}

TEST_CASE("leadership moves to the voter asked for under load, and no acknowledged write is lost") {
  test_cluster cluster(3);
  cluster.start_all();
  session_clients clients(cluster, 4);
  clients.wait_for_more(30);
  for (int round = 0; round < 3; ++round) {
    const node_id leader = cluster.wait_for_leader();
    const node_id target(leader.value % 3 + 1);
    const result<void> moved = on_leader(cluster, [target](raft& node) { return node.transfer_leadership(target); });
    REQUIRE(moved);
    CHECK(cluster.node(leader)->get_metrics().leader == target);
    clients.wait_for_more(30);
  }
  clients.stop();
  check_every_member_holds(cluster, clients);
}

TEST_CASE("a transfer to a voter that cannot take over gives up with timeout, and the leader carries on") {
  test_cluster cluster(3);
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  const node_id target(leader.value % 3 + 1);
  cluster.network().isolate(target);
  const result<void> moved = cluster.io().run(cluster.node(leader)->transfer_leadership(target));
  CHECK(is_error(moved, errc::timeout));
  CHECK(cluster.node(leader)->get_metrics().role == "leader");
  CHECK(cluster.io().run(cluster.node(leader)->propose(put("k", "v"))));
  // To itself: it leads already.
  CHECK(cluster.io().run(cluster.node(leader)->transfer_leadership(leader)));
}

}  // namespace coraft::test
