// The durable Raft log. coraft ships a LevelDB implementation and an in-memory
// one; an application may bring its own, and the storage conformance suite
// (tests/unit/storage/storage_conformance.h) states what it must do.
#pragma once

#include <coraft/types.h>

#include <asio/awaitable.hpp>

#include <optional>
#include <vector>

namespace coraft {

// The shape of the stored log: entries (purged.index, last.index] are present.
// With nothing purged, `purged` is {0, 0}; with no entries, `last == purged`.
struct log_state {
  log_id purged;
  log_id last;
  friend bool operator==(const log_state&, const log_state&) = default;
};

// One atomic, durable write. The engine coalesces everything the core produced
// since the previous write into one of these (group commit).
struct log_write {
  // When present, replaces the stored hard state (term and vote).
  std::optional<hard_state> state;
  // Contiguous entries. Any stored entry whose index is at or after
  // entries.front().index is removed first (that is how a follower's
  // conflicting suffix is truncated). Precondition: purged.index <
  // entries.front().index <= last.index + 1.
  std::vector<log_entry> entries;
  // When present, a hint of the commit index; lets a restarted node apply
  // committed entries before it hears from a leader.
  std::optional<index_t> committed;
};

// Contract for implementers:
// - The engine makes one call at a time (it never has two calls in flight), by
//   default from a thread of the node's own, so a call may block that thread on
//   disk I/O. Only a store whose calls never block may be given an executor of
//   the application's (worker_executors in <coraft/raft.h>).
// - write() returns only once everything in it is durable. Writes become durable
//   in call order and each is atomic: after a crash the store holds the effect of
//   a prefix of the writes, the last one either wholly or not at all.
// - Any failure to read or write throws std::system_error. After a failed write
//   the engine stops the node (fail-stop); it never acknowledges what may be lost.
//   A call that breaks a precondition may throw std::system_error with
//   std::errc::invalid_argument and change nothing.
class log_storage {
 public:
  virtual ~log_storage() = default;

  virtual asio::awaitable<log_state> read_log_state() = 0;
  // {0, no_node} when nothing was ever saved.
  virtual asio::awaitable<hard_state> read_hard_state() = 0;
  // The last `committed` saved by write(), if any.
  virtual asio::awaitable<std::optional<index_t>> read_committed() = 0;
  // Entries first..last inclusive (none when last < first); precondition: all
  // of them are present.
  virtual asio::awaitable<std::vector<log_entry>> read_entries(index_t first, index_t last) = 0;

  virtual asio::awaitable<void> write(log_write batch) = 0;

  // Discards the entries up to and including `upto.index` (a snapshot covers
  // them) and records `upto` as the purged id, durably. If the log holds no entry
  // `upto` (a different term at that index, or the log is shorter), the whole log
  // is discarded: an installed snapshot superseded it. Purging at or below the
  // current purged index does nothing.
  virtual asio::awaitable<void> purge(log_id upto) = 0;
};

}  // namespace coraft
