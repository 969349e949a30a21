// Nodes of one process reaching each other without sockets, with faults that
// a test switches on and off while the nodes run: lost requests and replies,
// added delay, and partitions.
//
//   coraft::in_process_network net;
//   coraft::raft node1(executor, options1, log1, machine1, net.factory_for(node_id(1)));
//   net.attach(node_id(1), node1, executor);
//   ...
//   net.isolate(node_id(1));   // node 1 can no longer reach anyone, nor be reached
//   net.heal();
//
// A call is carried out on the receiving node's executor, through a strand
// per link, so that requests reach a node in the order its peer made them
// (delays included). A call that is lost (dropped, or crossing a cut link)
// throws std::system_error (std::errc::timed_out) after the failure timeout,
// as a real network's call timeout would; a call to a node that is not
// attached throws std::errc::connection_refused at once.
#pragma once

#include <coraft/network.h>
#include <coraft/types.h>

#include <asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

namespace coraft {

namespace detail {
class in_process_fabric;
}  // namespace detail

// Every member function is thread-safe; fault settings apply to calls that
// start (requests) or finish (replies) after the change.
class in_process_network {
 public:
  explicit in_process_network(std::uint64_t seed = 1);
  ~in_process_network();
  in_process_network(const in_process_network&) = delete;
  in_process_network& operator=(const in_process_network&) = delete;

  // Requests to `id` go to `handler` on `executor` until detach(id). The
  // handler must stay valid until detach() returns; calls already running
  // finish with the awaitables the handler returned.
  void attach(node_id id, rpc_handler& handler, asio::any_io_executor executor);
  void detach(node_id id);

  // The sending side of node `self` (the sender that partitions look at).
  // Factories and clients may outlive this object: their calls then fail.
  std::shared_ptr<network_factory> factory_for(node_id self);

  // Each request and each reply is lost with this probability (0 to 1).
  void set_drop_probability(double probability);
  // Each request and each reply is held up for a time drawn uniformly from
  // [min, max]; requests of one link still arrive in order.
  void set_delay(std::chrono::microseconds min, std::chrono::microseconds max);
  // How long a lost call takes to fail.
  void set_failure_timeout(std::chrono::milliseconds timeout);

  // Cuts the link between a and b, both ways.
  void cut(node_id a, node_id b);
  // Loses whatever travels from `from` to `to`: the requests `from` makes to
  // `to`, and the replies `from` sends to requests of `to`.
  void cut_one_way(node_id from, node_id to);
  // Cuts `id` from every other node, including those attached later.
  void isolate(node_id id);
  // Cuts every link between nodes of different groups.
  void partition(const std::vector<std::set<node_id>>& groups);
  // Restores every link.
  void heal();

  struct statistics {
    std::uint64_t delivered = 0;  // requests handed to a handler
    std::uint64_t lost = 0;       // requests or replies dropped or cut
    std::uint64_t refused = 0;    // requests to a node not attached
  };
  statistics stats() const;

 private:
  std::shared_ptr<detail::in_process_fabric> fabric_;
};

}  // namespace coraft
