// What a run measured, as a table for people and as JSON for scripts.
#pragma once

#include "benchmark.h"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <ostream>

namespace coraft::bench {

// The figures derived from one point.
struct point_figures {
  double ops_per_second = 0;
  double mib_per_second = 0;  // of command bytes
  // Everything measured spent CPU on: the node processes and this one.
  double cpu_seconds = 0;
  double cpu_seconds_per_1000_ops = 0;
  // Context switches of those processes per proposal: how often a proposal's
  // path hands work from one thread to another that had to be woken.
  double context_switches_per_op = 0;
  // Entries per durable write, over every node; entries per message sent by
  // the leader (heartbeats included). 0 when nothing was written or sent.
  double entries_per_write = 0;
  double leader_entries_per_message = 0;
  // The least a proposal could take here: one durable append plus the
  // round trips on its path (the leader to a follower in real mode, the
  // client to the leader for tcp clients), and the p50 latency over it.
  // Only with LevelDB: in memory there is no durable append to compare to.
  std::optional<unsigned> floor_round_trips;
  std::optional<double> floor_microseconds;
  std::optional<double> p50_over_floor;
  // The same with the nodes' appends sharing one disk at once (more than one node).
  std::optional<double> shared_disk_floor_microseconds;
  std::optional<double> p50_over_shared_disk_floor;
  // The same commit's work done by a bare program (physical_bound's
  // bare_replication, plus the client's round trip for tcp clients), and the
  // p50 over it: what coraft adds to the machine's own costs (real mode only).
  std::optional<double> bare_replication_microseconds;
  std::optional<double> p50_over_bare_replication;
};

point_figures figures_of(const bench_report& report, const point_result& point);

nlohmann::json to_json(const bench_report& report);
void print_report(std::ostream& out, const bench_report& report);

}  // namespace coraft::bench
