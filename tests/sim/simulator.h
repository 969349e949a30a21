// A deterministic simulation of a coraft cluster: core nodes in one thread with
// a simulated network, disks, clocks, crashes and clients, all driven by one
// seed. Safety checkers run after every event; the client history is checked
// for linearizability at the end, and liveness once the faults stop.
#pragma once

#include <coraft/options.h>

#include <cstdint>
#include <string>
#include <vector>

namespace coraft::sim {

// Simulated time is counted in abstract units; a node ticks every
// `tick_units` (give or take its clock drift).
struct fault_profile {
  // Network.
  double drop_probability = 0;
  double duplicate_probability = 0;
  std::uint64_t delay_mean_units = 10;  // exponential, plus 1
  double long_delay_probability = 0;    // a message held back, reordering it
  std::uint64_t long_delay_max_units = 0;
  // Partitions (symmetric, one-way, a node isolated, the leader isolated),
  // starting on average every `partition_every_units` and healed after a
  // random time up to `partition_max_units`. 0: none.
  std::uint64_t partition_every_units = 0;
  std::uint64_t partition_max_units = 0;
  // Crashes of a random node (the leader more often), restarted after up to
  // `restart_max_units`. 0: none.
  std::uint64_t crash_every_units = 0;
  std::uint64_t restart_max_units = 0;
  // Each node's clock runs at 1 ± up to this fraction.
  double clock_drift = 0;
  // Disk write latency, uniform.
  std::uint64_t disk_min_units = 5;
  std::uint64_t disk_max_units = 50;

  static fault_profile none();
  static fault_profile light();
  static fault_profile heavy();
};

struct config {
  int nodes = 3;    // founding voters
  int spares = 2;   // nodes outside the group at first, for membership changes
  int clients = 5;
  int keys = 3;
  std::uint64_t tick_units = 100;
  std::uint64_t fault_units = 100'000;  // simulated time with faults
  std::uint64_t quiet_units = 40'000;   // then without, to check liveness
  std::uint64_t client_timeout_units = 3'000;
  // Share of reads served under the leader's lease (the rest go through the
  // log, ReadIndex or a follower in equal parts).
  double lease_read_share = 0.25;
  // Random membership changes (add or remove learners, promote, remove voters
  // including the leader) and leadership transfers, on average this often.
  std::uint64_t membership_change_every_units = 8'000;
  std::uint64_t transfer_every_units = 10'000;
  // Each node snapshots its state machine every so many applied entries (a
  // per-seed choice in this range) and keeps up to so many entries behind it.
  std::uint64_t snapshot_every_min_entries = 20;
  std::uint64_t snapshot_every_max_entries = 300;
  std::uint64_t max_entries_kept_after_snapshot = 50;
  fault_profile faults = fault_profile::heavy();
  protocol_options protocol = default_protocol();
  // When set, each seed picks protocol.announce_commit_at_once at random, so
  // that a run of seeds covers both ways followers learn the commit index.
  bool vary_commit_announcement = true;
  // Test-only breakage, to show the checkers can fail: the simulated disk
  // reports a write durable as soon as it is issued, though a crash still
  // loses it (a follower acknowledging before its log is durable).
  bool acknowledge_before_durable = false;
  bool record_trace = false;
  // When set, the client history is written there (JSON lines, see history_io.h).
  std::string history_file;

  static protocol_options default_protocol();
};

struct statistics {
  std::uint64_t events = 0;
  std::uint64_t messages = 0;
  std::uint64_t client_operations = 0;  // completed, known outcome
  std::uint64_t unknown_outcomes = 0;
  std::uint64_t crashes = 0;
  std::uint64_t partitions = 0;
  std::uint64_t elections_won = 0;
  std::uint64_t max_commit = 0;
  std::uint64_t membership_changes = 0;
  std::uint64_t transfers = 0;
  std::uint64_t snapshots_installed = 0;
};

struct result {
  bool ok = true;
  std::string violation;           // empty when ok
  std::vector<std::string> trace;  // filled when config::record_trace
  statistics stats;
};

result run(std::uint64_t seed, const config& cfg);

}  // namespace coraft::sim
