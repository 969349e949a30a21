#include "engine_test_support.h"

#include <coraft/in_process_network.h>

#include <asio/co_spawn.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <mutex>
#include <numeric>
#include <stdexcept>

namespace coraft::test {
namespace {

// Answers every request at once and remembers the appends it saw, in order
// (each test append carries its sequence number in prev.index).
class recorder final : public rpc_handler {
 public:
  std::vector<std::uint64_t> appends() const {
    std::lock_guard lock(mutex_);
    return appends_;
  }

  asio::awaitable<append_response> handle_append(append_request request) override {
    {
      std::lock_guard lock(mutex_);
      appends_.push_back(request.prev.index.value);
    }
    append_response response;
    response.success = true;
    response.match_index = request.prev.index;
    co_return response;
  }
  void handle_append(append_request, append_reply) override {
    throw std::logic_error("the in-process network calls the coroutine form");
  }
  asio::awaitable<vote_response> handle_vote(vote_request) override { co_return vote_response{}; }
  asio::awaitable<heartbeat_response> handle_heartbeat(heartbeat_request request) override {
    heartbeat_response response;
    response.read_round = request.read_round;
    co_return response;
  }
  asio::awaitable<timeout_now_response> handle_timeout_now(timeout_now_request) override {
    co_return timeout_now_response{};
  }
  asio::awaitable<read_index_response> handle_read_index(read_index_request request) override {
    read_index_response response;
    response.context = request.context;
    co_return response;
  }
  asio::awaitable<snapshot_response> handle_snapshot(snapshot_request, snapshot_source& data) override {
    snapshot_response response;
    while (co_await data.next_chunk()) ++response.last_index;
    response.success = true;
    co_return response;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> appends_;
};

append_request numbered(std::uint64_t sequence) {
  append_request request;
  request.prev.index = index_t(sequence);
  return request;
}

// The outcome of one call: the error it threw, or none.
asio::awaitable<std::error_code> try_append(network& client, std::uint64_t sequence) {
  try {
    co_await client.append(numbered(sequence));
    co_return std::error_code();
  } catch (const std::system_error& failure) {
    co_return failure.code();
  }
}

// Makes `count` calls from one strand, as the engine does (each on its own
// coroutine, started in order), and waits for all of them.
asio::awaitable<std::vector<std::error_code>> pipelined_appends(network& client, std::uint64_t count) {
  auto strand = asio::make_strand(co_await asio::this_coro::executor);
  auto outcomes = std::make_shared<std::vector<std::error_code>>(count);
  auto finished = std::make_shared<std::atomic<std::uint64_t>>(0);
  // Named rather than written inside co_await: GCC 12 destroys the captures
  // of a lambda in a co_await expression twice.
  auto start_in_order = [&client, count, outcomes, finished, strand]() -> asio::awaitable<void> {
    for (std::uint64_t i = 0; i < count; ++i) {
      asio::co_spawn(
          strand,
          [&client, i, outcomes]() -> asio::awaitable<void> { (*outcomes)[i] = co_await try_append(client, i); },
          // try_append catches what a call throws; anything else still
          // counts as finished and fails the test.
          [finished, outcomes, i](std::exception_ptr error) {
            if (error) (*outcomes)[i] = std::make_error_code(std::errc::state_not_recoverable);
            ++*finished;
          });
    }
    co_return;
  };
  co_await asio::co_spawn(strand, std::move(start_in_order), asio::use_awaitable);
  while (*finished < count) co_await pause_for(1ms);
  co_return *outcomes;
}

struct two_nodes {
  io_threads io;
  in_process_network net{42};
  recorder receiver;
  std::unique_ptr<network> client = net.factory_for(node_id(1))->connect(node_id(2), "");

  two_nodes() {
    net.attach(node_id(2), receiver, io.executor());
    net.set_failure_timeout(5ms);
  }
  ~two_nodes() { net.detach(node_id(2)); }

  std::error_code call() { return io.run(try_append(*client, 0)); }
};

}  // namespace

TEST_CASE("requests of one link arrive in call order even with random delays") {
  two_nodes nodes;
  nodes.net.set_delay(0us, 2000us);
  std::vector<std::error_code> outcomes = nodes.io.run(pipelined_appends(*nodes.client, 300));
  CHECK(std::all_of(outcomes.begin(), outcomes.end(), [](std::error_code e) { return !e; }));
  std::vector<std::uint64_t> expected(300);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(nodes.receiver.appends() == expected);
  CHECK(nodes.net.stats().delivered == 300);
}

TEST_CASE("a lost call fails with timed_out after the failure timeout") {
  two_nodes nodes;
  nodes.net.set_drop_probability(1.0);
  CHECK(nodes.call() == std::errc::timed_out);
  CHECK(nodes.receiver.appends().empty());
  nodes.net.set_drop_probability(0.0);
  CHECK_FALSE(nodes.call());
}

TEST_CASE("with some requests and replies dropped, every call either fails or was delivered") {
  two_nodes nodes;
  nodes.net.set_drop_probability(0.3);
  std::vector<std::error_code> outcomes = nodes.io.run(pipelined_appends(*nodes.client, 200));
  const auto failed = std::count_if(outcomes.begin(), outcomes.end(), [](std::error_code e) { return bool(e); });
  CHECK(failed > 0);
  CHECK(failed < 200);
  const in_process_network::statistics stats = nodes.net.stats();
  CHECK(stats.lost == static_cast<std::uint64_t>(failed));
  // Delivered requests arrive in order; a lost reply still counts as delivered.
  std::vector<std::uint64_t> seen = nodes.receiver.appends();
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(seen.size() == stats.delivered);
}

TEST_CASE("cut links, isolation and partitions stop calls until healed") {
  two_nodes nodes;
  CHECK_FALSE(nodes.call());

  nodes.net.cut(node_id(1), node_id(2));
  CHECK(nodes.call() == std::errc::timed_out);
  nodes.net.heal();
  CHECK_FALSE(nodes.call());

  nodes.net.isolate(node_id(2));
  CHECK(nodes.call() == std::errc::timed_out);
  nodes.net.heal();

  nodes.net.partition({{node_id(1)}, {node_id(2), node_id(3)}});
  CHECK(nodes.call() == std::errc::timed_out);
  nodes.net.heal();
  CHECK_FALSE(nodes.call());
}

TEST_CASE("a one-way cut loses the reply while the request is still handled") {
  two_nodes nodes;
  nodes.net.cut_one_way(node_id(2), node_id(1));
  CHECK(nodes.call() == std::errc::timed_out);
  CHECK(nodes.receiver.appends().size() == 1);
}

TEST_CASE("a call to a node that is not attached is refused") {
  two_nodes nodes;
  nodes.net.detach(node_id(2));
  CHECK(nodes.call() == std::errc::connection_refused);
  CHECK(nodes.net.stats().refused == 1);
  nodes.net.attach(node_id(2), nodes.receiver, nodes.io.executor());
  CHECK_FALSE(nodes.call());
}

TEST_CASE("a snapshot streams to the receiving handler") {
  two_nodes nodes;
  memory_kv_state_machine machine(3);
  nodes.io.run(machine.apply({{term_t(1), index_t(1), entry_kind::command, shared_bytes(put("key", "value"))}}));
  nodes.io.run(machine.build_snapshot());
  std::unique_ptr<snapshot_source> data = nodes.io.run(machine.open_snapshot());
  snapshot_response response = nodes.io.run(nodes.client->install_snapshot(snapshot_request{}, *data));
  CHECK(response.success);
  CHECK(response.last_index > index_t(1));  // several chunks went through
}

}  // namespace coraft::test
