// Faults under load: a leader lost or cut off, a stale leader's proposals, and
// a failing disk. Whatever happens, no acknowledged write is lost and nothing
// is acknowledged that the group did not commit.
#include "engine_test_support.h"

#include <catch2/catch.hpp>

#include <asio/co_spawn.hpp>

namespace coraft::test {

TEST_CASE("a new leader takes over from a leader lost under load, and no acknowledged write is lost") {
  const bool isolate = GENERATE(false, true);
  INFO((isolate ? "leader isolated" : "leader shut down"));
  test_cluster cluster(5);
  cluster.start_all();
  const node_id old_leader = cluster.wait_for_leader();
  session_clients clients(cluster, 6);
  clients.wait_for_total(30);

  if (isolate) {
    cluster.network().isolate(old_leader);
  } else {
    cluster.stop(old_leader);
  }
  clients.wait_for_total(clients.total_acknowledged() + 60);
  CHECK(cluster.leader(all_but(cluster, old_leader)).has_value());

  if (isolate) {
    cluster.network().heal();
  } else {
    cluster.start(old_leader);
  }
  clients.wait_for_total(clients.total_acknowledged() + 30);
  clients.stop();
  check_every_member_holds(cluster, clients);
}

TEST_CASE("a partitioned leader never acknowledges its proposals, and the majority overwrites them") {
  test_cluster cluster(3, [](raft_options& o) { o.request_timeout = 60s; });
  cluster.start_all();
  const node_id stale = cluster.wait_for_leader();
  for (int i = 0; i < 5; ++i) REQUIRE(cluster.io().run(propose_to_leader(cluster, put("before", std::to_string(i)))));

  cluster.network().isolate(stale);
  std::vector<std::future<result<std::string>>> stale_answers = propose_stale(cluster, stale, 20);

  const std::set<node_id> majority = all_but(cluster, stale);
  cluster.wait_for_leader(majority);
  for (int i = 0; i < 40; ++i)
    REQUIRE(cluster.io().run(propose_to_leader(cluster, put("after-" + std::to_string(i), "y"), majority)));
  cluster.network().heal();

  for (auto& answer : stale_answers) {
    REQUIRE(answer.wait_for(hang_limit) == std::future_status::ready);
    const result<std::string> outcome = answer.get();
    INFO(outcome.error().message());
    CHECK((is_error(outcome, errc::leadership_lost) || is_error(outcome, errc::not_leader) ||
           is_error(outcome, errc::timeout)));
  }
  cluster.wait_applied(cluster.highest_commit());
  for (node_id id : cluster.ids()) CHECK(cluster.machine(id).get("after-39") == "y");
  check_no_stale_entry_applied(cluster, 20);
}

TEST_CASE("a node whose disk fails stops acknowledging, and the rest of the group carries on") {
  const bool leader_fails = GENERATE(true, false);
  INFO((leader_fails ? "the leader's disk fails" : "a follower's disk fails"));
  test_cluster cluster(3);
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  for (int i = 0; i < 5; ++i) REQUIRE(cluster.io().run(propose_to_leader(cluster, put("before", std::to_string(i)))));
  const node_id failing = leader_fails ? leader : node_id(leader.value % 3 + 1);
  std::shared_ptr<raft> broken = cluster.node(failing);

  cluster.log(failing).fail_writes();
  if (leader_fails) {
    CHECK(is_error(cluster.io().run(broken->propose(put("k", "lost"))), errc::storage_failed));
  } else {
    REQUIRE(cluster.io().run(propose_to_leader(cluster, put("k", "v"))));
  }
  eventually([&] { return broken->get_metrics().role == "stopped"; }, "the failing node stops");
  const metrics stopped = broken->get_metrics();
  CHECK_THAT(stopped.stop_reason, Catch::Matchers::Contains("injected disk failure"));
  CHECK(is_error(cluster.io().run(broken->propose(put("k", "refused"))), errc::storage_failed));
  CHECK(is_error(cluster.io().run(broken->read(get("k"))), errc::storage_failed));
  CHECK_THROWS_AS(cluster.io().run(broken->handle_heartbeat(heartbeat_request{})), std::system_error);

  const std::set<node_id> healthy = all_but(cluster, failing);
  cluster.wait_for_leader(healthy);
  for (int i = 0; i < 20; ++i)
    REQUIRE(cluster.io().run(propose_to_leader(cluster, put("after-" + std::to_string(i), "y"), healthy)));
  for (node_id id : healthy) {
    eventually([&] { return cluster.machine(id).get("after-19") == "y"; }, "the healthy nodes apply new writes");
  }
  CHECK(cluster.machine(failing).get("after-0").empty());
  CHECK(broken->get_metrics().totals.log_writes == stopped.totals.log_writes);
}

}  // namespace coraft::test
