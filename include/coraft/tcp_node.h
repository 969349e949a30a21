// A ready-made coraft node for one process: the log in LevelDB, the group's
// traffic over TCP, the whole cluster described by one JSON file.
//
//   coraft::cluster_config config = coraft::load_cluster_config("cluster.json");
//   auto machine = std::make_shared<my_machine>(config.state_directory(id));
//   coraft::tcp_node node(executor, config, id, machine);
//   co_await node.start();
//   auto answer = co_await node.raft().propose("command");
//   co_await node.stop();
//
// The cluster file:
//   {"cluster_id": "chat",
//    "data_dir": "/var/lib/chat",
//    "members": [{"id": 1, "peer_address": "10.0.0.1:7001", "client_address": "10.0.0.1:7101"},
//                {"id": 4, "peer_address": "10.0.0.4:7001", "client_address": "10.0.0.4:7101",
//                 "founding": false}],
//    "timing": {"tick_ms": 10, "election_timeout_min_ticks": 10, "election_timeout_max_ticks": 20,
//               "heartbeat_interval_ticks": 2, "max_clock_drift_ticks": 2,
//               "request_timeout_ms": 10000, "catch_up_timeout_ms": 60000},
//    "snapshot": {"every_entries": 100000, "keep_entries": 10000},
//    "network": {"connect_timeout_ms": 2000, "call_timeout_ms": 5000, ...}}
// cluster_id, data_dir and members are required; every other field defaults to
// the library's defaults (raft_options, protocol_options, tcp_network_options).
// "network" takes the optional fields of parse_tcp_network_options. Founding
// members (the default) form the group on their first start; a member with
// "founding": false starts empty and waits to be added (raft::add_learner).
// Unknown fields are errors: they are usually typos.
#pragma once

#include <coraft/raft.h>
#include <coraft/state_machine.h>
#include <coraft/tcp_network.h>
#include <coraft/types.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace coraft {

struct cluster_member {
  node_id id;
  // "host:port" the member's tcp_server listens on and its peers dial.
  std::string peer_address;
  // "host:port" where the application serves its own clients.
  std::string client_address;
  // Founding members bootstrap the group; the others join it later.
  bool founding = true;
};

struct cluster_config {
  std::string cluster_id;
  // Member N keeps its data under data_dir/node-N.
  std::string data_dir;
  // Sorted by id; ids, peer addresses and client addresses are unique, and at
  // least one member is founding.
  std::vector<cluster_member> members;
  // Timing and snapshot policy. tcp_node fills in id and initial_members.
  raft_options raft;
  // Limits and timeouts. tcp_node fills in the cluster id, its own id and
  // addresses, and every member's peer address.
  tcp_network_options network;

  // nullptr when `id` is not listed.
  const cluster_member* member(node_id id) const;
  // The founding members as voters, with their peer addresses.
  membership founding_members() const;
  // data_dir/node-N, and within it the log and the application's state.
  std::string node_directory(node_id id) const;
  std::string log_directory(node_id id) const;
  std::string state_directory(node_id id) const;
};

// A configuration value that is missing, of the wrong type or out of range.
class cluster_config_error : public std::invalid_argument {
 public:
  cluster_config_error(std::string field, const std::string& problem);
  // The offending field as a path, e.g. "members[1].peer_address".
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

// Throws cluster_config_error naming the offending field.
cluster_config parse_cluster_config(const nlohmann::json& config);
// Reads and parses the file at `path`. Throws cluster_config_error (field
// "(file)" when the file cannot be read or is not JSON).
cluster_config load_cluster_config(const std::string& path);

// One member of the cluster, running on `executor` (which may run on several
// threads): a leveldb_log_storage under config.log_directory(id), a tcp_server
// on its peer address, and a raft node over them. Like raft, call stop()
// before destroying a started node. The log writes (with sync) on a thread of
// the node's own; so does the state machine unless `state_machine_executor`
// is given, which only a state machine that never blocks should be (see
// worker_executors in <coraft/raft.h>).
class tcp_node {
 public:
  // Opens the log (creating its directory). Throws cluster_config_error when
  // `id` is not a member, std::system_error when the log cannot be opened.
  tcp_node(asio::any_io_executor executor, cluster_config config, node_id id, std::shared_ptr<state_machine> machine,
           std::optional<asio::any_io_executor> state_machine_executor = std::nullopt);
  ~tcp_node();
  tcp_node(const tcp_node&) = delete;
  tcp_node& operator=(const tcp_node&) = delete;

  // Listens on the peer address and starts the raft node. Throws
  // std::system_error when the port cannot be bound or the node cannot start
  // (see raft::start); nothing is left running then.
  asio::awaitable<void> start();
  // Shuts the raft node down (answering every waiting caller), then closes the
  // server and its connections. Does nothing when not started.
  asio::awaitable<void> stop();

  coraft::raft& raft();
  const cluster_config& config() const;
  const cluster_member& self() const;

 private:
  struct parts;

  asio::awaitable<void> close_server();

  std::unique_ptr<parts> parts_;
};

}  // namespace coraft
