// The machine's own limits on a commit, measured without coraft: how long a
// small durable append takes in the data directory, and how long a message
// takes to cross loopback TCP and come back. A Raft commit
// needs at least one of each (the leader's append travels to a follower, which
// makes it durable and answers), so their sum is the floor coraft is held to.
#pragma once

#include "histogram.h"

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <filesystem>
#include <optional>

namespace coraft::bench {

// Each sample appends `write_bytes` to a file in `dir` and waits for
// fdatasync, as a log append does. With several writers, each appends to a
// file of its own at the same time (as the nodes of one machine do), and
// every writer's samples are recorded. The files are removed afterwards.
// Throws std::system_error when the file cannot be written.
histogram measure_durable_append(const std::filesystem::path& dir, std::size_t samples, std::size_t writers = 1,
                                 std::size_t write_bytes = 4096);

// Each sample sends `message_bytes` over a loopback TCP connection (Nagle off)
// to an echoing thread and waits for them to come back.
histogram measure_loopback_round_trip(std::size_t samples, std::size_t message_bytes = 64);

// One commit's disk and network work done by a bare program, with no Raft
// and no coraft, between threads of this process. For each sample the
// leader sends `bytes` over loopback TCP (Nagle off) to each of `followers`,
// then appends `bytes` to a file of its own and waits for fdatasync; each
// follower appends `bytes` to its own file, waits for fdatasync and answers.
// The sample ends once the leader's append is durable and `answers_needed`
// followers have answered it. The files are removed afterwards. Throws
// std::system_error when a file cannot be written (a follower's error
// included).
histogram measure_bare_replication(const std::filesystem::path& dir, std::size_t samples, std::size_t followers,
                                   std::size_t answers_needed, std::size_t bytes);

struct physical_bound {
  histogram durable_append;             // one writer of 4 KiB
  histogram concurrent_durable_append;  // one writer per node (empty with one node)
  histogram round_trip;
  std::size_t writers = 1;
  // What each concurrent writer appends: one command's payload, about what a
  // node's log write carries at one client, so that the shared-disk floor
  // holds the disk's work for the commit measured.
  std::size_t concurrent_write_bytes = 0;
  // measure_bare_replication with the nodes' followers and majority, and
  // `concurrent_write_bytes` per message and append (empty with one node):
  // what a real-mode commit needs of the machine, wake-ups included.
  histogram bare_replication;

  // Of `writers` nodes, the followers of one leader, and how many of them
  // must answer to make a majority with the leader.
  std::size_t followers() const { return writers - 1; }
  std::size_t answers_needed() const { return writers / 2; }

  // The least a commit can take: one durable append plus `round_trips`.
  double floor_microseconds(unsigned round_trips) const;
  // The same with every node appending at once to the one disk they share,
  // as they do for each commit (nullopt with one node).
  std::optional<double> shared_disk_floor_microseconds(unsigned round_trips) const;
  // The bare replication's p50 plus `extra_round_trips` (nullopt with one node).
  std::optional<double> bare_replication_microseconds(unsigned extra_round_trips) const;
};

physical_bound measure_physical_bound(const std::filesystem::path& dir, std::size_t samples, std::size_t nodes,
                                      std::size_t payload_bytes);
// The samples of both measurements together.
physical_bound pooled(const physical_bound& first, const physical_bound& second);
nlohmann::json to_json(const physical_bound& bound);

}  // namespace coraft::bench
