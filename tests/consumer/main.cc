// An application of coraft built the way users build theirs: against the
// installed public headers through dependency('coraft'). It runs a one-node
// group, writes a key and reads it back linearizably.
#include <coraft/in_process_network.h>
#include <coraft/kv_store.h>
#include <coraft/memory_kv_state_machine.h>
#include <coraft/memory_log_storage.h>
#include <coraft/raft.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>

namespace {

asio::awaitable<std::string> write_then_read(coraft::raft& node) {
  co_await node.start();
  auto leads = [](const coraft::metrics& m) { return m.role == "leader"; };
  co_await node.wait_for(leads, std::chrono::seconds(10));
  const std::string put = coraft::kv::encode({.client = 1, .sequence = 1, .op = coraft::kv::operation::put,
                                               .key = "consumer", .value = "works"});
  coraft::result<std::string> written = co_await node.propose(put);
  const std::string get = coraft::kv::encode({.op = coraft::kv::operation::get, .key = "consumer"});
  coraft::result<std::string> read = co_await node.read(get);
  co_await node.shutdown();
  co_return written && read ? *read : "error: " + (written ? read.error() : written.error()).message();
}

}  // namespace

int main() {
  asio::io_context io;
  coraft::in_process_network network;
  coraft::raft_options options;
  options.id = coraft::node_id(1);
  options.initial_members.emplace().voters = {options.id};
  coraft::raft node(io.get_executor(), options, std::make_shared<coraft::memory_log_storage>(),
                    std::make_shared<coraft::memory_kv_state_machine>(), network.factory_for(options.id));
  std::future<std::string> value = asio::co_spawn(io, write_then_read(node), asio::use_future);
  io.run();
  const std::string read = value.get();
  std::printf("consumer: read back \"%s\"\n", read.c_str());
  return read == "works" ? 0 : 1;
}
