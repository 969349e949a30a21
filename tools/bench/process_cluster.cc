#include "process_cluster.h"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace coraft::bench {
namespace {

namespace fs = std::filesystem;

// How long a node process may take to answer "stop" before it is killed.
constexpr auto stop_grace = std::chrono::seconds(15);

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Ports nobody listens on now. Bound all at once so that they differ, then
// released for the nodes to bind (a port may be taken in between: the node
// then fails to start and says so).
std::vector<std::uint16_t> free_loopback_ports(std::size_t count) {
  asio::io_context io;
  std::vector<asio::ip::tcp::acceptor> acceptors;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    acceptors.emplace_back(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ports.push_back(acceptors.back().local_endpoint().port());
  }
  return ports;
}

std::string loopback(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// The tcp_node cluster file: library defaults for everything but addresses and timing.
nlohmann::json cluster_file(const fs::path& data_dir, std::size_t nodes) {
  const std::vector<std::uint16_t> ports = free_loopback_ports(2 * nodes);
  nlohmann::json members = nlohmann::json::array();
  for (std::size_t n = 0; n < nodes; ++n) {
    members.push_back(
        {{"id", n + 1}, {"peer_address", loopback(ports[2 * n])}, {"client_address", loopback(ports[2 * n + 1])}});
  }
  // etcd's default timing (heartbeat 100 ms, election timeout from 1 s), as the
  // figures it is compared with: under a 2x flood on two shared vCPUs a
  // node's io thread can stall past coraft's default 100-200 ms.
  const nlohmann::json timing = {{"tick_ms", 10},
                                 {"heartbeat_interval_ticks", 10},
                                 {"election_timeout_min_ticks", 100},
                                 {"election_timeout_max_ticks", 200}};
  return {{"cluster_id", "coraft-bench"}, {"data_dir", data_dir.string()}, {"members", members}, {"timing", timing}};
}

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) throw_errno("write to a node process");
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

// Waits up to `grace` for `pid` to exit and reaps it; true when it did.
bool exited_within(pid_t pid, std::chrono::seconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  do {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

}  // namespace

process_cluster::process_cluster(const process_cluster_options& options) : children_(options.nodes) {
  try {
    start(options);
  } catch (...) {
    kill_all();
    throw;
  }
}

process_cluster::~process_cluster() { kill_all(); }

void process_cluster::start(const process_cluster_options& options) {
  const fs::path config_file = options.data_dir / "cluster.json";
  const nlohmann::json config = cluster_file(options.data_dir, options.nodes);
  std::ofstream(config_file) << config.dump(2) << "\n";
  for (std::size_t n = 0; n < options.nodes; ++n) {
    children_[n].id = node_id(n + 1);
    children_[n].client_address = config["members"][n]["client_address"].get<std::string>();
    spawn(children_[n], config_file, options);
  }
  for (child& node : children_) read_answer(node);  // {"ready": true}
}

void process_cluster::kill_all() {
  for (child& node : children_) {
    if (node.pid > 0) ::kill(node.pid, SIGKILL);
    reap(node);
  }
}

void process_cluster::spawn(child& node, const fs::path& config_file, const process_cluster_options& options) {
  int to_child[2];
  int from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) throw_errno("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
  const std::string id = std::to_string(node.id.value);
  // This very program, even if its file was replaced since it started.
  std::vector<std::string> arguments = {"/proc/self/exe", "node",
                                        "--config",       config_file.string(),
                                        "--id",           id,
                                        "--threads",      std::to_string(options.threads),
                                        "--workers",      options.state_machine_on_io ? "io" : "own"};
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  const int spawned = ::posix_spawn(&node.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(to_child[0]);
  ::close(from_child[1]);
  node.commands = to_child[1];
  node.answers = ::fdopen(from_child[0], "r");
  if (spawned != 0) {
    node.pid = -1;
    throw std::system_error(spawned, std::generic_category(), "start node " + id);
  }
}

nlohmann::json process_cluster::call(child& node, const nlohmann::json& command) {
  write_all(node.commands, command.dump() + "\n");
  return read_answer(node);
}

nlohmann::json process_cluster::read_answer(child& node) {
  char* line = nullptr;
  std::size_t capacity = 0;
  const ssize_t length = ::getline(&line, &capacity, node.answers);
  const std::string text = length > 0 ? std::string(line, static_cast<std::size_t>(length)) : std::string();
  std::free(line);
  const std::string who = "node " + std::to_string(node.id.value);
  if (text.empty()) throw std::runtime_error(who + " exited (its log lines are above)");
  nlohmann::json answer = nlohmann::json::parse(text);
  if (answer.contains("error")) throw std::runtime_error(who + ": " + answer["error"].get<std::string>());
  return answer;
}

node_id process_cluster::wait_for_leader(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const nlohmann::json status = {{"command", "status"}};
  while (std::chrono::steady_clock::now() < deadline) {
    for (child& node : children_) {
      const nlohmann::json now = call(node, status);
      if (now["role"] == "leader" && now["commit"] >= now["last_log"]) return node.id;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("no leader within " + std::to_string(timeout.count()) + " ms");
}

process_cluster::child& process_cluster::leader() {
  const nlohmann::json status = {{"command", "status"}};
  for (child& node : children_) {
    if (call(node, status)["role"] == "leader") return node;
  }
  throw std::runtime_error("the group has no leader");
}

void process_cluster::mark() {
  const nlohmann::json mark = {{"command", "mark"}};
  for (child& node : children_) call(node, mark);
}

std::vector<node_sample> process_cluster::sample() {
  const nlohmann::json sample = {{"command", "sample"}};
  std::vector<node_sample> samples;
  for (child& node : children_) samples.push_back(node_sample_from_json(call(node, sample)));
  return samples;
}

load_result process_cluster::run_in_leader(const load_spec& spec) {
  const nlohmann::json load = {{"command", "load"}, {"spec", to_json(spec)}};
  return load_result_from_json(call(leader(), load));
}

std::optional<std::string> process_cluster::leader_client_address() { return leader().client_address; }

void process_cluster::stop() {
  const nlohmann::json stop = {{"command", "stop"}};
  for (child& node : children_) write_all(node.commands, stop.dump() + "\n");
  for (child& node : children_) {
    read_answer(node);  // {"stopped": true}
    if (exited_within(node.pid, stop_grace)) {
      node.pid = -1;
    } else {
      ::kill(node.pid, SIGKILL);
    }
    reap(node);
  }
}

void process_cluster::reap(child& node) {
  if (node.pid > 0) ::waitpid(node.pid, nullptr, 0);  // after SIGKILL: at once
  node.pid = -1;
  if (node.commands >= 0) ::close(node.commands);
  node.commands = -1;
  if (node.answers) std::fclose(node.answers);
  node.answers = nullptr;
}

}  // namespace coraft::bench
