// coraft-bench's command line.
#pragma once

#include "node_process.h"

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace coraft::bench {

enum class cluster_mode {
  in_process,  // every node in this process, in_process_network
  processes,   // "real": one process per node, TCP on 127.0.0.1, LevelDB with sync
};

// Where the clients run.
enum class client_place {
  leader,  // coroutines in the leader's process calling raft::propose
  tcp,     // this process, through the leader's client port
};

std::string_view to_string(cluster_mode mode);
std::string_view to_string(client_place place);

struct bench_options {
  cluster_mode mode = cluster_mode::in_process;
  std::size_t nodes = 3;
  bool leveldb = false;  // the log in LevelDB with sync; otherwise in memory
  std::size_t payload_bytes = 64;
  std::vector<std::size_t> clients = {1, 16, 256};  // one measurement each
  std::vector<client_place> places = {client_place::leader};
  std::size_t connections = 0;  // for tcp clients; 0 means min(clients, 16)
  double warmup_seconds = 1;
  double duration_seconds = 5;
  std::uint64_t ops = 0;  // when not 0, measure this many proposals instead of a duration
  // Open loop: proposals per second, or (rate_factor) a multiple of the
  // throughput a closed-loop measurement of the same clients just reached.
  double rate = 0;
  double rate_factor = 0;
  std::filesystem::path data_parent;  // the run's data directory is made inside
  bool keep_data = false;
  unsigned threads = 1;             // io_context threads: of this process in-process, of each node process in real mode
  // Whatever never blocks (the state machine; the log when it is in memory)
  // runs on the io threads (coraft::worker_executors), not on threads of each node's own.
  bool workers_on_io = true;
  unsigned client_threads = 1;      // for tcp clients
  std::size_t bound_samples = 300;  // durable appends measured (round trips: ten times as many)
  bool json = false;
  std::string plot_file;
  bool progress = true;

  std::size_t connections_for(std::size_t client_count) const;
};

nlohmann::json to_json(const bench_options& options);

struct help_request {};

// A command line that cannot be run; what() says why.
class usage_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// `arguments` without the program name. Throws usage_error.
std::variant<bench_options, node_process_options, help_request> parse_command_line(
    const std::vector<std::string>& arguments);

extern const char* const usage_text;

}  // namespace coraft::bench
