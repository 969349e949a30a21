// coraft::raft: one member of a Raft group, driven by coroutines on Asio.
//
//   coraft::raft node(executor, options, log, state_machine, network);
//   co_await node.start();
//   auto answer = co_await node.propose("command");   // the state machine's answer
//   auto value = co_await node.read("query");          // linearizable
//   co_await node.shutdown();
//
// Threading: the group's state lives on one strand of `executor` (which may run
// on several threads). Log writes run on a thread of the node's own, state
// machine calls on another (or on executors of the application's: see
// worker_executors); nothing on the strand waits for the disk or the network.
// Every public member function may be called from any thread, and each
// awaiting caller resumes on its own executor.
//
// Lifetime: call shutdown() before destroying a started node, and keep
// `executor`'s context (and the worker executors' contexts) alive until then.
// Destroying a started node without shutdown() stops its threads at once
// (waiting for a log write in progress).
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
#include <vector>

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
  // No outcome yet (std::errc::operation_in_progress). Exists so that a result
  // can be declared first and assigned later, and for Asio, which needs one
  // to spawn a coroutine that returns a result (co_spawn(..., use_future)).
  result() : error_(std::make_error_code(std::errc::operation_in_progress)) {}
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
  // max_pending_proposals counts proposals from the call of propose() until
  // their answer (10,000 is about 0.1 s of queue at 100,000 commits/s);
  // max_pending_bytes, the leader's proposals waiting to commit. A command
  // larger than max_pending_bytes is refused with invalid_argument.
  std::size_t max_pending_proposals = 10'000;
  std::uint64_t max_pending_bytes = 256u << 20;
  // While more payload bytes than this wait for the state machine, the leader
  // refuses proposals (errc::overloaded): a slow state machine slows clients
  // down instead of letting the apply queue grow.
  std::uint64_t max_apply_queue_bytes = 64u << 20;
  // Beyond this many reads in progress, read() answers errc::overloaded.
  std::size_t max_pending_reads = 100'000;
  // How long propose() and read() wait before answering errc::timeout. Checked
  // on each tick; a proposal whose entry has committed is answered once applied.
  std::chrono::milliseconds request_timeout{10'000};

  // Snapshots: the state machine takes one once this many entries were applied
  // since the last (0: only on trigger_snapshot()), and the log is compacted
  // behind it, keeping this many entries so that slightly lagging followers
  // catch up from the log rather than by snapshot.
  std::uint64_t snapshot_every_entries = 100'000;
  std::uint64_t log_entries_kept_after_snapshot = 10'000;
  // A membership change waits this long for a new voter to catch up as a
  // learner before it gives up (errc::timeout).
  std::chrono::milliseconds catch_up_timeout{60'000};

  // A description of the first invalid field, or nullopt when all are valid.
  std::optional<std::string> validate() const;
};

// Where a node calls its log storage and its state machine. By default (both
// empty) the node runs a thread of its own for each, so that their calls may
// block on the disk. Storage or a state machine that never blocks (coraft's
// memory ones, or ones that await their own asynchronous I/O) can run on an
// executor of the application's instead: the node then starts no thread for
// it, and each write or apply is no longer a hand-off to another thread, which
// costs more than a small in-memory write (in-process benchmark, 3 nodes in
// memory on one io thread: about 1.7 times the throughput). Many groups in one
// process can share one pool this way. The engine still makes one call at a
// time on each: it runs them on a strand of the given executor.
struct worker_executors {
  std::optional<asio::any_io_executor> log;
  std::optional<asio::any_io_executor> state_machine;
};

class raft final : public rpc_handler {
 public:
  raft(asio::any_io_executor executor, raft_options options, std::shared_ptr<log_storage> log,
       std::shared_ptr<state_machine> machine, std::shared_ptr<network_factory> network,
       worker_executors workers = {});
  ~raft() override;
  raft(const raft&) = delete;
  raft& operator=(const raft&) = delete;

  // Restores the node from its storage and state machine (bootstrapping a
  // founding member on its first start) and starts its loops. Throws
  // std::system_error: errc::invalid_argument naming the field when the options
  // are invalid (or start() was called before), errc::storage_failed when the
  // log and the state machine do not fit together, or the storage's own error.
  asio::awaitable<void> start();
  // Stops timers and loops, answers every waiting proposer and reader
  // (errc::shutting_down), and waits until storage is idle. Incoming requests
  // fail from then on. Does nothing when the node was never started.
  asio::awaitable<void> shutdown();

  // Replicates `command`, applies it, and returns the state machine's answer.
  // Errors: not_leader (with a hint), overloaded, timeout (the command may
  // still be applied), leadership_lost (it never will be), shutting_down,
  // storage_failed. Before start() and after shutdown(): shutting_down.
  asio::awaitable<result<std::string>> propose(std::string command);
  // Proposes every command in one hand-off to the group, as entries in the
  // vector's order, and answers each as propose() would, all at once when the
  // last has its answer. For servers that read many requests at a time: one
  // wait instead of one per command. A refused command (overloaded, too large)
  // does not stop the ones after it.
  asio::awaitable<std::vector<result<std::string>>> propose_batch(std::vector<std::string> commands);
  // Runs `query` against the state machine once it reflects every command
  // committed before the read began (see read_mode).
  asio::awaitable<result<std::string>> read(std::string query, read_mode mode = read_mode::read_index);

  // Membership, one change at a time; each call is answered once the change
  // has committed. Errors: not_leader (with a hint), membership_change_in_progress,
  // transfer_in_progress, invalid_argument, not_member, timeout, shutting_down.
  //
  // Adds `id`, reachable at `address`, as a learner: it receives the log but
  // does not vote.
  asio::awaitable<result<void>> add_learner(node_id id, std::string address);
  // Makes `voters` the voting members, through a joint configuration. A voter
  // that is not a member yet must have been added with add_learner(); it is
  // promoted once it has caught up (within catch_up_timeout). Voters left out
  // of `voters` leave the group; a leader that leaves steps down afterwards.
  asio::awaitable<result<void>> change_membership(std::set<node_id> voters);
  // Removes a learner, or a voter (through a joint configuration).
  asio::awaitable<result<void>> remove_member(node_id id);
  // Hands leadership to the voter `to` and is answered once `to` leads, or
  // with errc::timeout when the transfer aborted (after an election timeout).
  asio::awaitable<result<void>> transfer_leadership(node_id to);
  // Takes a snapshot of the state machine now, compacts the log behind it,
  // and answers the last entry the snapshot covers; get_metrics() shows the
  // snapshot by the time the answer arrives.
  asio::awaitable<result<log_id>> trigger_snapshot();

  // A consistent copy of the node's metrics.
  metrics get_metrics() const;
  // Waits until `condition` holds for the metrics (checked on every change and
  // every tick), or the timeout passes. Returns whether the condition held.
  // When the node is not serving its metrics no longer change: checks once.
  asio::awaitable<bool> wait_for(std::function<bool(const metrics&)> condition, std::chrono::milliseconds timeout);

  // rpc_handler: the network hands incoming requests here. Each throws
  // std::system_error (errc::shutting_down, errc::storage_failed) when the node
  // does not serve. handle_snapshot answers from the node's log without
  // reading `data` until snapshot installation is wired in.
  asio::awaitable<vote_response> handle_vote(vote_request request) override;
  asio::awaitable<append_response> handle_append(append_request request) override;
  void handle_append(append_request request, append_reply reply) override;
  asio::awaitable<heartbeat_response> handle_heartbeat(heartbeat_request request) override;
  asio::awaitable<timeout_now_response> handle_timeout_now(timeout_now_request request) override;
  asio::awaitable<read_index_response> handle_read_index(read_index_request request) override;
  asio::awaitable<snapshot_response> handle_snapshot(snapshot_request request, snapshot_source& data) override;

  class impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace coraft
