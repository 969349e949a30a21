#include "core/progress.h"

#include <algorithm>
#include <cassert>

namespace coraft::core {

void inflight_window::add(index_t last, std::uint64_t bytes) {
  assert(sent_.empty() || sent_.back().last < last);
  sent_.push_back({last, bytes});
  bytes_ += bytes;
}

void inflight_window::free_up_to(index_t index) {
  while (!sent_.empty() && sent_.front().last <= index) free_first();
}

void inflight_window::free_first() {
  if (sent_.empty()) return;
  bytes_ -= sent_.front().bytes;
  sent_.pop_front();
}

void inflight_window::clear() {
  sent_.clear();
  bytes_ = 0;
}

bool progress::paused() const {
  switch (state_) {
    case replication_state::probe: return probe_sent_;
    case replication_state::replicate: return inflight_.full();
    case replication_state::snapshot: return true;
  }
  return true;
}

void progress::become_probe() {
  // After a snapshot the follower holds at least the snapshot's entries.
  const index_t resume = state_ == replication_state::snapshot ? std::max(match_, pending_snapshot_) : match_;
  state_ = replication_state::probe;
  next_ = resume + 1;
  probe_sent_ = false;
  pending_snapshot_ = index_t{};
  inflight_.clear();
}

void progress::become_replicate() {
  state_ = replication_state::replicate;
  next_ = match_ + 1;
  probe_sent_ = false;
  inflight_.clear();
}

void progress::become_snapshot(index_t snapshot_index) {
  state_ = replication_state::snapshot;
  pending_snapshot_ = snapshot_index;
  probe_sent_ = false;
  inflight_.clear();
}

void progress::snapshot_failed() {
  pending_snapshot_ = index_t{};
  become_probe();
  probe_sent_ = true;
}

void progress::sent_append(index_t last, std::uint64_t bytes) {
  if (state_ == replication_state::replicate) {
    if (last >= next_) {
      next_ = last + 1;
      inflight_.add(last, bytes);
    }
  } else if (state_ == replication_state::probe) {
    probe_sent_ = true;
  }
}

bool progress::acknowledge(index_t index) {
  probe_sent_ = false;
  if (index <= match_) return false;
  match_ = index;
  next_ = std::max(next_, index + 1);
  inflight_.free_up_to(index);
  return true;
}

bool progress::reject(index_t rejected, index_t hint) {
  if (state_ == replication_state::replicate) {
    // Answers to appends at or below match are stale: the follower since
    // accepted something later. Otherwise an append was lost on the way and
    // the follower's log still matches up to match.
    if (rejected <= match_) return false;
    next_ = match_ + 1;
    return true;
  }
  // In probe state only the answer to the probe in flight counts.
  if (rejected + 1 != next_) return false;
  next_ = std::max(match_ + 1, std::min(hint, rejected));
  probe_sent_ = false;
  return true;
}

void progress::heard_heartbeat() {
  probe_sent_ = false;
  if (state_ == replication_state::replicate && inflight_.full()) inflight_.free_first();
}

}  // namespace coraft::core
