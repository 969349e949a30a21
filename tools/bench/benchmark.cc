#include "benchmark.h"

#include "format.h"
#include "in_process_cluster.h"
#include "io_threads.h"
#include "process_cluster.h"
#include "remote_client.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <system_error>

namespace coraft::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto election_timeout = 10s;

// The run's own directory inside the chosen parent, removed at the end
// unless kept, so that nothing of the user's is ever removed.
class run_directory {
 public:
  run_directory(const fs::path& parent, bool keep) : keep_(keep) {
    const char* temporary = std::getenv("TMPDIR");
    const fs::path base = !parent.empty() ? parent : fs::path(temporary && *temporary ? temporary : "/tmp");
    fs::create_directories(base);
    std::string pattern = (base / "coraft-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::system_error(errno, std::generic_category(), "create a directory in " + base.string());
    path_ = pattern;
  }
  ~run_directory() {
    if (keep_) {
      std::cerr << "coraft-bench: data kept in " << path_.string() << "\n";
      return;
    }
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  run_directory(const run_directory&) = delete;
  run_directory& operator=(const run_directory&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool keep_;
};

std::unique_ptr<cluster> start_cluster(const bench_options& options, const fs::path& dir) {
  if (options.mode == cluster_mode::in_process) {
    return std::make_unique<in_process_cluster>(in_process_options{.nodes = options.nodes,
                                                                   .leveldb = options.leveldb,
                                                                   .data_dir = dir,
                                                                   .threads = options.threads,
                                                                   .workers_on_io = options.workers_on_io});
  }
  return std::make_unique<process_cluster>(process_cluster_options{.nodes = options.nodes,
                                                                   .data_dir = dir,
                                                                   .threads = options.threads,
                                                                   .state_machine_on_io = options.workers_on_io});
}

load_spec spec_for(const bench_options& options, std::size_t clients, client_place place, double rate) {
  std::string label =
      std::string(to_string(place)) + ", " + std::to_string(clients) + (clients == 1 ? " client" : " clients");
  if (rate > 0) label += ", open loop " + format_count(rate) + "/s";
  return {
      .clients = clients,
      .payload_bytes = options.payload_bytes,
      .warmup =
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(options.warmup_seconds)),
      .duration =
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(options.duration_seconds)),
      .ops = options.ops,
      .rate = rate,
      .progress = options.progress,
      .label = label};
}

asio::awaitable<std::vector<std::shared_ptr<remote_client>>> connect_all(asio::any_io_executor executor,
                                                                         std::string address, std::size_t count) {
  std::vector<std::shared_ptr<remote_client>> connections;
  for (std::size_t c = 0; c < count; ++c) connections.push_back(co_await remote_client::connect(executor, address));
  co_return connections;
}

// Clients in this process, spread over `connections` to the leader's client port.
load_result run_tcp_clients(cluster& group, const bench_options& options, const load_spec& spec,
                            std::size_t connections) {
  const std::optional<std::string> address = group.leader_client_address();
  if (!address) throw std::runtime_error("the nodes serve no client port");
  io_threads io(options.client_threads);
  const std::vector<std::shared_ptr<remote_client>> clients = io.run(connect_all(io.executor(), *address, connections));
  proposer propose = [clients](std::size_t client, std::string command) {
    return clients[client % clients.size()]->propose(std::move(command));
  };
  load_result result = io.run(run_load(io.executor(), std::move(propose), spec));
  for (const std::shared_ptr<remote_client>& client : clients) client->close();
  return result;
}

point_result measure(cluster& group, const bench_options& options, std::size_t clients, client_place place,
                     double rate) {
  point_result point;
  point.clients = clients;
  point.place = place;
  point.connections = place == client_place::tcp ? options.connections_for(clients) : 0;
  point.offered_rate = rate;
  const load_spec spec = spec_for(options, clients, place, rate);
  group.mark();
  reset_peak_rss();
  const resource_usage before = resource_usage_now();
  point.load = place == client_place::leader ? group.run_in_leader(spec)
                                             : run_tcp_clients(group, options, spec, point.connections);
  point.bench_usage = resource_usage_now() - before;
  point.bench_peak_rss_bytes = peak_rss_bytes();
  point.nodes = group.sample();
  return point;
}

void measure_all(cluster& group, const bench_options& options, std::vector<point_result>& points) {
  for (std::size_t clients : options.clients) {
    for (client_place place : options.places) {
      if (options.rate_factor > 0) {
        points.push_back(measure(group, options, clients, place, 0));
        const double capacity = points.back().load.ops_per_second();
        points.push_back(measure(group, options, clients, place, options.rate_factor * capacity));
      } else {
        points.push_back(measure(group, options, clients, place, options.rate));
      }
    }
  }
}

}  // namespace

bench_report run_benchmark(const bench_options& options) {
  const run_directory dir(options.data_parent, options.keep_data);
  bench_report report;
  report.options = options;
  report.machine = describe_machine(dir.path());
  report.load_average_before = load_average();
  // Measured while the group is not running, on a machine as quiet as it gets.
  report.bound_before = measure_physical_bound(dir.path(), options.bound_samples, options.nodes, options.payload_bytes);
  {
    const std::unique_ptr<cluster> group = start_cluster(options, dir.path());
    group->wait_for_leader(election_timeout);
    measure_all(*group, options, report.points);
    group->stop();
  }
  report.bound_after = measure_physical_bound(dir.path(), options.bound_samples, options.nodes, options.payload_bytes);
  report.bound = pooled(report.bound_before, report.bound_after);
  report.load_average_after = load_average();
  return report;
}

}  // namespace coraft::bench
