// One process per node: this program re-executed as `coraft-bench node`
// (node_process.h), the nodes talking TCP over 127.0.0.1 with their logs in
// LevelDB under the data directory, each driven through its stdin and stdout.
#pragma once

#include "cluster.h"

#include <nlohmann/json_fwd.hpp>

#include <sys/types.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace coraft::bench {

struct process_cluster_options {
  std::size_t nodes = 3;
  std::filesystem::path data_dir;  // the cluster file and the nodes' data
  unsigned threads = 1;            // of each node's io_context
  bool state_machine_on_io = true;  // or on a thread of each node's own
};

class process_cluster final : public cluster {
 public:
  // Writes the cluster file, starts the node processes and waits until each
  // is ready. Throws std::runtime_error naming the node that failed.
  explicit process_cluster(const process_cluster_options& options);
  // Kills the node processes still running.
  ~process_cluster() override;

  node_id wait_for_leader(std::chrono::milliseconds timeout) override;
  void mark() override;
  std::vector<node_sample> sample() override;
  load_result run_in_leader(const load_spec& spec) override;
  std::optional<std::string> leader_client_address() override;
  void stop() override;

 private:
  struct child {
    node_id id;
    std::string client_address;
    pid_t pid = -1;
    int commands = -1;             // the child's stdin
    std::FILE* answers = nullptr;  // the child's stdout
  };

  void start(const process_cluster_options& options);
  void spawn(child& node, const std::filesystem::path& config_file, const process_cluster_options& options);
  // Sends one command line and returns the answer line. Throws
  // std::runtime_error when the child answers an error or has gone.
  nlohmann::json call(child& node, const nlohmann::json& command);
  nlohmann::json read_answer(child& node);
  child& leader();
  // Kills every node process still running (SIGKILL) and releases its pipes.
  void kill_all();
  void reap(child& node);

  std::vector<child> children_;
};

}  // namespace coraft::bench
