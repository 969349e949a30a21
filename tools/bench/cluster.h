// A running group the benchmark measures: its nodes in this process
// (in_process_cluster) or one process per node (process_cluster).
#pragma once

#include "load_generator.h"
#include "machine.h"

#include <coraft/metrics.h>
#include <coraft/types.h>

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace coraft::bench {

// What one node did between cluster::mark() and cluster::sample().
struct node_sample {
  node_id id;
  std::string role;
  counters totals;  // increments over the interval
  // Only for a node with a process of its own: its CPU time and context
  // switches over the interval, and its peak resident memory since mark().
  std::optional<resource_usage> usage;
  std::optional<std::uint64_t> peak_rss_bytes;
};

nlohmann::json to_json(const node_sample& sample);
// Throws nlohmann::json::exception on a missing or mistyped field.
node_sample node_sample_from_json(const nlohmann::json& json);

// The counters' increments from `earlier` to `later`.
counters counters_since(const counters& later, const counters& earlier);

class cluster {
 public:
  virtual ~cluster() = default;

  // Waits until a node leads and returns it. Throws std::runtime_error when
  // none does within `timeout`.
  virtual node_id wait_for_leader(std::chrono::milliseconds timeout) = 0;
  // Starts an interval: sample() reports what happens from here on.
  virtual void mark() = 0;
  virtual std::vector<node_sample> sample() = 0;
  // Runs `spec`'s clients inside the leader's process, proposing straight to
  // its coraft::raft, and returns what they measured.
  virtual load_result run_in_leader(const load_spec& spec) = 0;
  // The leader's client port (client_protocol.h), for clients in another
  // process; nullopt when the nodes serve none.
  virtual std::optional<std::string> leader_client_address() = 0;
  // Shuts every node down and waits for it. Called at most once; destroying
  // a cluster that was not stopped ends its nodes abruptly.
  virtual void stop() = 0;
};

}  // namespace coraft::bench
