// A node's observable state: a plain struct, also available as JSON.
#pragma once

#include <coraft/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace coraft {

// What the leader knows of one follower or learner.
struct peer_metrics {
  node_id id;
  std::string state;  // "probe", "replicate" or "snapshot"
  index_t match;
  index_t next;
  std::size_t inflight_appends = 0;
  std::uint64_t inflight_bytes = 0;
  // Time since the peer last answered; -1 ms when it never did.
  std::chrono::milliseconds since_last_contact{-1};
};

struct counters {
  std::uint64_t proposals_accepted = 0;
  std::uint64_t proposals_refused = 0;  // not_leader, overloaded, ...
  std::uint64_t log_writes = 0;         // durable writes (each a group commit)
  std::uint64_t entries_written = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t entries_sent = 0;       // inside append messages
  std::uint64_t entries_applied = 0;
  std::uint64_t elections_started = 0;
  std::uint64_t snapshots_built = 0;
  std::uint64_t snapshots_installed = 0;
};

struct metrics {
  node_id id;
  std::string role;  // "follower", "pre-candidate", "candidate", "leader", "stopped"
  term_t term;
  node_id leader;
  index_t last_log;
  index_t persisted;
  index_t commit;
  index_t applied;
  log_id snapshot;  // last entry covered by the latest snapshot
  membership config;
  std::vector<peer_metrics> peers;  // filled on the leader only

  std::size_t pending_proposals = 0;
  std::uint64_t pending_bytes = 0;
  std::size_t pending_reads = 0;
  std::uint64_t apply_queue_bytes = 0;
  counters totals;

  // Set when the node stopped serving (fail-stop after a storage failure).
  std::string stop_reason;
};

std::string to_json(const metrics& m);

}  // namespace coraft
