// The node side of the benchmark's client port (see client_protocol.h): each
// request is proposed to the node at once and answered when the proposal is.
#pragma once

#include <coraft/raft.h>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>
#include <string>
#include <vector>

namespace coraft::bench {

class client_session;

class client_port {
 public:
  // Binds `address` ("host:port") and accepts on a strand of `executor`.
  // `node` must outlive close(). Throws std::system_error when it cannot bind.
  client_port(asio::any_io_executor executor, const std::string& address, coraft::raft& node);
  client_port(const client_port&) = delete;
  client_port& operator=(const client_port&) = delete;

  // Stops accepting and closes every connection; proposals under way are
  // still answered by the node, but their answers are no longer sent. Must
  // complete before the port is destroyed.
  asio::awaitable<void> close();

 private:
  asio::awaitable<void> accept_connections();
  asio::awaitable<void> close_on_strand();

  const asio::any_io_executor executor_;
  // The acceptor's strand also guards sessions_.
  asio::ip::tcp::acceptor acceptor_;
  coraft::raft& node_;
  std::vector<std::weak_ptr<client_session>> sessions_;
};

}  // namespace coraft::bench
