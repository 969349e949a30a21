// coraft::raft: one member of a Raft group, driven by coroutines on Asio.
//
//   coraft::raft node(executor, options, log, state_machine, network);
//   co_await node.start();
//   auto answer = co_await node.propose("command");   // the state machine's answer
//   auto value = co_await node.read("query");          // linearizable
//   co_await node.shutdown();
//
// Threading: the group's state lives on one strand of `executor` (which may run
// on several threads). Log writes run on a dedicated thread, state machine calls
// on another; nothing on the strand waits for the disk or the network. Every
// public member function may be called from any thread.
#pragma once

#include <coraft/error.h>
#include <coraft/log_storage.h>
#include <coraft/metrics.h>
#include <coraft/network.h>
#include <coraft/options.h>
#include <coraft/state_machine.h>
#include <coraft/types.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>

namespace coraft {

// Who leads, as far as the answering node knows (id no_node when unknown).
struct leader_hint {
  node_id id;
  std::string address;
};

// A value or an error; on not_leader, leader() tells where to retry.
template <class T>
class result {
 public:
  result(T value) : value_(std::move(value)) {}
  result(std::error_code error, leader_hint leader = {}) : error_(error), leader_(std::move(leader)) {}

  explicit operator bool() const { return !error_; }
  std::error_code error() const { return error_; }
  const leader_hint& leader() const { return leader_; }

  // Precondition for the dereferences: no error.
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  // Throws std::system_error on error.
  T& value() {
    if (error_) throw std::system_error(error_);
    return *value_;
  }

 private:
  std::optional<T> value_;
  std::error_code error_;
  leader_hint leader_;
};

// The outcome of an operation that has no value.
template <>
class result<void> {
 public:
  result() = default;
  result(std::error_code error, leader_hint leader = {}) : error_(error), leader_(std::move(leader)) {}

  explicit operator bool() const { return !error_; }
  std::error_code error() const { return error_; }
  const leader_hint& leader() const { return leader_; }

 private:
  std::error_code error_;
  leader_hint leader_;
};

struct raft_options {
  node_id id;
  // One core tick; the protocol's timeouts are counted in ticks.
  std::chrono::milliseconds tick_interval{10};
  protocol_options protocol;
  // The founding members. Given to every founding member on its first start
  // (empty log, no snapshot); ignored afterwards. A node that joins an existing
  // group later starts without it and learns the membership from the leader.
  std::optional<membership> initial_members;

  // Back-pressure: beyond these, propose() answers errc::overloaded at once.
  std::size_t max_pending_proposals = 100'000;
  std::uint64_t max_pending_bytes = 256u << 20;
  // Committed entries queued for the state machine, in payload bytes.
  std::uint64_t max_apply_queue_bytes = 64u << 20;
  // How long propose() and read() wait before answering errc::timeout.
  std::chrono::milliseconds request_timeout{10'000};

  // A description of the first invalid field, or nullopt when all are valid.
  std::optional<std::string> validate() const;
};

class raft final : public rpc_handler {
 public:
  raft(asio::any_io_executor executor, raft_options options, std::shared_ptr<log_storage> log,
       std::shared_ptr<state_machine> machine, std::shared_ptr<network_factory> network);
  ~raft() override;
  raft(const raft&) = delete;
  raft& operator=(const raft&) = delete;

  // Restores the node from its storage and state machine (bootstrapping a
  // founding member on its first start) and starts its loops. Throws
  // std::system_error when the options are invalid or storage cannot be read.
  asio::awaitable<void> start();
  // Stops timers and loops, answers every waiting proposer and reader
  // (errc::shutting_down), and waits until storage is idle.
  asio::awaitable<void> shutdown();

  // Replicates `command`, applies it, and returns the state machine's answer.
  asio::awaitable<result<std::string>> propose(std::string command);
  // Runs `query` against the state machine once it reflects every command
  // committed before the read began (see read_mode).
  asio::awaitable<result<std::string>> read(std::string query, read_mode mode = read_mode::read_index);

  // A consistent copy of the node's metrics.
  metrics get_metrics() const;
  // Waits until `condition` holds for the metrics (checked on every change), or
  // the timeout passes. Returns whether the condition held.
  asio::awaitable<bool> wait_for(std::function<bool(const metrics&)> condition, std::chrono::milliseconds timeout);

  // rpc_handler: the network hands incoming requests here.
  asio::awaitable<vote_response> handle_vote(vote_request request) override;
  asio::awaitable<append_response> handle_append(append_request request) override;
  asio::awaitable<heartbeat_response> handle_heartbeat(heartbeat_request request) override;
  asio::awaitable<timeout_now_response> handle_timeout_now(timeout_now_request request) override;
  asio::awaitable<read_index_response> handle_read_index(read_index_request request) override;
  asio::awaitable<snapshot_response> handle_snapshot(snapshot_request request, snapshot_source& data) override;

  class impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace coraft
