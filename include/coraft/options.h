// The protocol's knobs. Time is counted in ticks; the engine turns its tick
// interval into wall-clock time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace coraft {

enum class read_mode {
  // The leader confirms it still leads with one heartbeat round (shared by all
  // reads waiting for it), then serves once applied reaches its commit index.
  read_index,
  // The leader serves without a round while a quorum acknowledged it within a
  // lease shorter than the election timeout (requires check_quorum); falls back
  // to read_index otherwise. Relies on bounded clock drift.
  lease,
  // Any member serves: it asks the leader for a read index, then answers from
  // its own state machine once it has applied that far.
  follower,
};

struct protocol_options {
  // A follower that hears nothing from a leader for a randomized number of ticks
  // in [min, max) starts an election.
  std::uint32_t election_timeout_min_ticks = 10;
  std::uint32_t election_timeout_max_ticks = 20;
  // The leader sends heartbeats this often. Must be well below the election timeout.
  std::uint32_t heartbeat_interval_ticks = 2;

  // Pipelining window per follower: appends sent but not yet acknowledged.
  std::uint32_t max_inflight_appends = 64;
  std::uint64_t max_inflight_bytes = 32u << 20;
  // Payload bytes per append message (a single larger entry is still sent alone).
  std::uint64_t max_append_bytes = 1u << 20;
  // The leader refuses proposals (overloaded) while this many payload bytes are
  // uncommitted. 0 means no limit.
  std::uint64_t max_uncommitted_bytes = 64u << 20;
  // Payload bytes of committed entries handed out for applying in one output.
  std::uint64_t max_apply_bytes = 16u << 20;
  // Committed entries handed out and not yet reported applied, in payload
  // bytes: beyond this the node hands out no more until the state machine
  // catches up (a slow state machine then holds back the queue, not memory).
  std::uint64_t max_unapplied_bytes = 64u << 20;

  // How followers learn that the commit index moved when no append is going
  // to them anyway. false: the next heartbeat tells them, so a follower's state
  // machine may trail by up to heartbeat_interval_ticks at low load. true: the
  // leader sends each follower with nothing in flight an empty append at once,
  // which costs a message and its answer per commit at low load (raft-rs calls
  // the false case skip_bcast_commit). Either way the leader commits and answers
  // proposals at the same moment, appends always carry the commit index, and
  // follower reads are unaffected: the heartbeat round that confirms a read
  // carries it.
  bool announce_commit_at_once = false;

  // Trial elections: a node that cannot win never raises the cluster's term.
  bool pre_vote = true;
  // A leader that has not heard from a quorum for an election timeout steps down;
  // followers that recently heard from a leader ignore vote requests.
  bool check_quorum = true;
  // Lease reads: how many ticks the leader's clock may run slow relative to the
  // followers' over one election timeout. The lease lasts
  // election_timeout_min_ticks - max_clock_drift_ticks from the moment a quorum
  // acknowledged it; a drift beyond this bound makes lease reads unsafe.
  std::uint32_t max_clock_drift_ticks = 2;

  // A description of the first invalid field, or nullopt when all are valid.
  std::optional<std::string> validate() const;
};

}  // namespace coraft
