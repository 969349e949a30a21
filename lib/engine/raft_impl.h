// The engine behind coraft::raft: drives one core::node on a strand, with a
// persistence loop and an apply loop on workers: threads of their own, or
// strands on executors the application gave.
//
// Threads and ownership:
// - Strand (over the user's executor): the node, every waiter registry, the
//   peer clients and the counters. Members marked "strand" are touched nowhere else.
// - Log worker: the persistence loop, the only caller of log_storage.
// - Apply worker: the apply loop, the only caller of state_machine.
// Nothing on the strand waits for the disk, the state machine or the network:
// it hands work to the loops and to peer coroutines, which post their results back.
//
// The definitions are spread by topic: raft_impl.cc (life cycle, proposals,
// reads, the node's outputs), raft_snapshots.cc (restoring, building,
// sending, receiving and installing snapshots) and raft_membership.cc
// (membership changes and leadership transfer).
#pragma once

#include "core/node.h"
#include "engine/apply_loop.h"
#include "engine/completion.h"
#include "engine/membership.h"
#include "engine/peers.h"
#include "engine/persistence.h"
#include "engine/waiters.h"
#include "engine/work_queue.h"
#include "engine/worker.h"

#include <coraft/raft.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace coraft {

class raft::impl : public std::enable_shared_from_this<raft::impl> {
 public:
  impl(asio::any_io_executor executor, raft_options options, std::shared_ptr<log_storage> log,
       std::shared_ptr<state_machine> machine, std::shared_ptr<network_factory> network, worker_executors workers);

  // The public operations. Each keeps the engine alive while it runs, so that
  // none depends on the raft object after it was called.
  static asio::awaitable<void> start(std::shared_ptr<impl> self);
  static asio::awaitable<void> shutdown(std::shared_ptr<impl> self);
  asio::awaitable<result<std::string>> propose(std::string command);
  asio::awaitable<std::vector<result<std::string>>> propose_batch(std::vector<std::string> commands);
  asio::awaitable<result<std::string>> read(std::string query, read_mode mode);
  asio::awaitable<result<void>> add_learner(node_id id, std::string address);
  asio::awaitable<result<void>> change_membership(std::set<node_id> voters);
  asio::awaitable<result<void>> remove_member(node_id id);
  asio::awaitable<result<void>> transfer_leadership(node_id to);
  asio::awaitable<result<log_id>> trigger_snapshot();
  metrics get_metrics() const;
  static asio::awaitable<bool> wait_for(std::shared_ptr<impl> self, std::function<bool(const metrics&)> condition,
                                        std::chrono::milliseconds timeout);

  // An incoming request: the node's response to it. Throws std::system_error
  // when the node does not serve (not started, shut down, failed).
  template <class Response, class Request>
  static asio::awaitable<Response> handle(std::shared_ptr<impl> self, Request request);
  // The same, answered through `reply` wherever the answer is given: on the
  // log's thread when it waits for a write (see engine::answers_after_write).
  static void handle_in_place(std::shared_ptr<impl> self, append_request request, append_reply reply);
  // An incoming snapshot: its data goes to the state machine first, and the
  // request reaches the node only once the data is whole. Throws
  // std::system_error when the data breaks off or fails verification, when
  // another snapshot is being received, or as handle() does.
  static asio::awaitable<snapshot_response> handle_snapshot(std::shared_ptr<impl> self, snapshot_request request,
                                                            snapshot_source& data);

  // For a raft destroyed without shutdown(): stops and joins the loops at
  // once, and lets the strand answer its waiters when it next runs.
  void abandon();

 private:
  enum class phase { created, serving, failed, stopped };
  using clock_time = engine::clock::time_point;

  // Starting.
  static asio::awaitable<core::restored_state> restore(std::shared_ptr<impl> self);
  void begin_serving(core::restored_state restored, bool bootstrap);
  void spawn_loops();
  static asio::awaitable<void> tick_loop(std::shared_ptr<impl> self);

  // From any thread: queues a proposal for the strand, where one handler
  // accepts every proposal queued meanwhile (a handler each cost more than
  // the proposal's own work under load).
  void enqueue_proposal(std::string command, engine::completion<std::string> done);
  // Precondition: as many completions as commands.
  void enqueue_proposals(std::vector<std::string> commands, std::vector<engine::completion<std::string>> done);
  // Counts a proposal of `bytes` among the admitted ones (until its answer,
  // see admission), or answers why it is refused.
  std::optional<result<std::string>> refuse_at_admission(std::size_t bytes);
  // Precondition: `inbox_lock` holds inbox_mutex_ and the inbox is not empty.
  // Posts the handler that empties it unless one is posted already.
  void wake_inbox_handler(std::unique_lock<std::mutex> inbox_lock);

  // Inputs, on the strand.
  void accept_inbox();
  void accept_proposal(std::string command, engine::completion<std::string> done);
  void accept_read(std::string query, read_mode mode, engine::completion<std::string> done);
  void accept_request(message_body request, engine::completion<message_body> done);
  void accept_watcher(engine::completion<bool> done);
  void on_durable();
  void hear_durable_writes();
  void ask_for_durable_news();
  void on_applied(index_t last, std::uint64_t bytes, std::size_t entries);
  void on_snapshot_built(const snapshot_meta& meta, std::uint64_t request);
  void on_snapshot_installed(const snapshot_meta& meta);
  // The outcome of a request to `peer`: its response, or none when the call
  // failed (`snapshot`: the request was a snapshot transfer).
  void on_response(node_id peer, std::optional<message_body> response, bool snapshot);
  void on_ticks(std::uint64_t ticks);
  bool overloaded(std::uint64_t command_bytes) const;

  // Carrying out the node's outputs, on the strand.
  void schedule_drain();
  void drain(bool with_peers);
  void process(core::output out);
  void dispatch(std::vector<message>& messages);
  void answer_request(std::uint64_t request_id, message_body response);
  void answer_after_write(std::vector<core::message_after_write>& messages);
  template <class Request>
  void send_request(node_id peer, Request request);
  template <class Request>
  static asio::awaitable<void> call_peer(std::shared_ptr<impl> self, std::shared_ptr<network> client, node_id peer,
                                         Request request);
  asio::awaitable<snapshot_response> stream_snapshot(network& client, snapshot_request request);
  // Runs `call` on the state machine's thread in its turn among the applies,
  // and rethrows what it threw. For calls outside the apply loop's own
  // (streaming snapshots): one call at a time, and none left hanging once
  // the loop has stopped (they fail with its reason).
  asio::awaitable<void> on_machine_thread(std::function<asio::awaitable<void>(state_machine&)> call);
  void hand_to_apply(std::vector<log_entry> committed);
  void serve_confirmed_reads();
  void queue_log_item(engine::log_item item);

  // Snapshots, on the strand.
  void accept_snapshot_trigger(engine::completion<log_id> done);
  void request_snapshot_build();
  void snapshot_if_due();
  void compact_behind(const snapshot_meta& meta);
  // Refuses (with the error to throw) while the node does not serve or
  // another snapshot is being received.
  std::error_code claim_snapshot_receipt();
  void end_snapshot_receipt();
  asio::awaitable<void> receive_snapshot_data(const snapshot_meta& meta, snapshot_source& data);
  // False when the node asks to install a snapshot it was not just sent (the
  // node then stops serving).
  bool begin_install(const snapshot_meta& meta);

  // Membership and transfer, on the strand.
  void accept_add_learner(node_id id, std::string address, engine::completion<void> done);
  void accept_voters(std::set<node_id> voters, engine::completion<void> done);
  void accept_removal(node_id id, engine::completion<void> done);
  void accept_transfer(node_id to, engine::completion<void> done);
  // The answer to a membership operation that may not begin now; nullopt when it may.
  std::optional<result<void>> membership_refusal() const;
  void propose_membership(const membership& target, engine::completion<void> done);
  void promote_when_caught_up();
  bool caught_up(node_id learner) const;
  void settle_transfers();
  void expire_membership_and_transfers(clock_time now);
  void fail_membership_and_transfers(std::error_code reason);

  // Stopping, on the strand.
  bool begin_shutdown();
  void stop_serving(std::error_code reason);
  void fail_stop(const std::string& reason);
  void loop_finished(std::string_view loop, std::exception_ptr error);

  // Metrics, on the strand. Publishing also wakes wait_for() callers and,
  // when the membership changed, drops the clients of nodes that left it.
  void publish_metrics(bool with_peers);
  void note_role_change();
  std::vector<peer_metrics> peer_progress() const;
  leader_hint hint_for(node_id leader) const;
  leader_hint published_hint(node_id leader) const;

  template <class Function>
  void on_strand(Function function) {
    asio::post(strand_, [self = shared_from_this(), function = std::move(function)]() mutable { function(*self); });
  }

  // Fixed at construction.
  const raft_options options_;
  const std::shared_ptr<log_storage> log_;
  const std::shared_ptr<state_machine> machine_;
  asio::strand<asio::any_io_executor> strand_;
  engine::worker log_worker_;
  engine::worker apply_worker_;

  // Thread-safe hand-offs.
  engine::work_queue<engine::log_item> writes_;       // strand -> persistence loop
  // Set by the persistence loop: every write up to this id is durable. The
  // strand hears it at its next drain, and is woken for it only while the
  // node waits for its own write (core::node::waits_for_own_write, published
  // by the strand at the end of each drain).
  std::atomic<std::uint64_t> durable_write_id_{0};
  std::atomic<bool> waits_for_own_write_{false};
  std::atomic<std::uint64_t> log_writes_{0};          // metrics: counters::log_writes
  std::atomic<std::uint64_t> entries_written_{0};     // metrics: counters::entries_written
  engine::work_queue<engine::apply_item> applies_;    // strand -> apply loop
  // One signal per loop that has ended (both end before shutdown() returns).
  asio::experimental::concurrent_channel<void(asio::error_code, bool)> loops_finished_;
  std::atomic<bool> start_called_{false};
  std::atomic<bool> shut_down_{false};  // shutdown() finished: the workers are joined
  // Proposals from the call of propose() until their answer, counted before
  // they reach the strand: a flood beyond max_pending_proposals is refused at
  // once instead of queueing on the strand, where it would hold up the
  // messages that keep the leader leading. Invariant: >= proposals_.size().
  std::atomic<std::size_t> proposals_admitted_{0};
  std::atomic<std::uint64_t> proposals_refused_at_admission_{0};
  // Proposals on their way to the strand, in arrival order. Invariant: while
  // it is non-empty, a handler that will take it is posted to the strand
  // (inbox_handler_posted_).
  std::mutex inbox_mutex_;
  std::vector<std::pair<std::string, engine::completion<std::string>>> inbox_;
  bool inbox_handler_posted_ = false;

  // Strand.
  phase phase_ = phase::created;
  std::error_code refusal_ = make_error_code(errc::shutting_down);  // answer while not serving
  std::optional<core::node> node_;  // constructed by start()
  engine::proposal_waiters proposals_;
  engine::read_waiters reads_;
  // Incoming requests waiting for the node's response, by the request_id given to them.
  std::unordered_map<std::uint64_t, engine::completion<message_body>> responders_;
  std::uint64_t last_request_id_ = 0;
  std::uint64_t heard_durable_write_id_ = 0;        // what the node was last told of durable_write_id_
  std::vector<engine::completion<bool>> watchers_;  // wait_for() callers, woken on any change
  engine::peer_clients peers_;
  asio::steady_timer tick_timer_;
  bool drain_scheduled_ = false;
  // What one drain hands to the apply loop, in order; queued at its end.
  std::vector<engine::apply_item> to_apply_;
  // Entries up to here were queued for the state machine (reads queued after
  // them see their effects). Never decreases.
  index_t handed_to_apply_;
  std::uint64_t apply_queue_bytes_ = 0;  // payload bytes queued for the state machine, not yet applied
  counters totals_;

  // Snapshots (strand).
  index_t last_snapshot_index_;  // of the latest snapshot built or installed; counts toward snapshot_every_entries
  std::uint64_t snapshot_builds_requested_ = 0;  // build requests queued for the state machine, numbered from 1
  std::uint64_t snapshot_builds_served_ = 0;     // every request up to here was served by a finished build
  // trigger_snapshot() callers, each with the build request that serves it.
  std::vector<std::pair<std::uint64_t, engine::completion<log_id>>> snapshot_waiters_;
  // One incoming snapshot at a time, from its first chunk until the node has
  // answered it: the state machine stages one received snapshot, which the
  // node's install must find unchanged.
  bool receiving_snapshot_ = false;
  // The snapshot whose request was just stepped into the node: the only one
  // it may ask to install.
  std::optional<snapshot_meta> received_snapshot_;
  // Log items that wait for snapshot installs, one group per install: its
  // purge, its write and everything after it, in order. The front group
  // leaves once the state machine installed the front install.
  std::deque<std::vector<engine::log_item>> log_items_behind_installs_;

  // Membership and transfer (strand).
  // A change of voters waiting for its new voters to catch up, before it is proposed.
  struct promotion {
    std::set<node_id> voters;
    clock_time deadline;
    engine::completion<void> done;
  };
  std::optional<promotion> promotion_;
  std::optional<engine::membership_change> membership_change_;  // the last one proposed here
  struct transfer {
    node_id to;
    term_t term;  // the term this node led when the transfer began
    clock_time deadline;
    engine::completion<void> done;
  };
  std::vector<transfer> transfers_;

  core::role last_role_ = core::role::follower;
  term_t last_term_;

  // The metrics as of the strand's last change, for any thread.
  mutable std::mutex metrics_mutex_;
  metrics published_;
};

template <class Response, class Request>
asio::awaitable<Response> raft::impl::handle(std::shared_ptr<impl> self, Request request) {
  auto registrar = [self, request = std::move(request)](auto done) mutable {
    self->on_strand([request = std::move(request), done = std::move(done)](impl& engine) mutable {
      engine.accept_request(std::move(request), std::move(done));
    });
  };  // named: see async_answer
  result<message_body> answer = co_await engine::async_answer<message_body>(std::move(registrar));
  if (!answer) throw std::system_error(answer.error());
  co_return std::get<Response>(std::move(*answer));
}

}  // namespace coraft
