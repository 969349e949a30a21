// The leader's view of one follower's log, and the state machine that governs
// how it replicates to that follower.
#pragma once

#include <coraft/types.h>

#include <cstdint>
#include <deque>

namespace coraft::core {

// Appends sent to a follower in replicate state and not yet acknowledged,
// bounded by a number of messages and of payload bytes.
class inflight_window {
 public:
  inflight_window(std::uint32_t max_messages, std::uint64_t max_bytes) : max_messages_(max_messages), max_bytes_(max_bytes) {}

  bool full() const { return sent_.size() >= max_messages_ || bytes_ >= max_bytes_; }
  std::size_t count() const { return sent_.size(); }
  std::uint64_t bytes() const { return bytes_; }

  // Precondition: `last` is above the last index added.
  void add(index_t last, std::uint64_t bytes);
  // Frees every append whose last index is at or below `index` (acknowledged).
  void free_up_to(index_t index);
  // Frees the oldest append: its response was lost, and a heartbeat response
  // shows the follower is alive, so the window must not stay stuck.
  void free_first();
  void clear();

 private:
  struct sent_append {
    index_t last;
    std::uint64_t bytes;
  };
  std::uint32_t max_messages_;
  std::uint64_t max_bytes_;
  std::deque<sent_append> sent_;
  std::uint64_t bytes_ = 0;  // sum of sent_[*].bytes
};

enum class replication_state {
  // Next index unknown: send one append and wait for its answer.
  probe,
  // The follower is known to hold match; stream appends, advancing next
  // optimistically (pipelining) within the in-flight window.
  replicate,
  // The follower needs entries the leader compacted: a snapshot is on its way.
  snapshot,
};

// Invariant: 0 <= match < next.
class progress {
 public:
  progress(index_t next, std::uint32_t max_inflight, std::uint64_t max_inflight_bytes)
      : next_(next), inflight_(max_inflight, max_inflight_bytes) {}

  index_t match() const { return match_; }
  index_t next() const { return next_; }
  replication_state state() const { return state_; }
  index_t pending_snapshot() const { return pending_snapshot_; }
  const inflight_window& inflight() const { return inflight_; }

  // Whether the leader must not send appends now.
  bool paused() const;

  void become_probe();
  void become_replicate();
  void become_snapshot(index_t snapshot_index);
  // The snapshot did not arrive: probe again from match, but only once the
  // follower answers a heartbeat (no tight retry loop against a dead peer).
  void snapshot_failed();

  // An append carrying entries up to `last` (and `bytes` of payload) was sent.
  void sent_append(index_t last, std::uint64_t bytes);
  // The follower holds the leader's log up to `index`. False when stale.
  bool acknowledge(index_t index);
  // The follower rejected an append whose prev index was `rejected`; `hint` is
  // where the leader believes the logs diverge. False when stale.
  bool reject(index_t rejected, index_t hint);
  // A heartbeat answer: the follower is alive, so a paused probe may go again.
  void heard_heartbeat();

  // Check-quorum bookkeeping: set on any message from the follower.
  bool recently_active() const { return recently_active_; }
  void set_recently_active(bool active) { recently_active_ = active; }

 private:
  index_t match_;                 // highest index known to be on the follower (durably)
  index_t next_;                  // next index to send; match_ < next_
  replication_state state_ = replication_state::probe;
  bool probe_sent_ = false;       // probe: an append is out, wait for its answer
  index_t pending_snapshot_;      // snapshot: the snapshot's last index
  bool recently_active_ = false;  // heard from since the last check-quorum round
  inflight_window inflight_;      // replicate: the pipelined appends
};

}  // namespace coraft::core
