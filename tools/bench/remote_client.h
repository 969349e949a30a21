// The client side of the benchmark's client port (see client_protocol.h): one
// pipelined connection that any number of coroutines propose through at once.
#pragma once

#include "engine/completion.h"

#include <coraft/raft.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/strand.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_map>

namespace coraft::bench {

class remote_client : public std::enable_shared_from_this<remote_client> {
 public:
  // Connects to a node's client port ("host:port"). Throws std::system_error
  // when it cannot.
  static asio::awaitable<std::shared_ptr<remote_client>> connect(asio::any_io_executor executor,
                                                                 const std::string& address);

  explicit remote_client(asio::any_io_executor executor);

  // Proposes `command` and answers as the node's raft::propose did, except
  // that an applied command's answer is empty (the port does not send it
  // back). Once the connection broke, every proposal fails with its error.
  asio::awaitable<result<std::string>> propose(std::string command);
  // Closes the connection; proposals still waiting fail.
  void close();

 private:
  void send(std::string command, engine::completion<std::string> done);
  // Hands the waiter of request `id`, if it is ours, to `answers`.
  void answer(std::uint64_t id, std::error_code outcome, engine::answer_batch<std::string>& answers);
  void fail_all(std::error_code reason);
  static asio::awaitable<void> read_responses(std::shared_ptr<remote_client> self);
  static asio::awaitable<void> flush(std::shared_ptr<remote_client> self);

  // All members are touched on the strand only.
  asio::strand<asio::any_io_executor> strand_;
  asio::ip::tcp::socket socket_;
  std::unordered_map<std::uint64_t, engine::completion<std::string>> waiting_;  // by request id
  std::uint64_t last_id_ = 0;
  std::string unsent_;  // requests not yet handed to a write
  bool flushing_ = false;
  std::error_code broken_;  // why the connection ended, once it has
};

}  // namespace coraft::bench
