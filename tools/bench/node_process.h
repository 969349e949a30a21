// One node of a process_cluster, run as
//   coraft-bench node --config CLUSTER.json --id N [--threads T]
// a coraft::tcp_node (LevelDB log written with sync, TCP to its peers)
// replicating a coraft::memory_kv_state_machine, with the benchmark's client
// port (client_protocol.h) on the member's client address.
//
// The parent drives it through stdin and stdout, one JSON object per line;
// every command gets one answer line, or {"error": "..."}:
//   (once started)                 {"ready": true}
//   {"command": "status"}          {"role": .., "term": .., "commit": .., "last_log": ..}
//   {"command": "mark"}            {"marked": true}: starts an interval (counters, CPU, peak RSS)
//   {"command": "sample"}          a node_sample (cluster.h) covering the interval
//   {"command": "load", "spec": S} a load_result: S's clients ran here, proposing to this node
//   {"command": "stop"}            {"stopped": true}, and the process exits
// The end of the input counts as "stop". Nothing else goes to stdout: log
// lines and the load's progress go to stderr.
#pragma once

#include <coraft/types.h>

#include <string>

namespace coraft::bench {

struct node_process_options {
  std::string config_file;  // a tcp_node cluster file
  node_id id;
  unsigned threads = 1;  // running the node's io_context
  bool state_machine_on_io = true;  // or on a thread of the node's own
};

// Returns the process's exit status.
int run_node_process(const node_process_options& options);

}  // namespace coraft::bench
