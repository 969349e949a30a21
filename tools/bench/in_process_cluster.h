// Every node in this process, connected by coraft::in_process_network, all on
// one io_context; each node's log is in memory or in a LevelDB database of
// its own (written with sync), its state a coraft::memory_kv_state_machine.
#pragma once

#include "cluster.h"
#include "io_threads.h"

#include <coraft/in_process_network.h>
#include <coraft/log_storage.h>
#include <coraft/memory_kv_state_machine.h>
#include <coraft/raft.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

namespace coraft::bench {

struct in_process_options {
  std::size_t nodes = 3;
  bool leveldb = false;
  std::filesystem::path data_dir;  // node N's log goes to data_dir/node-N/log
  unsigned threads = 1;            // running the io_context
  // The state machines, and the logs when in memory, run on the io_context
  // (coraft::worker_executors) instead of threads of each node's own.
  bool workers_on_io = true;
};

class in_process_cluster final : public cluster {
 public:
  // Starts the nodes. Throws what raft::start or opening a log throws.
  explicit in_process_cluster(const in_process_options& options);
  ~in_process_cluster() override;

  node_id wait_for_leader(std::chrono::milliseconds timeout) override;
  void mark() override;
  std::vector<node_sample> sample() override;
  load_result run_in_leader(const load_spec& spec) override;
  std::optional<std::string> leader_client_address() override { return std::nullopt; }
  void stop() override;

 private:
  struct member {
    std::shared_ptr<log_storage> log;
    std::shared_ptr<memory_kv_state_machine> machine = std::make_shared<memory_kv_state_machine>();
    std::unique_ptr<raft> node;
    counters at_mark;
  };

  void start(const in_process_options& options);
  raft& leader();

  // Declared first: its threads stop before the nodes are destroyed.
  io_threads io_;
  in_process_network network_;
  std::vector<member> members_;
};

}  // namespace coraft::bench
