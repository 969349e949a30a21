// The Raft protocol for one node, as a deterministic state machine.
//
// Inputs: tick(), step(message), propose(), on_persisted(), on_applied(),
// report_unreachable() and the membership, transfer, read and snapshot requests.
// Output: an `output` batch, drained with take_output(), that the engine carries
// out in order: persist, then send and apply. Given the same inputs in the same
// order a node produces the same outputs; time enters only through tick() and
// randomness only from the seed it is built with. It performs no I/O.
#pragma once

#include "core/progress.h"
#include "core/raft_log.h"

#include <coraft/error.h>
#include <coraft/messages.h>
#include <coraft/options.h>
#include <coraft/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace coraft::core {

enum class role { follower, pre_candidate, candidate, leader };
const char* to_string(role r);

// What the engine restores a node from: the durable state after a restart.
struct restored_state {
  hard_state state;
  // The snapshot the log starts after ({0,0} and an empty config when none).
  snapshot_meta snapshot;
  // The log after the snapshot, in order.
  std::vector<log_entry> entries;
  // What the state machine has applied; the node hands out entries after it.
  index_t applied;
  // A commit index known from before the restart (may be 0).
  index_t committed;
};

// A read that may be served once the state machine has applied `index`.
struct read_state {
  std::uint64_t id;
  index_t index;
};

struct failed_read {
  std::uint64_t id;
  std::error_code error;  // not_leader
  node_id leader_hint;
};

// A message that may leave only once write `after_write` is durable.
struct message_after_write {
  std::uint64_t after_write;
  message msg;
};

// Moves out of `held`, in order, the messages whose write is durable: every
// write up to `durable_write` is.
std::vector<message> take_durable(std::vector<message_after_write>& held, std::uint64_t durable_write);

// Everything a node produced since the previous take_output(). The engine's
// obligations, in this order:
// 1. If write_id != 0: persist, ordered after every earlier write, then call
//    on_persisted(write_id):
//    a. if snapshot_to_install is set: install the snapshot received with it
//       into the state machine, then purge the log storage up to its last
//       entry (discarding the whole log), then report on_applied(its index);
//       committed entries handed out earlier are applied before it;
//    b. `state` (term and vote, if any) and entries, as one atomic write.
//       Storage replaces any stored entry at or after entries.front().index.
// 2. Send `messages`; they never depend on the write in step 1.
//    Send each of `messages_after_write` once write `after_write` (this
//    output's or an earlier one) is durable: they are answers that promise
//    what it holds (a vote, entries, a snapshot). Handing them out at once
//    lets the engine send them from wherever the write completes, without
//    waiting for on_persisted to reach the node.
// 3. Apply `committed` to the state machine in order and report on_applied().
struct output {
  std::uint64_t write_id = 0;
  std::optional<snapshot_meta> snapshot_to_install;
  std::optional<hard_state> state;
  std::vector<log_entry> entries;
  index_t commit_hint;  // the commit index, to be saved with the write (optional)

  std::vector<message> messages;  // grouped by destination, each group in send order
  std::vector<message_after_write> messages_after_write;  // in creation order

  std::vector<log_entry> committed;

  // Reads confirmed linearizable (serve each once applied >= its index), and
  // reads that cannot be served here.
  std::vector<read_state> reads_ready;
  std::vector<failed_read> reads_failed;

  bool empty() const;
};

struct proposal {
  std::error_code error;  // not_leader, overloaded, transfer_in_progress
  log_id id;              // where the entry was appended, when no error
  node_id leader_hint;    // on not_leader: the leader this node knows of
};

class node {
 public:
  node(node_id self, protocol_options options, restored_state restored, std::uint64_t seed);

  // Gives a brand-new node (empty log, no snapshot) its first configuration:
  // entry 1 (term 0) holds it and counts as committed, as every founding member
  // writes the same entry. Precondition: the log and the snapshot are empty.
  void bootstrap(const membership& config);

  void tick();
  void step(const message_body& incoming);
  proposal propose(std::string command);
  // Starts a linearizable read; its outcome, under `id`, comes in a later
  // output's reads_ready or reads_failed.
  void read_index(std::uint64_t id, read_mode mode);
  // Membership change, one at a time: a change of voters goes through a joint
  // configuration (C_old,new) that the leader leaves on its own once it commits;
  // a change of learners alone takes one step. Errors: not_leader,
  // membership_change_in_progress, transfer_in_progress, invalid_argument.
  std::error_code change_membership(membership target);
  // Hands leadership to `target` (a voter): proposals are refused meanwhile;
  // once the target's log is up to date it is told to campaign at once. Aborts
  // after an election timeout.
  std::error_code transfer_leadership(node_id target);

  // The state machine holds a snapshot; followers that need compacted entries
  // will be sent it.
  void on_snapshot_built(const snapshot_meta& meta);
  // Drops log entries up to `upto` from memory and returns them for the caller
  // to free (see raft_log::compact). Precondition: upto <= applied index and
  // upto <= the latest snapshot's last index.
  std::deque<log_entry> compact_log(index_t upto);
  // Sending the snapshot to `peer` failed.
  void report_snapshot_failed(node_id peer);

  // Every write up to `write_id` is durable.
  void on_persisted(std::uint64_t write_id);
  // The state machine has applied every entry up to `index`.
  void on_applied(index_t index);
  // A message to `peer` could not be delivered.
  void report_unreachable(node_id peer);

  bool has_output() const;
  output take_output();

  // Observers.
  node_id id() const { return self_; }
  role current_role() const;
  term_t term() const { return term_; }
  node_id voted_for() const { return voted_for_; }
  node_id leader() const { return leader_; }
  index_t commit_index() const { return commit_; }
  index_t persisted_index() const { return persisted_; }
  // Whether hearing that a write in flight is durable would let the node move
  // on at once: step its own vote or, leading, count itself toward a commit or
  // apply entries committed without it. Only then need it hear at once;
  // otherwise its next input may bring the news (a follower's answers leave
  // with the write, and its applies wait at most for the next append or tick).
  bool waits_for_own_write() const;
  index_t applying_index() const { return applying_; }
  index_t applied_index() const { return applied_; }
  const raft_log& log() const { return log_; }
  const membership& config() const { return config_; }
  const snapshot_meta& snapshot() const { return snapshot_; }
  // The node leadership is being handed to (no_node: none).
  node_id transfer_target() const;
  const protocol_options& options() const { return options_; }
  // The leader's progress record for `peer`; nullptr when not leading or unknown.
  const progress* progress_of(node_id peer) const;
  std::uint64_t uncommitted_bytes() const { return uncommitted_bytes_; }

  // LogCabin-style self checks: a description of the first broken invariant.
  // check_invariants is cheap enough to run after every input; check_log walks
  // the whole log.
  std::optional<std::string> check_invariants() const;
  std::optional<std::string> check_log() const;

 private:
  struct follower_state {};
  struct candidate_state {
    bool pre_vote = false;
    std::map<node_id, bool> votes;  // granted or refused, per voter heard from
  };
  // A read waiting for the leader to confirm it still leads.
  struct pending_read {
    std::uint64_t id = 0;          // the requester's id for the read
    node_id requester{};           // this node, or a follower asking for a read index
    std::uint64_t request_id = 0;  // of the follower's request, echoed in the answer
    bool lease = false;            // may be served under the leader's lease
    index_t index{};               // commit index when the read arrived
    std::uint64_t round = 0;       // the heartbeat round that confirms it
  };
  struct leader_state {
    std::map<node_id, progress> peers;  // every member except this node
    // Highest heartbeat round each peer answered (absent: none this term).
    std::map<node_id, std::uint64_t> answered_round;
    // Heartbeat rounds sent and not yet answered by a quorum, with the tick
    // (now_) each was sent at; increasing in both.
    std::deque<std::pair<std::uint64_t, std::uint64_t>> rounds_in_flight;
    // Reads registered, in round order; each waits for its round's quorum.
    std::deque<pending_read> reads;
    // Reads that arrived before the leader committed an entry of its term: its
    // commit index may still lag what a previous leader committed.
    std::vector<pending_read> reads_before_first_commit;
    bool round_due = false;           // a read waits for a round not yet sent
    std::uint64_t lease_expiry = 0;   // lease reads are served while now_ < this
    // Leadership transfer in progress: its target, ticks since it began, and
    // whether TimeoutNow went out.
    node_id transfer_target;
    std::uint32_t transfer_elapsed = 0;
    bool timeout_now_sent = false;
  };
  // A write handed to the engine and not yet reported durable.
  struct write_in_flight {
    std::uint64_t id;
    // Entries up to here are durable once the write is (0: it holds none).
    // Lowered when a truncation removes entries the write carried.
    index_t last_index;
  };

  // Roles.
  void become_follower(term_t term, node_id leader);
  void become_pre_candidate();
  void become_candidate(bool transfer);
  void become_leader();
  void reset_election_timer();
  bool promotable() const;
  bool in_leader_lease() const;
  leader_state* leading();
  const leader_state* leading() const;
  progress* peer_progress(node_id peer);
  progress* responder_progress(node_id peer);

  // Ticks.
  void tick_election();
  void tick_leader();

  // Incoming messages.
  bool step_term(const message_body& incoming);
  void answer_stale(const message_body& incoming);
  void handle(const vote_request& request);
  void handle(const vote_response& response);
  void handle(const append_request& request);
  void handle(const append_response& response);
  void handle(const heartbeat_request& request);
  void handle(const heartbeat_response& response);
  void handle(const timeout_now_request& request);
  void handle(const timeout_now_response& response);
  void handle(const snapshot_request& request);
  void handle(const snapshot_response& response);
  void handle(const read_index_request& request);
  void handle(const read_index_response& response);
  void accept_leader(node_id leader);

  // Log changes.
  void append_to_log(log_entry entry);
  void append_from_leader(const std::vector<log_entry>& entries);
  void truncate_log_from(index_t index);
  void commit_to(index_t index);
  bool apply_due() const;
  void restore_config_after_truncation();

  // Replication (leader).
  // When an append with no entries may go out: it carries the commit index, or
  // probes where the logs match.
  enum class empty_append {
    never,
    // Only to a follower that acknowledged everything sent, so as not to
    // overtake entries on their way.
    when_settled,
    // Also past entries in flight: they may have been lost (a heartbeat answer
    // shows the follower alive but behind), and a rejection will tell.
    always,
  };
  void replicate_to_all();
  void replicate_to(node_id peer, progress& pr, empty_append first);
  bool send_append(node_id peer, progress& pr, empty_append empty);
  void send_snapshot(node_id peer, progress& pr);
  void maybe_send_timeout_now(leader_state& leader);
  // Configuration steps the leader takes once a configuration commits.
  void advance_config();
  bool config_change_pending() const;
  void append_config(const membership& config);
  void install_snapshot(const snapshot_meta& meta);
  void send_heartbeats();
  // Reads.
  void serve_read(leader_state& leader, pending_read read);
  void confirm_rounds(leader_state& leader);
  void read_ready(const pending_read& read);
  void read_failed(const pending_read& read);
  void answer_follower_read(const pending_read& read, bool success);
  void fail_reads(node_id leader_hint);
  bool committed_in_current_term() const;
  bool lease_valid(const leader_state& leader) const;
  void maybe_commit();
  index_t committable_index(index_t own) const;
  void add_progress(leader_state& leader, node_id peer);
  void sync_peers_with_config();
  bool quorum_recently_active();

  // Messages.
  template <class Body>
  Body reply_to(const message_header& request) const;
  void send(node_id to, message_body body);
  void send_when_durable(node_id to, message_body body);
  std::uint64_t write_covering_current_state() const;
  void step_held_messages();

  // Identity and configuration; fixed for the node's life.
  const node_id self_;
  const protocol_options options_;
  std::mt19937_64 random_;  // election timeout jitter only

  // Persistent state (mirrored in storage through the writes in outputs).
  term_t term_;           // current term; never decreases
  node_id voted_for_;     // vote cast in term_ (no_node: none); set at most once per term
  raft_log log_;          // terms never decrease along it; committed entries never change

  // Volatile state.
  // Highest index known committed. Never decreases; commit_ <= last index.
  index_t commit_;
  // Highest index durable on this node and equal to log_ there. Lowered only
  // when a truncation removes entries above it; persisted_ <= last index.
  index_t persisted_;
  // Highest index handed out for applying: applying_ <= min(commit_, persisted_).
  index_t applying_;
  // Highest index the state machine reported applied: applied_ <= applying_.
  index_t applied_;
  // The configuration in force: the latest membership entry in the log (it
  // takes effect when appended), else the snapshot's.
  membership config_;
  // Every membership the log holds, by index, plus the snapshot's at base index:
  // what config_ falls back to when a truncation removes a membership entry.
  std::map<index_t, membership> configs_;
  // The latest snapshot the state machine holds (what a lagging follower is
  // sent). Covers at least the compacted entries: snapshot_ index >= log base.
  snapshot_meta snapshot_;
  // A snapshot received from the leader, to be installed by the next write.
  std::optional<snapshot_meta> snapshot_to_install_;

  std::variant<follower_state, candidate_state, leader_state> role_state_;
  node_id leader_;                  // the leader of term_ as far as known (no_node: unknown)
  std::uint32_t election_elapsed_ = 0;   // ticks since the leader was heard / election began / last quorum check
  std::uint32_t heartbeat_elapsed_ = 0;  // leader: ticks since the last heartbeat round
  std::uint32_t election_timeout_ = 0;   // randomized in [min, max) at each reset
  std::uint64_t uncommitted_bytes_ = 0;  // leader: payload bytes of entries in (commit_, last]
  // Payload bytes of entries in (applied_, applying_] still in the log; an
  // installed snapshot resets it (the entries it replaced are gone).
  std::uint64_t unapplied_bytes_ = 0;
  std::uint64_t now_ = 0;                // ticks since the node was created: its clock
  std::uint64_t heartbeat_round_ = 0;    // the last heartbeat round number used; increasing
  // Follower reads sent to the leader and not yet answered, by read id.
  std::map<std::uint64_t, node_id> forwarded_reads_;
  std::vector<read_state> reads_ready_;
  std::vector<failed_read> reads_failed_;
  bool replication_due_ = false;         // leader: entries may be ready to send at the next drain
  bool commit_to_announce_ = false;      // leader: commit_ advanced since the last drain (announce_commit_at_once only)

  // Durability bookkeeping.
  bool hard_state_dirty_ = false;      // term_/voted_for_ changed since the last write handed out
  index_t unstable_from_;              // entries at or after this are not yet in any write
  std::uint64_t last_write_id_ = 0;    // id of the last write handed out
  std::uint64_t durable_write_id_ = 0; // every write up to this id is durable
  std::deque<write_in_flight> writes_in_flight_;
  // To this node itself (its own vote), stepped once durable; in creation order.
  std::vector<message_after_write> held_;
  std::vector<message> outbox_;                          // ready to send, in creation order
  std::vector<message_after_write> after_write_outbox_;  // to send once durable, in creation order
};

}  // namespace coraft::core
