// The strand's registries of callers waiting for the group: proposers waiting
// for their entry to commit, readers waiting for a confirmed read index.
// Strand-only; none of them allocates per waiter beyond the caller's completion.
#pragma once

#include "engine/completion.h"

#include <coraft/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <queue>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace coraft::engine {

using clock = std::chrono::steady_clock;

struct proposal_waiter {
  log_id id;  // where the proposal's entry was appended
  clock::time_point deadline;
  std::uint64_t bytes = 0;  // the command's size, counted against max_pending_bytes
  completion<std::string> done;
};

// A read the state machine may now serve: every entry up to its read index
// is applied before it (the apply queue is ordered).
struct read_job {
  std::string query;
  completion<std::string> done;
};

class proposal_waiters {
 public:
  std::size_t size() const { return current_.size() + older_.size(); }
  std::uint64_t bytes() const { return bytes_; }

  // Registers the proposer of entry `id`. Precondition: `id` is above every
  // waiting proposal of its term (the core appends in order).
  void add(log_id id, clock::time_point deadline, std::uint64_t bytes, completion<std::string> done);

  // The contiguous entries `committed` go to the state machine. Returns the
  // waiters whose entry is among them, to answer once applied; a waiter whose
  // index now holds an entry of another term learns errc::leadership_lost
  // (its entry was overwritten and will never be applied).
  std::vector<proposal_waiter> take_committed(const std::vector<log_entry>& committed);

  // A snapshot ending at `last` replaced the entries up to it before they were
  // handed out here. A waiter among them whose term is above last.term learns
  // errc::leadership_lost (the committed entry at its index is older); any
  // other learns errc::timeout: its entry may be in the snapshot, but its
  // answer is not known on this node.
  void settle_replaced(log_id last);

  // Answers errc::timeout to every waiter past its deadline.
  void expire(clock::time_point now);
  void fail_all(std::error_code error);

 private:
  void answer(proposal_waiter& waiter, result<std::string> outcome);

  // Waiters of the latest term that proposed here, in index order, which is
  // also registration and therefore deadline order.
  std::deque<proposal_waiter> current_;
  // Waiters of earlier terms. Each stays until the entry committed at its
  // index shows whether it was ours: a later leader may still commit an entry
  // of an old term, so losing leadership alone proves nothing.
  std::multimap<index_t, proposal_waiter> older_;
  std::uint64_t bytes_ = 0;  // sum of bytes over all waiters
};

class read_waiters {
 public:
  std::size_t size() const { return live_; }

  // Registers a reader and returns the read's id (increasing).
  std::uint64_t add(clock::time_point deadline, std::string query, completion<std::string> done);
  // The read was confirmed: it may be served once `index` is applied.
  void ready(std::uint64_t id, index_t index);
  void fail(std::uint64_t id, result<std::string> outcome);
  // The confirmed reads whose index is at or below `handed_to_apply`, in
  // index order; the caller queues them behind those entries.
  std::vector<read_job> take_servable(index_t handed_to_apply);

  void expire(clock::time_point now);
  void fail_all(std::error_code error);

 private:
  struct waiter {
    std::uint64_t id;
    clock::time_point deadline;
    std::string query;
    completion<std::string> done;  // empty once answered or handed on
  };
  // nullptr when `id` is unknown or no longer waiting.
  waiter* find(std::uint64_t id);
  void answer(waiter& w, result<std::string> outcome);
  void drop_finished_front();

  // By id, which is registration and deadline order. Finished waiters stay
  // until they reach the front, so that lookups remain a binary search.
  std::deque<waiter> waiting_;
  // Confirmed reads by read index (a min-heap of (index, id)); entries of
  // reads that finished meanwhile are skipped when they surface.
  std::priority_queue<std::pair<index_t, std::uint64_t>, std::vector<std::pair<index_t, std::uint64_t>>,
                      std::greater<>>
      confirmed_;
  std::uint64_t last_id_ = 0;
  std::size_t live_ = 0;  // waiters with a completion
};

}  // namespace coraft::engine
