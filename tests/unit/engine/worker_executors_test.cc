// Nodes that call their log and state machine on the application's executor
// (worker_executors) instead of threads of their own: they start no thread,
// and everything that runs on a worker (writes, applies, snapshots, restores)
// still happens one call at a time and in order. The cluster's io_context has
// two threads, so only the engine's strands keep those calls apart.
#include "engine_test_support.h"

#include <catch2/catch.hpp>

#include <coraft/memory_log_storage.h>

#include <filesystem>

namespace coraft::test {
namespace {

std::size_t threads_of_this_process() {
  const auto tasks = std::filesystem::directory_iterator("/proc/self/task");
  return static_cast<std::size_t>(std::distance(begin(tasks), end(tasks)));
}

}  // namespace

TEST_CASE("by default each node starts a thread for its log and one for its state machine") {
  test_cluster cluster(3);
  const std::size_t before = threads_of_this_process();
  cluster.start_all();
  CHECK(threads_of_this_process() == before + 2 * 3);
}

TEST_CASE("nodes on the application's executor start no thread, and replicate, compact and restart as usual") {
  cluster_setup setup;
  setup.tweak = snapshot_often;
  setup.workers_on_io = true;
  test_cluster cluster(setup);
  const std::size_t before = threads_of_this_process();
  cluster.start_all();
  CHECK(threads_of_this_process() == before);

  const node_id leader = cluster.wait_for_leader();
  session_clients clients(cluster, 8);
  clients.wait_for_more(200);
  const node_id restarted = node_id(leader.value % 3 + 1);
  cluster.stop(restarted);
  clients.wait_for_more(100);
  cluster.start(restarted);
  clients.wait_for_more(100);
  clients.stop();

  CHECK(cluster.io().run(cluster.machine(restarted).current_snapshot()).has_value());
  check_same_state_everywhere(cluster);
  for (int client = 0; client < clients.count(); ++client)
    CHECK(cluster.value(restarted, session_clients::key(client)) == clients.expected_value(client));
}

TEST_CASE("a node on the application's executor destroyed without shutdown lets go of its storage once its loops end") {
  io_threads io;
  in_process_network network;
  auto log = std::make_shared<memory_log_storage>();
  auto machine = std::make_shared<memory_kv_state_machine>();
  membership alone;
  alone.voters = {node_id(1)};
  {
    raft node(io.executor(), test_raft_options(node_id(1), alone), log, machine, network.factory_for(node_id(1)),
              {.log = io.executor(), .state_machine = io.executor()});
    io.run(node.start());
    eventually([&] { return node.get_metrics().role == "leader"; }, "the lone node leads");
    REQUIRE(io.run(node.propose(put("k", "v"))));
  }
  eventually([&] { return log.use_count() == 1 && machine.use_count() == 1; }, "the loops let go of the storage");
  CHECK(log.use_count() == 1);
  CHECK(machine.use_count() == 1);
  CHECK(machine->get("k") == "v");
}

}  // namespace coraft::test
