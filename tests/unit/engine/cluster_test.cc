// Real nodes over the in-process network: elections, replication, reads,
// restarts, the node's life cycle and what it reports.
#include "engine_test_support.h"

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <asio/co_spawn.hpp>

#include <mutex>

namespace coraft::test {
namespace {

membership only(std::uint64_t id) {
  membership config;
  config.voters = {node_id(id)};
  return config;
}

std::uint64_t number_in(const std::string& value) { return value.empty() ? 0 : std::stoull(value); }

// What concurrent readers found wrong, collected for the test thread.
struct violations {
  std::mutex mutex;
  std::vector<std::string> found;
  void add(std::string what) {
    std::lock_guard lock(mutex);
    found.push_back(std::move(what));
  }
};

}  // namespace

TEST_CASE("clusters of 1, 3 and 5 nodes elect a leader and every member applies what it commits") {
  const std::size_t size = GENERATE(1, 3, 5);
  test_cluster cluster(size);
  cluster.start_all();
  cluster.wait_for_leader();
  for (int i = 0; i < 20; ++i) {
    const std::string value = "v" + std::to_string(i);
    result<std::string> answer = cluster.io().run(propose_to_leader(cluster, put("k" + std::to_string(i), value)));
    REQUIRE(answer);
    CHECK(*answer == value);
  }
  cluster.wait_applied(cluster.highest_commit());
  for (node_id id : cluster.ids())
    for (int i = 0; i < 20; ++i) CHECK(cluster.machine(id).get("k" + std::to_string(i)) == "v" + std::to_string(i));

  // Election safety: never two leaders in one term.
  std::map<term_t, int> leaders_per_term;
  for (node_id id : cluster.ids()) {
    const metrics m = cluster.node(id)->get_metrics();
    if (m.role == "leader") ++leaders_per_term[m.term];
    CHECK(m.config.voters.size() == size);
  }
  for (const auto& [term, leaders] : leaders_per_term) CHECK(leaders == 1);
}

TEST_CASE("reads in every mode return values consistent with acknowledged writes") {
  test_cluster cluster(3);
  cluster.start_all();
  cluster.wait_for_leader();

  std::atomic<std::uint64_t> acknowledged{0};  // every write up to here was acknowledged
  std::atomic<std::uint64_t> started{0};       // no write beyond here was started
  std::atomic<bool> writing{true};
  violations wrong;
  std::map<read_mode, std::atomic<int>> served;
  served[read_mode::read_index];
  served[read_mode::lease];
  served[read_mode::follower];

  auto writer = [&]() -> asio::awaitable<void> {
    for (std::uint64_t value = 1; value <= 60; ++value) {
      started = value;
      result<std::string> answer = co_await propose_to_leader(cluster, put("x", std::to_string(value), 1, value));
      if (!answer) wrong.add("write " + std::to_string(value) + " failed: " + answer.error().message());
      acknowledged = value;
    }
    writing = false;
  };
  // A read that begins after write `before` was acknowledged must see it, and
  // cannot see a write that had not started when it ended.
  auto reader = [&](read_mode mode, bool on_leader) -> asio::awaitable<void> {
    while (writing) {
      std::optional<node_id> leader = cluster.leader();
      node_id target = leader.value_or(node_id(1));
      if (!on_leader && leader) target = node_id(leader->value % 3 + 1);
      std::shared_ptr<raft> node = cluster.node(target);
      const std::uint64_t before = acknowledged;
      result<std::string> answer = co_await node->read(get("x"), mode);
      const std::uint64_t after = started;
      if (answer) {
        const std::uint64_t seen = number_in(*answer);
        if (seen < before || seen > after)
          wrong.add("read saw " + std::to_string(seen) + " outside [" + std::to_string(before) + ", " +
                    std::to_string(after) + "]");
        ++served[mode];
      } else if (answer.error() != errc::not_leader && answer.error() != errc::timeout) {
        wrong.add("read failed: " + answer.error().message());
      }
      co_await pause_for(2ms);
    }
  };

  std::vector<std::future<void>> running;
  running.push_back(asio::co_spawn(cluster.io().context(), writer(), asio::use_future));
  running.push_back(asio::co_spawn(cluster.io().context(), reader(read_mode::read_index, true), asio::use_future));
  running.push_back(asio::co_spawn(cluster.io().context(), reader(read_mode::lease, true), asio::use_future));
  running.push_back(asio::co_spawn(cluster.io().context(), reader(read_mode::follower, false), asio::use_future));
  running.push_back(asio::co_spawn(cluster.io().context(), reader(read_mode::follower, true), asio::use_future));
  for (auto& done : running) REQUIRE(done.wait_for(hang_limit) == std::future_status::ready);

  CHECK(wrong.found.empty());
  for (const std::string& problem : wrong.found) UNSCOPED_INFO(problem);
  CHECK(served[read_mode::read_index] > 0);
  CHECK(served[read_mode::lease] > 0);
  CHECK(served[read_mode::follower] > 0);
}

TEST_CASE("followers refuse proposals and leader reads with a hint naming the leader") {
  test_cluster cluster(3);
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  const node_id follower(leader.value % 3 + 1);
  std::shared_ptr<raft> node = cluster.node(follower);
  eventually([&] { return node->get_metrics().leader == leader; }, "the follower learns who leads");
  for (result<std::string> answer :
       {cluster.io().run(node->propose(put("k", "v"))), cluster.io().run(node->read(get("k"), read_mode::read_index))}) {
    CHECK(is_error(answer, errc::not_leader));
    CHECK(answer.leader().id == leader);
    CHECK(answer.leader().address == "node-" + std::to_string(leader.value));
  }
}

TEST_CASE("a batch of proposals commits in its order on every member, and a follower refuses each with a hint") {
  test_cluster cluster(3);
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  std::vector<std::string> commands;
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    commands.push_back(append("log", std::to_string(i % 10)));
    expected += std::to_string(i % 10);
  }
  const std::vector<result<std::string>> answers = cluster.io().run(cluster.node(leader)->propose_batch(commands));
  REQUIRE(answers.size() == commands.size());
  for (const result<std::string>& answer : answers) CHECK(answer);
  CHECK(*cluster.io().run(cluster.node(leader)->read(get("log"))) == expected);
  check_same_state_everywhere(cluster);
  CHECK(cluster.io().run(cluster.node(leader)->propose_batch({})).empty());

  const node_id follower(leader.value % 3 + 1);
  eventually([&] { return cluster.node(follower)->get_metrics().leader == leader; }, "the follower learns who leads");
  for (const result<std::string>& answer :
       cluster.io().run(cluster.node(follower)->propose_batch({put("x", "1"), put("y", "2")}))) {
    CHECK(is_error(answer, errc::not_leader));
    CHECK(answer.leader().id == leader);
  }
}

TEST_CASE("a restarted cluster recovers its state, also into a state machine that lost it") {
  test_cluster cluster(3);
  cluster.start_all();
  cluster.wait_for_leader();
  for (int i = 0; i < 10; ++i) REQUIRE(cluster.io().run(propose_to_leader(cluster, append("log", std::to_string(i)))));
  cluster.wait_applied(cluster.highest_commit());
  for (node_id id : cluster.ids()) cluster.stop(id);

  cluster.forget_state(node_id(1));
  cluster.start_all();
  cluster.wait_for_leader();
  REQUIRE(cluster.io().run(propose_to_leader(cluster, append("log", "!"))));
  cluster.wait_applied(cluster.highest_commit());
  for (node_id id : cluster.ids()) CHECK(cluster.machine(id).get("log") == "0123456789!");
}

TEST_CASE("metrics report the leader's view of its peers and the counters, also as JSON") {
  test_cluster cluster(3);
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  for (int i = 0; i < 10; ++i) REQUIRE(cluster.io().run(propose_to_leader(cluster, put("k", std::to_string(i)))));
  cluster.wait_applied(cluster.highest_commit());
  std::shared_ptr<raft> node = cluster.node(leader);
  eventually([&] { return node->get_metrics().peers.size() == 2; }, "the leader reports both followers");

  const metrics m = node->get_metrics();
  CHECK(m.id == leader);
  CHECK(m.role == "leader");
  CHECK(m.leader == leader);
  CHECK(m.applied <= m.commit);
  CHECK(m.commit <= m.last_log);
  CHECK(m.totals.proposals_accepted >= 10);
  CHECK(m.totals.log_writes > 0);
  CHECK(m.totals.entries_written >= 10);
  CHECK(m.totals.messages_sent > 0);
  CHECK(m.totals.entries_sent >= 20);
  CHECK(m.totals.entries_applied >= 10);
  for (const peer_metrics& peer : m.peers) {
    CHECK(peer.id != leader);
    CHECK(!peer.state.empty());
    CHECK(peer.match < peer.next);
    CHECK(peer.since_last_contact >= 0ms);
  }
  for (node_id id : cluster.ids())
    if (id != leader) CHECK(cluster.node(id)->get_metrics().peers.empty());

  const nlohmann::json json = nlohmann::json::parse(to_json(m));
  CHECK(json["id"] == leader.value);
  CHECK(json["role"] == "leader");
  CHECK(json["commit"] == m.commit.value);
  CHECK(json["peers"].size() == 2);
  CHECK(json["totals"]["entries_written"] == m.totals.entries_written);
  CHECK(json["config"]["voters"].size() == 3);
  CHECK(json["stop_reason"] == "");
}

TEST_CASE("wait_for wakes when its condition comes true and gives up after the timeout") {
  test_cluster cluster(1);
  cluster.start_all();
  std::shared_ptr<raft> node = cluster.node(node_id(1));
  CHECK(cluster.io().run(node->wait_for([](const metrics& m) { return m.role == "leader"; }, 60s)));
  CHECK_FALSE(cluster.io().run(node->wait_for([](const metrics& m) { return m.term.value > 1000; }, 50ms)));
}

TEST_CASE("start() refuses invalid options with an error that names the field") {
  io_threads io;
  in_process_network net;
  using tweak = std::function<void(raft_options&)>;
  const std::vector<std::pair<tweak, std::string>> cases = {
      {[](raft_options& o) { o.id = no_node; }, "id"},
      {[](raft_options& o) { o.tick_interval = 0ms; }, "tick_interval"},
      {[](raft_options& o) { o.protocol.election_timeout_max_ticks = 1; }, "protocol.election_timeout_max_ticks"},
      {[](raft_options& o) { o.initial_members = only(7); }, "initial_members"},
      {[](raft_options& o) { o.max_pending_proposals = 0; }, "max_pending_proposals"},
      {[](raft_options& o) { o.max_apply_queue_bytes = 0; }, "max_apply_queue_bytes"},
      {[](raft_options& o) { o.request_timeout = 0ms; }, "request_timeout"},
  };
  for (const auto& [change, field] : cases) {
    raft_options options = test_raft_options(node_id(1), only(1));
    change(options);
    raft node(io.executor(), options, std::make_shared<memory_log_storage>(), std::make_shared<memory_kv_state_machine>(),
              net.factory_for(node_id(1)));
    try {
      io.run(node.start());
      FAIL("start() accepted an invalid " << field);
    } catch (const std::system_error& refused) {
      CHECK(refused.code() == errc::invalid_argument);
      CHECK_THAT(std::string(refused.what()), Catch::Matchers::Contains(field));
    }
  }
}

TEST_CASE("a node that does not serve answers shutting_down and refuses incoming requests") {
  io_threads io;
  in_process_network net;
  auto node = std::make_unique<raft>(io.executor(), test_raft_options(node_id(1), only(1)),
                                     std::make_shared<memory_log_storage>(), std::make_shared<memory_kv_state_machine>(),
                                     net.factory_for(node_id(1)));
  auto refuses_everything = [&] {
    CHECK(is_error(io.run(node->propose(put("k", "v"))), errc::shutting_down));
    CHECK(is_error(io.run(node->read(get("k"))), errc::shutting_down));
    CHECK_THROWS_AS(io.run(node->handle_vote(vote_request{})), std::system_error);
    CHECK_THROWS_AS(io.run(node->handle_append(append_request{})), std::system_error);
    CHECK(node->get_metrics().role == "stopped");
    CHECK_FALSE(io.run(node->wait_for([](const metrics&) { return false; }, 60s)));
  };
  refuses_everything();

  io.run(node->start());
  CHECK(io.run(node->wait_for([](const metrics& m) { return m.role == "leader"; }, 60s)));
  CHECK(io.run(node->propose(put("k", "v"))));
  CHECK_THROWS_AS(io.run(node->start()), std::system_error);

  io.run(node->shutdown());
  refuses_everything();
  io.run(node->shutdown());
  node.reset();
}

TEST_CASE("a node destroyed before start, or started and never shut down, cleans up") {
  io_threads io;
  in_process_network net;
  {
    raft never_started(io.executor(), test_raft_options(node_id(1), only(1)), std::make_shared<memory_log_storage>(),
                       std::make_shared<memory_kv_state_machine>(), net.factory_for(node_id(1)));
  }
  auto log = std::make_shared<memory_log_storage>();
  {
    raft abandoned(io.executor(), test_raft_options(node_id(1), only(1)), log,
                   std::make_shared<memory_kv_state_machine>(), net.factory_for(node_id(1)));
    io.run(abandoned.start());
    CHECK(io.run(abandoned.wait_for([](const metrics& m) { return m.role == "leader"; }, 60s)));
  }
  // The log the abandoned node wrote is whole: a new node starts from it.
  raft successor(io.executor(), test_raft_options(node_id(1), only(1)), log, std::make_shared<memory_kv_state_machine>(),
                 net.factory_for(node_id(1)));
  io.run(successor.start());
  REQUIRE(io.run(successor.wait_for([](const metrics& m) { return m.role == "leader"; }, 60s)));
  CHECK(io.run(successor.propose(put("k", "v"))));
  io.run(successor.shutdown());
}

}  // namespace coraft::test
