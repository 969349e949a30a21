// The client to one peer (coraft::network over TCP).
#pragma once

#include <coraft/network.h>
#include <coraft/tcp_network.h>

#include "net/wire_codec.h"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <memory>
#include <string>

namespace coraft::net {

class client_state;

// Calls hop onto the client's own strand, where one connection carries them
// pipelined: each request is queued at once, in call order, and waits for the
// response bearing its call id. The connection opens on the first call and,
// after a failure, again on the first call after a jittered exponential
// backoff; calls before that fail with tcp_error::backing_off.
// install_snapshot streams on a connection of its own.
class tcp_client final : public network {
 public:
  tcp_client(asio::any_io_executor executor, std::shared_ptr<const tcp_network_options> options, node_id peer,
             std::string address);
  tcp_client(const tcp_client&) = delete;
  tcp_client& operator=(const tcp_client&) = delete;
  // Fails the calls in flight with tcp_error::closed and closes the connection.
  ~tcp_client() override;

  asio::awaitable<vote_response> vote(vote_request request) override;
  asio::awaitable<append_response> append(append_request request) override;
  asio::awaitable<heartbeat_response> heartbeat(heartbeat_request request) override;
  asio::awaitable<timeout_now_response> timeout_now(timeout_now_request request) override;
  asio::awaitable<read_index_response> read_index(read_index_request request) override;
  asio::awaitable<snapshot_response> install_snapshot(snapshot_request request, snapshot_source& data) override;

 private:
  template <class Response>
  asio::awaitable<Response> call(request_message request);

  asio::any_io_executor executor_;
  std::shared_ptr<const tcp_network_options> options_;
  node_id peer_;
  std::string address_;
  std::shared_ptr<client_state> state_;
};

}  // namespace coraft::net
