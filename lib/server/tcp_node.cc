#include <coraft/leveldb_log_storage.h>
#include <coraft/tcp_node.h>

#include <exception>
#include <filesystem>
#include <optional>
#include <utility>

namespace coraft {
namespace {

const cluster_member& require_member(const cluster_config& config, node_id id) {
  const cluster_member* member = config.member(id);
  if (!member) throw cluster_config_error("members", "node " + std::to_string(id.value) + " is not listed");
  return *member;
}

raft_options options_for(const cluster_config& config, const cluster_member& self) {
  raft_options options = config.raft;
  options.id = self.id;
  if (self.founding) options.initial_members = config.founding_members();
  return options;
}

tcp_network_options network_for(const cluster_config& config, const cluster_member& self) {
  tcp_network_options options = config.network;
  options.cluster_id = config.cluster_id;
  options.self = self.id;
  options.listen_address = self.peer_address;
  options.advertise_address = self.peer_address;
  options.peers.clear();
  for (const cluster_member& member : config.members) {
    if (member.id != self.id) options.peers[member.id] = member.peer_address;
  }
  return options;
}

std::shared_ptr<log_storage> open_log(const std::string& directory) {
  std::filesystem::create_directories(std::filesystem::path(directory).parent_path());
  return leveldb_log_storage::open(directory);
}

}  // namespace

// Declared in the order of construction: the raft node uses the network
// factory, and the server hands requests to the raft node, so the server goes
// first on destruction.
struct tcp_node::parts {
  parts(asio::any_io_executor executor, cluster_config config, node_id id, std::shared_ptr<state_machine> machine,
        std::optional<asio::any_io_executor> state_machine_executor)
      : config(std::move(config)),
        self(require_member(this->config, id)),
        network(network_for(this->config, self)),
        node(executor, options_for(this->config, self), open_log(this->config.log_directory(id)), std::move(machine),
             std::make_shared<tcp_network_factory>(executor, network),
             worker_executors{.log = std::nullopt, .state_machine = std::move(state_machine_executor)}),
        executor(std::move(executor)) {}

  const cluster_config config;
  const cluster_member& self;  // within config.members
  const tcp_network_options network;
  coraft::raft node;
  asio::any_io_executor executor;
  std::optional<tcp_server> server;  // while started
};

tcp_node::tcp_node(asio::any_io_executor executor, cluster_config config, node_id id,
                   std::shared_ptr<state_machine> machine, std::optional<asio::any_io_executor> state_machine_executor)
    : parts_(std::make_unique<parts>(std::move(executor), std::move(config), id, std::move(machine),
                                     std::move(state_machine_executor))) {}

tcp_node::~tcp_node() = default;

asio::awaitable<void> tcp_node::start() {
  parts_->server.emplace(parts_->executor, parts_->network, parts_->node);
  std::exception_ptr failure;
  try {
    co_await parts_->node.start();
  } catch (...) {
    failure = std::current_exception();  // rethrown below: co_await is not allowed in a handler
  }
  if (failure) {
    co_await close_server();
    std::rethrow_exception(failure);
  }
}

asio::awaitable<void> tcp_node::stop() {
  if (!parts_->server) co_return;
  co_await parts_->node.shutdown();
  co_await close_server();
}

asio::awaitable<void> tcp_node::close_server() {
  co_await parts_->server->stop();
  parts_->server.reset();
}

coraft::raft& tcp_node::raft() { return parts_->node; }
const cluster_config& tcp_node::config() const { return parts_->config; }
const cluster_member& tcp_node::self() const { return parts_->self; }

}  // namespace coraft
