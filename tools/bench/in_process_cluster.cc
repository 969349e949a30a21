#include "in_process_cluster.h"

#include <coraft/leveldb_log_storage.h>
#include <coraft/memory_log_storage.h>

#include <stdexcept>

namespace coraft::bench {
namespace {

std::shared_ptr<log_storage> open_log(const in_process_options& options, node_id id) {
  if (!options.leveldb) return std::make_shared<memory_log_storage>();
  const std::filesystem::path directory = options.data_dir / ("node-" + std::to_string(id.value));
  std::filesystem::create_directories(directory);
  return leveldb_log_storage::open((directory / "log").string());
}

// LevelDB's writes with sync block, so that log always keeps a thread of its own.
worker_executors workers_for(const in_process_options& options, const asio::any_io_executor& io) {
  if (!options.workers_on_io) return {};
  return {.log = options.leveldb ? std::nullopt : std::optional(io), .state_machine = io};
}

asio::awaitable<void> start_all(std::vector<raft*> nodes) {
  for (raft* node : nodes) co_await node->start();
}

asio::awaitable<void> shut_down_all(std::vector<raft*> nodes) {
  for (raft* node : nodes) co_await node->shutdown();
}

}  // namespace

in_process_cluster::in_process_cluster(const in_process_options& options)
    : io_(options.threads), members_(options.nodes) {
  try {
    start(options);
  } catch (...) {
    io_.stop();  // before the members go
    throw;
  }
}

void in_process_cluster::start(const in_process_options& options) {
  membership founders;
  for (std::size_t n = 1; n <= options.nodes; ++n) founders.voters.insert(node_id(n));
  std::vector<raft*> nodes;
  for (std::size_t n = 1; n <= options.nodes; ++n) {
    raft_options node_options;
    node_options.id = node_id(n);
    node_options.initial_members = founders;
    member& m = members_[n - 1];
    m.log = open_log(options, node_options.id);
    m.node = std::make_unique<raft>(io_.executor(), node_options, m.log, m.machine,
                                    network_.factory_for(node_options.id), workers_for(options, io_.executor()));
    network_.attach(node_options.id, *m.node, io_.executor());
    nodes.push_back(m.node.get());
  }
  io_.run(start_all(nodes));
}

// Without stop(), the nodes are destroyed running, which stops their threads at once.
in_process_cluster::~in_process_cluster() { io_.stop(); }

node_id in_process_cluster::wait_for_leader(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const member& m : members_) {
      const metrics now = m.node->get_metrics();
      if (now.role == "leader" && now.commit >= now.last_log) return now.id;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("no leader within " + std::to_string(timeout.count()) + " ms");
}

raft& in_process_cluster::leader() {
  for (member& m : members_) {
    if (m.node->get_metrics().role == "leader") return *m.node;
  }
  throw std::runtime_error("the group has no leader");
}

void in_process_cluster::mark() {
  for (member& m : members_) m.at_mark = m.node->get_metrics().totals;
}

std::vector<node_sample> in_process_cluster::sample() {
  std::vector<node_sample> samples;
  for (const member& m : members_) {
    const metrics now = m.node->get_metrics();
    node_sample sample;
    sample.id = now.id;
    sample.role = now.role;
    sample.totals = counters_since(now.totals, m.at_mark);
    samples.push_back(std::move(sample));
  }
  return samples;
}

load_result in_process_cluster::run_in_leader(const load_spec& spec) {
  raft& node = leader();
  proposer propose = [&node](std::size_t, std::string command) { return node.propose(std::move(command)); };
  return io_.run(run_load(io_.executor(), std::move(propose), spec));
}

void in_process_cluster::stop() {
  std::vector<raft*> nodes;
  for (member& m : members_) nodes.push_back(m.node.get());
  io_.run(shut_down_all(nodes));
  for (std::size_t n = 1; n <= members_.size(); ++n) network_.detach(node_id(n));
  io_.stop();
}

}  // namespace coraft::bench
