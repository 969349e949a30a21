// The application's replicated state. The engine applies committed entries to it
// in log order and asks it for snapshots; coraft ships an in-memory key-value
// implementation and a LevelDB base class.
#pragma once

#include <coraft/types.h>

#include <asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coraft {

// What the state machine has applied: the last entry, and the membership in force
// after it (the state machine records every membership entry it applies).
struct applied_state {
  log_id last_applied;
  membership config;
  friend bool operator==(const applied_state&, const applied_state&) = default;
};

// Snapshot bytes as a sequence of chunks.
class snapshot_source {
 public:
  virtual ~snapshot_source() = default;
  // The next chunk, or nullopt after the last one. Throws std::system_error when
  // the data cannot be read.
  virtual asio::awaitable<std::optional<std::string>> next_chunk() = 0;
};

// Receives a snapshot chunk by chunk into a staging area beside the live state.
class snapshot_sink {
 public:
  virtual ~snapshot_sink() = default;
  virtual asio::awaitable<void> write_chunk(std::string chunk) = 0;
  // Every chunk has been written: verify the data (throws std::system_error when
  // it is incomplete or corrupt) and keep it staged for install_received_snapshot.
  virtual asio::awaitable<void> finish() = 0;
};

// Contract for implementers:
// - apply, query, read_applied_state, build_snapshot, begin_receive_snapshot and
//   install_received_snapshot are called one at a time, each seeing what the
//   previous one did: from a thread of the node's own by default (a call may
//   block it), or on a strand of an executor the application gave
//   (worker_executors in <coraft/raft.h>; calls must not block then).
// - A snapshot_source may be read from another thread while entries are being
//   applied: it must read a frozen image of the state.
// - apply() must make the entries' effects and the new last applied id visible
//   together: a crash may lose a suffix of applied entries (they are applied
//   again from the log) but never leaves half of a batch applied.
// - Failures throw std::system_error; the engine then stops the node.
class state_machine {
 public:
  virtual ~state_machine() = default;

  virtual asio::awaitable<applied_state> read_applied_state() = 0;

  // Applies committed entries in log order and answers one string per entry.
  // The batch holds every kind: no-op entries change nothing, membership entries
  // change the recorded membership; both answer an empty string.
  virtual asio::awaitable<std::vector<std::string>> apply(std::vector<log_entry> entries) = 0;

  // A read-only request against the applied state (the engine calls it once a
  // linearizable read may be served).
  virtual asio::awaitable<std::string> query(std::string request) = 0;

  // Makes the current applied state the current snapshot and returns its meta.
  virtual asio::awaitable<snapshot_meta> build_snapshot() = 0;
  // The meta of the current snapshot, or nullopt when there is none.
  virtual asio::awaitable<std::optional<snapshot_meta>> current_snapshot() = 0;
  // Opens the current snapshot for streaming to a follower; several may be open.
  // Precondition: current_snapshot() is not nullopt.
  virtual asio::awaitable<std::unique_ptr<snapshot_source>> open_snapshot() = 0;

  // Starts receiving a snapshot sent by the leader. A sink that is dropped without
  // finish() discards what it received.
  virtual asio::awaitable<std::unique_ptr<snapshot_sink>> begin_receive_snapshot(snapshot_meta meta) = 0;
  // Atomically replaces the live state with the finished snapshot `meta`. After
  // it, read_applied_state() reports meta.last_included and meta.config, and the
  // snapshot is the current one.
  virtual asio::awaitable<void> install_received_snapshot(snapshot_meta meta) = 0;
};

}  // namespace coraft
