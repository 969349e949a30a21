// tcp_node: three members in this process, talking TCP on 127.0.0.1, with
// their logs in LevelDB under a temporary directory.
#include <coraft/memory_kv_state_machine.h>
#include <coraft/tcp_node.h>

#include "../engine/engine_test_support.h"
#include "../storage/temporary_directory.h"

#include <asio/ip/tcp.hpp>

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace coraft {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::io_threads;

// Ports of 127.0.0.1 that nothing listens on. Each probe stays bound until
// the object goes, so no port is handed out twice.
class free_ports {
 public:
  std::uint16_t next() {
    probes_.emplace_back(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return probes_.back().local_endpoint().port();
  }

 private:
  asio::io_context io_;
  std::vector<asio::ip::tcp::acceptor> probes_;
};

std::string local(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Members 1..size with free ports; elections slow enough for two shared cores.
cluster_config local_cluster(const std::filesystem::path& data_dir, std::size_t size) {
  free_ports ports;
  json members = json::array();
  for (std::size_t id = 1; id <= size; ++id) {
    members.push_back({{"id", id}, {"peer_address", local(ports.next())}, {"client_address", local(ports.next())}});
  }
  return parse_cluster_config({{"cluster_id", "tcp-node-test"},
                               {"data_dir", data_dir.string()},
                               {"members", members},
                               {"timing", {{"election_timeout_min_ticks", 30}, {"election_timeout_max_ticks", 60}}},
                               {"network", {{"call_timeout_ms", 60'000}}}});
}

// The members of one cluster in this process; each keeps its key-value state
// in memory and its log on disk.
class local_members {
 public:
  local_members(io_threads& io, cluster_config config) : io_(io), config_(std::move(config)) {}
  ~local_members() { stop_all(); }

  void start_all() {
    for (const cluster_member& member : config_.members) {
      machines_.push_back(std::make_shared<memory_kv_state_machine>());
      nodes_.push_back(std::make_unique<tcp_node>(io_.executor(), config_, member.id, machines_.back()));
      io_.run(nodes_.back()->start());
    }
  }

  void stop_all() {
    for (auto& node : nodes_) io_.run(node->stop());
    nodes_.clear();
    machines_.clear();
  }

  void stop(node_id id) { io_.run(node(id).stop()); }

  // Starts `id` again with an empty state machine, as a process restarted
  // after a crash would (its log is on disk).
  void restart(node_id id) {
    const std::size_t slot = id.value - 1;
    nodes_.at(slot).reset();  // releases its log's lock
    machines_.at(slot) = std::make_shared<memory_kv_state_machine>();
    nodes_.at(slot) = std::make_unique<tcp_node>(io_.executor(), config_, id, machines_.at(slot));
    io_.run(nodes_.at(slot)->start());
  }

  tcp_node& node(node_id id) { return *nodes_.at(id.value - 1); }
  memory_kv_state_machine& machine(node_id id) { return *machines_.at(id.value - 1); }
  const cluster_config& config() const { return config_; }

  // Follows not_leader hints from the member that last led; retries whatever
  // was not applied or may not have been (the command carries a session, so
  // a retry is applied at most once).
  asio::awaitable<result<std::string>> propose(std::string command) {
    node_id target(last_leader_.load());
    result<std::string> answer;
    for (int attempt = 0; attempt < 1000; ++attempt) {
      answer = co_await node(target).raft().propose(command);
      if (answer) {
        last_leader_ = target.value;
        co_return answer;
      }
      if (answer.error() == errc::not_leader && answer.leader().id != no_node) {
        CHECK(answer.leader().address == config_.member(answer.leader().id)->peer_address);
        target = answer.leader().id;
      } else {
        target = node_id(target.value % config_.members.size() + 1);
        co_await test::pause_for(20ms);
      }
    }
    co_return answer;
  }

 private:
  io_threads& io_;
  cluster_config config_;
  std::vector<std::shared_ptr<memory_kv_state_machine>> machines_;
  std::vector<std::unique_ptr<tcp_node>> nodes_;
  std::atomic<std::uint64_t> last_leader_{1};  // callers on any io thread
};

TEST_CASE("three tcp_nodes commit a command, stop, and find it in their logs after a restart") {
  testing::temporary_directory data_dir;
  io_threads io;
  local_members cluster(io, local_cluster(data_dir.path(), 3));
  cluster.start_all();

  const result<std::string> answer = io.run(cluster.propose(test::put("greeting", "hello", 7, 1)));
  REQUIRE(answer);
  CHECK(*answer == "hello");
  for (node_id id : {node_id(1), node_id(2), node_id(3)}) {
    test::eventually([&] { return cluster.machine(id).get("greeting") == "hello"; }, "every member applies the put");
    CHECK(std::filesystem::exists(cluster.config().log_directory(id)));
  }
  cluster.stop_all();

  // The state machines start empty: what they apply now comes from the logs on disk.
  cluster.start_all();
  for (node_id id : {node_id(1), node_id(2), node_id(3)}) {
    test::eventually([&] { return cluster.machine(id).get("greeting") == "hello"; },
                     "every member applies its log again");
  }
  const result<std::string> retry = io.run(cluster.propose(test::put("greeting", "again", 7, 1)));
  REQUIRE(retry);
  CHECK(*retry == "hello");  // the session remembered the first answer: applied once
}

// Proposes puts of keys k0..k999 `count` times in all, from `callers`
// concurrent callers, each put retried until it is applied.
void propose_puts(io_threads& io, local_members& cluster, int count, int callers) {
  auto caller = [&cluster, count, callers](int first) -> asio::awaitable<void> {
    for (int i = first; i < count; i += callers) {
      const result<std::string> answer =
          co_await cluster.propose(test::put("k" + std::to_string(i % 1000), std::to_string(i)));
      if (!answer) throw std::system_error(answer.error(), "a put was never applied");
    }
  };
  std::vector<std::future<void>> running;
  for (int first = 0; first < callers; ++first)
    running.push_back(asio::co_spawn(io.context(), caller(first), asio::use_future));
  for (auto& done : running) {
    REQUIRE(done.wait_for(test::hang_limit) == std::future_status::ready);
    done.get();
  }
}

node_id leader_of(local_members& cluster, const std::vector<node_id>& among) {
  std::optional<node_id> leader;
  test::eventually(
      [&] {
        for (node_id id : among)
          if (cluster.node(id).raft().get_metrics().role == "leader") leader = id;
        return leader.has_value();
      },
      "a leader");
  return *leader;
}

TEST_CASE("a follower 100,000 entries behind a compacted leader catches up by snapshot over TCP") {
  testing::temporary_directory data_dir;
  io_threads io;
  cluster_config config = local_cluster(data_dir.path(), 3);
  config.raft.snapshot_every_entries = 10'000;
  config.raft.log_entries_kept_after_snapshot = 1'000;
  local_members cluster(io, config);
  cluster.start_all();
  REQUIRE(io.run(cluster.propose(test::put("first", "x"))));
  const node_id leader = leader_of(cluster, {node_id(1), node_id(2), node_id(3)});
  const node_id behind(leader.value % 3 + 1);
  const index_t left_at = cluster.node(behind).raft().get_metrics().last_log;
  cluster.stop(behind);

  propose_puts(io, cluster, 100'000, 64);
  std::vector<node_id> others;
  for (node_id id : {node_id(1), node_id(2), node_id(3)})
    if (id != behind) others.push_back(id);
  const node_id current = leader_of(cluster, others);
  const metrics leading = cluster.node(current).raft().get_metrics();
  REQUIRE(leading.commit.value >= left_at.value + 100'000);
  // The entries the stopped follower needs next are gone from the leader's log.
  REQUIRE(leading.snapshot.index.value > left_at.value + 1'000);

  cluster.restart(behind);
  raft& caught_up = cluster.node(behind).raft();
  test::eventually([&] { return caught_up.get_metrics().applied >= leading.commit; }, "the follower catches up");
  CHECK(caught_up.get_metrics().totals.snapshots_installed >= 1);
  CHECK(cluster.machine(behind).contents() == cluster.machine(current).contents());
}

TEST_CASE("a node that the cluster file does not list is refused") {
  testing::temporary_directory data_dir;
  io_threads io;
  const cluster_config config = local_cluster(data_dir.path(), 3);
  CHECK_THROWS_AS(tcp_node(io.executor(), config, node_id(4), std::make_shared<memory_kv_state_machine>()),
                  cluster_config_error);
}

TEST_CASE("a node whose peer port is taken fails to start and leaves nothing running") {
  testing::temporary_directory data_dir;
  io_threads io;
  const cluster_config config = local_cluster(data_dir.path(), 1);
  asio::io_context other;
  auto endpoint = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                          static_cast<std::uint16_t>(std::stoi(
                                              config.members[0].peer_address.substr(std::string("127.0.0.1:").size()))));
  asio::ip::tcp::acceptor squatter(other, endpoint);

  tcp_node node(io.executor(), config, node_id(1), std::make_shared<memory_kv_state_machine>());
  CHECK_THROWS_AS(io.run(node.start()), std::system_error);
  CHECK(node.raft().get_metrics().role == "stopped");
  io.run(node.stop());  // nothing to stop: must not hang or throw
}

TEST_CASE("a one-member cluster leads by itself and serves linearizable reads") {
  testing::temporary_directory data_dir;
  io_threads io;
  local_members cluster(io, local_cluster(data_dir.path(), 1));
  cluster.start_all();
  REQUIRE(io.run(cluster.propose(test::put("k", "v"))));
  const result<std::string> value = io.run(cluster.node(node_id(1)).raft().read(test::get("k")));
  REQUIRE(value);
  CHECK(*value == "v");
}

}  // namespace
}  // namespace coraft
