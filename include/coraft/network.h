// How nodes reach each other. A network_factory gives the engine one client per
// peer; the client carries a request to the peer's rpc_handler and returns its
// response. coraft ships an in-process network (with fault injection) and TCP.
#pragma once

#include <coraft/messages.h>
#include <coraft/state_machine.h>

#include <asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace coraft {

// Receives the answer to an append: the response, or an error (and a
// default response) when the node does not serve.
using append_reply = std::function<void(std::error_code, append_response)>;

// The receiving side: what a node answers. coraft::raft implements it; a network
// implementation hands every request it receives to the local node's handler.
// Handlers may be called concurrently from any thread.
class rpc_handler {
 public:
  virtual ~rpc_handler() = default;
  virtual asio::awaitable<vote_response> handle_vote(vote_request request) = 0;
  virtual asio::awaitable<append_response> handle_append(append_request request) = 0;
  // The same, answered through `reply` instead of a coroutine. `reply` runs
  // exactly once and on any thread: when the answer waits for the entries to
  // be durable, on the thread that made them so, as soon as they are. It must
  // not block. A network that can send from any thread saves a wake-up of its
  // own thread on every acknowledgement this way.
  virtual void handle_append(append_request request, append_reply reply) = 0;
  virtual asio::awaitable<heartbeat_response> handle_heartbeat(heartbeat_request request) = 0;
  virtual asio::awaitable<timeout_now_response> handle_timeout_now(timeout_now_request request) = 0;
  virtual asio::awaitable<read_index_response> handle_read_index(read_index_request request) = 0;
  // `data` yields the snapshot's chunks as the sender streams them.
  virtual asio::awaitable<snapshot_response> handle_snapshot(snapshot_request request, snapshot_source& data) = 0;
};

// The sending side, one per peer.
// Contract for implementers:
// - The engine calls a client's methods from one strand and may have many calls
//   in flight at once (pipelining). Requests must reach the peer in call order;
//   responses may complete in any order.
// - A request that cannot be delivered or answered (connection lost, peer down,
//   timeout) throws std::system_error; the engine treats the peer as unreachable
//   for a while and retries. Requests are idempotent for the protocol, so a
//   client may resend on a new connection.
// - install_snapshot streams `data` on a path of its own, so that heartbeats and
//   appends to the same peer never wait behind it.
class network {
 public:
  virtual ~network() = default;
  virtual asio::awaitable<vote_response> vote(vote_request request) = 0;
  virtual asio::awaitable<append_response> append(append_request request) = 0;
  virtual asio::awaitable<heartbeat_response> heartbeat(heartbeat_request request) = 0;
  virtual asio::awaitable<timeout_now_response> timeout_now(timeout_now_request request) = 0;
  virtual asio::awaitable<read_index_response> read_index(read_index_request request) = 0;
  virtual asio::awaitable<snapshot_response> install_snapshot(snapshot_request request, snapshot_source& data) = 0;
};

class network_factory {
 public:
  virtual ~network_factory() = default;
  // A client for `peer`; `address` is the peer's entry in membership::addresses
  // (empty when the membership has none).
  virtual std::unique_ptr<network> connect(node_id peer, const std::string& address) = 0;
};

}  // namespace coraft
