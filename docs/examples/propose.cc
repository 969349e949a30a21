// The proposal snippet the README quotes (between the [propose] markers), in a
// program that tests/unit/engine builds and runs against a one-node group.
#include <coraft/in_process_network.h>
#include <coraft/kv_store.h>
#include <coraft/memory_kv_state_machine.h>
#include <coraft/memory_log_storage.h>
#include <coraft/raft.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <string>

// [propose]
asio::awaitable<bool> set_greeting(coraft::raft& node) {
  coraft::kv::command put{.client = 0, .sequence = 0, .op = coraft::kv::operation::put, .key = "greeting", .value = "hi"};
  coraft::result<std::string> answer = co_await node.propose(coraft::kv::encode(put));
  if (answer) {
    std::cout << "applied; the state machine answered " << *answer << "\n";
  } else if (answer.error() == coraft::errc::not_leader) {
    std::cout << "not the leader; try node " << answer.leader().id << " at " << answer.leader().address << "\n";
  } else {
    std::cout << "not applied: " << answer.error().message() << "\n";  // overloaded, timeout, ...
  }
  co_return bool(answer);
}
// [propose]

int main() {
  asio::io_context io;
  coraft::in_process_network network;
  coraft::raft_options options;
  options.id = coraft::node_id(1);
  options.initial_members.emplace().voters = {options.id};
  coraft::raft node(io.get_executor(), options, std::make_shared<coraft::memory_log_storage>(),
                    std::make_shared<coraft::memory_kv_state_machine>(), network.factory_for(options.id));

  auto program = [&]() -> asio::awaitable<bool> {
    co_await node.start();
    // Lambdas go into variables before a co_await: GCC 12 mishandles lambda
    // temporaries inside a co_await expression.
    auto leads = [](const coraft::metrics& m) { return m.role == "leader"; };
    co_await node.wait_for(leads, std::chrono::seconds(10));
    const bool applied = co_await set_greeting(node);
    co_await node.shutdown();
    co_return applied;
  };
  std::future<bool> applied = asio::co_spawn(io, program(), asio::use_future);
  io.run();
  return applied.get() ? 0 : 1;
}
