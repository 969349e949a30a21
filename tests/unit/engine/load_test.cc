// Many callers at once: every one is answered exactly once, the caps turn
// into errc::overloaded, and shutdown answers whoever is still waiting.
#include "engine_test_support.h"

#include <catch2/catch.hpp>

#include <asio/co_spawn.hpp>

#include <map>
#include <sstream>

namespace coraft::test {
namespace {

membership only_node_1() {
  membership config;
  config.voters = {node_id(1)};
  return config;
}

// Counts how often each token ("<n>;") occurs in a value built by appends.
void count_tokens(const std::string& value, std::map<std::uint64_t, int>& counts) {
  std::istringstream tokens(value);
  std::string token;
  while (std::getline(tokens, token, ';')) ++counts[std::stoull(token)];
}

// Runs `count` proposals at once, each on a coroutine of its own, and
// returns their answers once every one has one.
std::vector<result<std::string>> propose_all_at_once(io_threads& io, std::shared_ptr<raft> node,
                                                     std::vector<std::string> commands) {
  const std::size_t count = commands.size();
  std::vector<std::optional<result<std::string>>> answers(count);
  std::vector<std::atomic<int>> answer_counts(count);
  std::atomic<std::size_t> finished{0};
  std::atomic<int> escaped{0};
  for (std::size_t i = 0; i < count; ++i) {
    asio::co_spawn(
        io.context(),
        [&, i]() -> asio::awaitable<void> {
          result<std::string> answer = co_await node->propose(std::move(commands[i]));
          answers[i] = std::move(answer);
          ++answer_counts[i];
        },
        [&](std::exception_ptr error) {
          if (error) ++escaped;
          ++finished;
        });
  }
  eventually([&] { return finished == count; }, "every proposal is answered");
  CHECK(escaped == 0);
  std::vector<result<std::string>> out;
  for (std::size_t i = 0; i < count; ++i) {
    CHECK(answer_counts[i] == 1);
    out.push_back(std::move(*answers[i]));
  }
  return out;
}

// A state machine that can hold the apply thread, to fill the apply queue.
class held_machine final : public state_machine {
 public:
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    released_.notify_all();
  }

  asio::awaitable<applied_state> read_applied_state() override { return inner_.read_applied_state(); }
  asio::awaitable<std::vector<std::string>> apply(std::vector<log_entry> entries) override {
    {
      std::unique_lock lock(mutex_);
      released_.wait(lock, [this] { return !held_; });
    }
    co_return co_await inner_.apply(std::move(entries));
  }
  asio::awaitable<std::string> query(std::string request) override { return inner_.query(std::move(request)); }
  asio::awaitable<snapshot_meta> build_snapshot() override { return inner_.build_snapshot(); }
  asio::awaitable<std::optional<snapshot_meta>> current_snapshot() override { return inner_.current_snapshot(); }
  asio::awaitable<std::unique_ptr<snapshot_source>> open_snapshot() override { return inner_.open_snapshot(); }
  asio::awaitable<std::unique_ptr<snapshot_sink>> begin_receive_snapshot(snapshot_meta meta) override {
    return inner_.begin_receive_snapshot(std::move(meta));
  }
  asio::awaitable<void> install_received_snapshot(snapshot_meta meta) override {
    return inner_.install_received_snapshot(std::move(meta));
  }

 private:
  memory_kv_state_machine inner_;
  std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
};

// Options with the leader's caps on pending proposals and pending bytes.
std::function<void(raft_options&)> pending_caps(std::size_t proposals, std::uint64_t bytes) {
  return [=](raft_options& o) {
    o.max_pending_proposals = proposals;
    o.max_pending_bytes = bytes;
  };
}

}  // namespace

TEST_CASE("10,000 concurrent proposals each get exactly one answer, and each success is applied exactly once") {
  test_cluster cluster(3, [](raft_options& o) { o.request_timeout = 60s; });
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();

  constexpr std::size_t count = 10'000;
  std::vector<std::string> commands;
  for (std::size_t i = 0; i < count; ++i)
    commands.push_back(append("k" + std::to_string(i % 16), std::to_string(i) + ";"));
  std::vector<result<std::string>> answers = propose_all_at_once(cluster.io(), cluster.node(leader), commands);

  cluster.wait_applied(cluster.highest_commit());
  const kv::store reference = cluster.machine(leader).contents();
  std::map<std::uint64_t, int> applied;
  for (int key = 0; key < 16; ++key) count_tokens(reference.get("k" + std::to_string(key)), applied);
  for (node_id id : cluster.ids()) CHECK(cluster.machine(id).contents() == reference);

  // Without sessions a command applied twice would show its token twice.
  std::size_t succeeded = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const int times = applied.contains(i) ? applied[i] : 0;
    if (answers[i]) {
      ++succeeded;
      CHECK(times == 1);
    } else if (answers[i].error() == errc::timeout) {
      CHECK(times <= 1);
    } else {
      INFO("proposal " << i << ": " << answers[i].error().message());
      CHECK((is_error(answers[i], errc::leadership_lost) || is_error(answers[i], errc::not_leader) ||
             is_error(answers[i], errc::overloaded)));
      CHECK(times == 0);
    }
  }
  CHECK(succeeded > 0);
  const metrics m = cluster.node(leader)->get_metrics();
  CHECK(m.pending_proposals == 0);
  CHECK(m.pending_bytes == 0);
}

TEST_CASE("a batch's refused commands are answered in their places, and the others commit in order") {
  test_cluster cluster(1, pending_caps(3, 1000));
  cluster.start_all();
  cluster.wait_for_leader();
  std::shared_ptr<raft> node = cluster.node(node_id(1));
  const std::vector<result<std::string>> answers = cluster.io().run(node->propose_batch(
      {append("k", "a"), std::string(1001, 'x'), append("k", "b"), append("k", "c"), append("k", "d")}));
  REQUIRE(answers.size() == 5);
  CHECK(answers[0]);
  CHECK(is_error(answers[1], errc::invalid_argument));
  CHECK(answers[2]);
  CHECK(answers[3]);
  CHECK(is_error(answers[4], errc::overloaded));
  CHECK(*cluster.io().run(node->read(get("k"))) == "abc");
  // The admitted places were given back with the answers.
  for (const result<std::string>& answer :
       cluster.io().run(node->propose_batch({append("k", "d"), append("k", "e"), append("k", "f")})))
    CHECK(answer);
  CHECK(*cluster.io().run(node->read(get("k"))) == "abcdef");
}

TEST_CASE("the leader answers overloaded at once when its pending proposals or bytes reach the caps") {
  test_cluster cluster(1, pending_caps(8, 1000));
  cluster.start_all();
  cluster.wait_for_leader();
  std::shared_ptr<raft> node = cluster.node(node_id(1));
  REQUIRE(cluster.io().run(node->propose(put("warm", "up"))));

  cluster.log(node_id(1)).hold_writes();
  std::vector<std::future<result<std::string>>> waiting;
  for (int i = 0; i < 8; ++i)
    waiting.push_back(asio::co_spawn(cluster.io().context(), node->propose(put("k", std::to_string(i))), asio::use_future));
  eventually([&] { return node->get_metrics().pending_proposals == 8; }, "eight proposals wait for the disk");

  result<std::string> refused = cluster.io().run(node->propose(put("k", "one too many")));
  CHECK(is_error(refused, errc::overloaded));
  CHECK(refused.leader().id == node_id(1));
  CHECK(is_error(cluster.io().run(node->propose(std::string(1001, 'x'))), errc::invalid_argument));

  cluster.log(node_id(1)).release_writes();
  for (auto& answer : waiting) {
    REQUIRE(answer.wait_for(hang_limit) == std::future_status::ready);
    CHECK(answer.get());
  }

  cluster.log(node_id(1)).hold_writes();
  std::future<result<std::string>> big =
      asio::co_spawn(cluster.io().context(), node->propose(put("big", std::string(600, 'b'))), asio::use_future);
  eventually([&] { return node->get_metrics().pending_bytes > 600; }, "a big proposal waits for the disk");
  CHECK(is_error(cluster.io().run(node->propose(put("big2", std::string(600, 'c')))), errc::overloaded));
  cluster.log(node_id(1)).release_writes();
  REQUIRE(big.wait_for(hang_limit) == std::future_status::ready);
  CHECK(big.get());
  CHECK(node->get_metrics().totals.proposals_refused >= 2);
}

TEST_CASE("a slow state machine fills the apply queue and the leader answers overloaded until it drains") {
  io_threads io;
  in_process_network net;
  auto machine = std::make_shared<held_machine>();
  raft_options options = test_raft_options(node_id(1), only_node_1());
  options.max_apply_queue_bytes = 100;
  raft node(io.executor(), options, std::make_shared<memory_log_storage>(), machine, net.factory_for(node_id(1)));
  io.run(node.start());
  REQUIRE(io.run(node.wait_for([](const metrics& m) { return m.role == "leader"; }, 60s)));

  machine->hold();
  // Each command waits in the apply queue before the next is proposed: the
  // first leaves the queue under its 100 bytes, the second takes it over.
  std::vector<std::future<result<std::string>>> waiting;
  for (std::uint64_t queued_at_least : {60, 120}) {
    waiting.push_back(asio::co_spawn(io.context(), node.propose(put("k", std::string(60, 'v'))), asio::use_future));
    eventually([&] { return node.get_metrics().apply_queue_bytes >= queued_at_least; },
               "the committed entry waits for the state machine");
  }
  CHECK(is_error(io.run(node.propose(put("k", "more"))), errc::overloaded));

  machine->release();
  for (auto& answer : waiting) {
    REQUIRE(answer.wait_for(hang_limit) == std::future_status::ready);
    CHECK(answer.get());
  }
  eventually([&] { return node.get_metrics().apply_queue_bytes == 0; }, "the apply queue drains");
  CHECK(io.run(node.propose(put("k", "more"))));
  io.run(node.shutdown());
}

TEST_CASE("shutdown answers every proposal in flight without waiting for the disk") {
  test_cluster cluster(3);
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  std::shared_ptr<raft> node = cluster.node(leader);
  REQUIRE(cluster.io().run(node->propose(put("warm", "up"))));

  // The leader cannot apply what its own disk has not written.
  cluster.log(leader).hold_writes();
  std::vector<std::future<result<std::string>>> waiting;
  for (int i = 0; i < 200; ++i)
    waiting.push_back(asio::co_spawn(cluster.io().context(), node->propose(put("k", std::to_string(i))), asio::use_future));
  auto answered = [&] {
    return std::count_if(waiting.begin(), waiting.end(),
                         [](auto& answer) { return answer.wait_for(0s) == std::future_status::ready; });
  };
  eventually([&] { return node->get_metrics().pending_proposals + answered() == 200; }, "the proposals wait");

  std::future<void> stopping = asio::co_spawn(cluster.io().context(), node->shutdown(), asio::use_future);
  for (auto& answer : waiting) {
    REQUIRE(answer.wait_for(hang_limit) == std::future_status::ready);
    // Refused at once only if leadership moved before the proposal arrived.
    const result<std::string> outcome = answer.get();
    CHECK((is_error(outcome, errc::shutting_down) || is_error(outcome, errc::not_leader)));
  }
  // Shutdown itself waits for the write in progress.
  cluster.log(leader).release_writes();
  REQUIRE(stopping.wait_for(hang_limit) == std::future_status::ready);
  stopping.get();
  CHECK(is_error(cluster.io().run(node->propose(put("k", "late"))), errc::shutting_down));
}

}  // namespace coraft::test
