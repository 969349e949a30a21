// Snapshots in the engine: building them and compacting the log behind them,
// catching a follower up by snapshot, restarting from a snapshot and the log
// after it, and answering callers whose entries a snapshot replaced.
#include "engine_test_support.h"

#include <catch2/catch.hpp>

#include <asio/co_spawn.hpp>
#include <coraft/logging.h>

namespace coraft::test {
namespace {

log_state stored_shape(test_cluster& cluster, node_id id) { return cluster.io().run(cluster.log(id).read_log_state()); }

std::optional<snapshot_meta> snapshot_of(test_cluster& cluster, node_id id) {
  return cluster.io().run(cluster.machine(id).current_snapshot());
}

// A follower read on `node`, again while no leader is known to it.
result<std::string> follower_read(test_cluster& cluster, raft& node, const std::string& key) {
  result<std::string> answer(make_error_code(errc::not_leader));
  for (int attempt = 0; attempt < 1000 && is_error(answer, errc::not_leader); ++attempt) {
    answer = cluster.io().run(node.read(get(key), read_mode::follower));
    if (is_error(answer, errc::not_leader)) std::this_thread::sleep_for(10ms);
  }
  return answer;
}

node_id a_follower(test_cluster& cluster, node_id leader) { return node_id(leader.value % cluster.ids().size() + 1); }

}  // namespace

TEST_CASE("a follower cut off while the leader compacts is caught up by snapshot and ends with the same state") {
  test_cluster cluster(3, snapshot_often);
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  const node_id lagging = a_follower(cluster, leader);
  session_clients clients(cluster, 4);
  clients.wait_for_more(20);

  cluster.network().isolate(lagging);
  const index_t cut_at = cluster.node(lagging)->get_metrics().last_log;
  clients.wait_for_more(150);
  const node_id compacting = cluster.wait_for_leader();
  CHECK(cluster.node(compacting)->get_metrics().totals.snapshots_built > 0);
  // Compacted past what the follower holds: only a snapshot can catch it up.
  eventually([&] { return stored_shape(cluster, compacting).purged.index > cut_at; }, "the leader compacts its log");

  cluster.network().heal();
  std::shared_ptr<raft> follower = cluster.node(lagging);
  eventually([&] { return follower->get_metrics().totals.snapshots_installed > 0; }, "the follower installs a snapshot");
  // A follower read begun after a write was acknowledged sees it, also when
  // the follower gets there by snapshot.
  const result<std::string> put_answer = cluster.io().run(propose_to_leader(cluster, put("after-heal", "seen")));
  REQUIRE(put_answer);
  const result<std::string> read_answer = follower_read(cluster, *follower, "after-heal");
  REQUIRE(read_answer);
  CHECK(*read_answer == "seen");

  clients.wait_for_more(40);
  clients.stop();
  check_every_member_holds(cluster, clients);
  check_same_state_everywhere(cluster);
  CHECK(follower->get_metrics().snapshot.index > cut_at);
}

TEST_CASE("nodes restarted after compaction restore from their snapshot and the log after it") {
  test_cluster cluster(3, snapshot_often);
  cluster.start_all();
  session_clients clients(cluster, 4);
  clients.wait_for_more(120);

  SECTION("one follower at a time") {
    for (node_id id : cluster.ids()) {
      if (cluster.leader() == id) continue;
      cluster.stop(id);
      clients.wait_for_more(10);
      cluster.start(id);
      clients.wait_for_more(30);
    }
  }
  SECTION("the whole group at once") {
    for (node_id id : cluster.ids()) cluster.stop(id);
    for (node_id id : cluster.ids()) {
      INFO("node " << id.value);
      const std::optional<snapshot_meta> snapshot = snapshot_of(cluster, id);
      REQUIRE(snapshot);
      const log_state shape = stored_shape(cluster, id);
      CHECK(shape.purged.index > index_t{});
      CHECK(shape.purged.index <= snapshot->last_included.index);
      cluster.start(id);
      // It starts from the snapshot with the log after it. (Only the first
      // node to start cannot have moved on since: it has no quorum.)
      const metrics restored = cluster.node(id)->get_metrics();
      CHECK(restored.snapshot >= snapshot->last_included);
      CHECK(restored.last_log >= shape.last.index);
      CHECK(restored.applied >= snapshot->last_included.index);
      if (id == node_id(1)) {
        CHECK(restored.snapshot == snapshot->last_included);
        CHECK(restored.last_log == shape.last.index);
      }
    }
  }
  clients.wait_for_more(60);
  clients.stop();
  check_every_member_holds(cluster, clients);
  check_same_state_everywhere(cluster);
}

TEST_CASE("an install stopped between the state machine's swap and the log's purge is finished at the next start") {
  test_cluster cluster(3, snapshot_often);
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  const node_id interrupted = a_follower(cluster, leader);
  session_clients clients(cluster, 3);
  clients.wait_for_more(10);
  cluster.stop(interrupted);
  clients.wait_for_more(100);

  // The state machine takes the leader's snapshot; the log is left as it was,
  // behind the snapshot, as a crash right after the swap would leave it.
  memory_kv_state_machine& source = cluster.machine(leader);
  memory_kv_state_machine& target = cluster.machine(interrupted);
  const snapshot_meta meta = snapshot_of(cluster, leader).value();
  std::unique_ptr<snapshot_source> data = cluster.io().run(source.open_snapshot());
  std::unique_ptr<snapshot_sink> sink = cluster.io().run(target.begin_receive_snapshot(meta));
  while (std::optional<std::string> chunk = cluster.io().run(data->next_chunk()))
    cluster.io().run(sink->write_chunk(std::move(*chunk)));
  cluster.io().run(sink->finish());
  cluster.io().run(target.install_received_snapshot(meta));
  REQUIRE(stored_shape(cluster, interrupted).last.index < meta.last_included.index);

  // Without the purge at start, the node's next write would not continue
  // its stored log, and storage would refuse it.
  cluster.start(interrupted);
  CHECK(stored_shape(cluster, interrupted).purged.index >= meta.last_included.index);
  CHECK(cluster.node(interrupted)->get_metrics().snapshot >= meta.last_included);
  clients.wait_for_more(30);
  clients.stop();
  check_every_member_holds(cluster, clients);
  check_same_state_everywhere(cluster);
}

TEST_CASE("trigger_snapshot builds a snapshot at once, compacts behind it, and answers its last entry") {
  test_cluster cluster(3, [](raft_options& options) {
    options.snapshot_every_entries = 0;
    options.log_entries_kept_after_snapshot = 3;
  });
  cluster.start_all();
  for (int i = 0; i < 10; ++i) REQUIRE(cluster.io().run(propose_to_leader(cluster, put("k", std::to_string(i)))));
  cluster.wait_applied(cluster.highest_commit());
  for (node_id id : cluster.ids()) CHECK(cluster.node(id)->get_metrics().totals.snapshots_built == 0);

  // Any member snapshots on request, the leader and followers alike.
  for (node_id id : cluster.ids()) {
    INFO("node " << id.value);
    std::shared_ptr<raft> node = cluster.node(id);
    const index_t applied = node->get_metrics().applied;
    const result<log_id> built = cluster.io().run(node->trigger_snapshot());
    REQUIRE(built);
    CHECK(built->index >= applied);
    CHECK(snapshot_of(cluster, id)->last_included == *built);
    const metrics m = node->get_metrics();
    CHECK(m.snapshot == *built);
    CHECK(m.totals.snapshots_built == 1);
    eventually([&] { return stored_shape(cluster, id).purged.index == built->index - 3; }, "the log is compacted");
  }
  REQUIRE(cluster.io().run(propose_to_leader(cluster, put("k", "after"))));
  cluster.wait_applied(cluster.highest_commit());
  for (node_id id : cluster.ids()) CHECK(cluster.machine(id).get("k") == "after");

  std::shared_ptr<raft> stopped = cluster.node(node_id(1));
  cluster.stop(node_id(1));
  CHECK(cluster.io().run(stopped->trigger_snapshot()).error() == make_error_code(errc::shutting_down));
}

TEST_CASE("proposals of a cut-off leader whose entries a snapshot replaced are answered, and none is applied") {
  test_cluster cluster(3, [](raft_options& options) {
    snapshot_often(options);
    options.request_timeout = 60s;
  });
  set_log_sink(nullptr, log_level::info);
  cluster.start_all();
  const node_id stale = cluster.wait_for_leader();
  REQUIRE(cluster.io().run(propose_to_leader(cluster, put("before", "x"))));

  cluster.network().isolate(stale);
  std::vector<std::future<result<std::string>>> stale_answers = propose_stale(cluster, stale, 20);
  const std::set<node_id> majority = all_but(cluster, stale);
  // The clients write to the majority's leader: the cut-off one would hold
  // their writes until request_timeout.
  session_clients clients(cluster, 3, majority);
  clients.wait_for_more(150);
  REQUIRE(stored_shape(cluster, cluster.wait_for_leader(majority)).purged.index >
          cluster.node(stale)->get_metrics().last_log);

  cluster.network().heal();
  for (auto& answer : stale_answers) {
    REQUIRE(answer.wait_for(hang_limit) == std::future_status::ready);
    const result<std::string> outcome = answer.get();
    INFO(outcome.error().message());
    CHECK((is_error(outcome, errc::leadership_lost) || is_error(outcome, errc::timeout)));
  }
  // Answered as the install began.
  std::shared_ptr<raft> caught_up = cluster.node(stale);
  eventually([&] { return caught_up->get_metrics().totals.snapshots_installed > 0; }, "the old leader installs");
  clients.wait_for_more(20);
  clients.stop();
  check_every_member_holds(cluster, clients);
  check_no_stale_entry_applied(cluster, 20);
}

}  // namespace coraft::test
