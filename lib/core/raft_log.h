#pragma once

#include <coraft/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace coraft::core {

// The node's view of its log, in memory: the entries after `base`, where `base`
// is the last entry covered by a snapshot ({0, 0} when nothing is compacted).
// Invariants: entries have consecutive indexes starting at base.index + 1, and
// their terms never decrease (neither from base.term onwards).
class raft_log {
 public:
  explicit raft_log(log_id base = {}) : base_(base) {}

  log_id base() const { return base_; }
  index_t first_index() const { return base_.index + 1; }
  index_t last_index() const { return base_.index + entries_.size(); }
  log_id last_id() const { return entries_.empty() ? base_ : entries_.back().id(); }
  bool empty() const { return entries_.empty(); }

  // The term at `index`, including base.index; nullopt when compacted or absent.
  std::optional<term_t> term_at(index_t index) const;
  bool contains(log_id id) const;
  // Precondition: first_index() <= index <= last_index().
  const log_entry& at(index_t index) const { return entries_[index - first_index()]; }

  // Precondition: entry.index == last_index() + 1 and entry.term >= last term.
  void append(log_entry entry);
  // Removes every entry at or after `index`. Precondition: index > base.index.
  void truncate_from(index_t index);
  // Entries from `first` through at most `last`, stopping once `max_bytes` of
  // payload is reached (but always at least one entry when the range is not empty).
  std::vector<log_entry> slice(index_t first, index_t last, std::uint64_t max_bytes) const;
  // Payload bytes of the entries in [first, last].
  std::uint64_t payload_bytes(index_t first, index_t last) const;

  // The first index in the log holding the term found at `index` (terms are
  // monotone, so it is found by binary search). Precondition: term_at(index).
  index_t first_index_of_term_at(index_t index) const;
  // The last index whose term is `term`, if the log holds that term.
  std::optional<index_t> last_index_of_term(term_t term) const;

  // Drops the entries up to `upto` (now in a snapshot) and returns them, so
  // that the caller frees them where that costs nothing on the way of a commit.
  // Takes time in the entries kept, not in those dropped. Precondition: contains(upto).
  std::deque<log_entry> compact(log_id upto);
  // Replaces the whole log by a snapshot that ends at `base`.
  void reset(log_id base);

 private:
  log_id base_;
  std::deque<log_entry> entries_;
};

}  // namespace coraft::core
