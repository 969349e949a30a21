// The listening side of the client protocol: accepts connections on one
// address and runs a session coroutine per connection, each on a strand of
// its own. Knows nothing of what the lines mean.
#pragma once

#include "line_stream.h"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace chatlog {

class client_port : public std::enable_shared_from_this<client_port> {
 public:
  // Serves one connection until it returns; exceptions are logged.
  using session = std::function<asio::awaitable<void>(line_stream&)>;

  // Binds "host:port". Throws std::system_error naming the address.
  client_port(asio::any_io_executor executor, const std::string& address, std::size_t max_line_bytes,
              session serve);

  void start();
  // Stops accepting and closes every connection; sessions end as their
  // pending work completes.
  void close();
  // Closes, and completes once every session has returned.
  asio::awaitable<void> stop();

 private:
  asio::awaitable<void> accept_connections();
  void run_session(asio::ip::tcp::socket socket);
  void forget(std::uint64_t connection_id);
  void close_all();

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;  // the members below
  asio::ip::tcp::acceptor acceptor_;
  std::size_t max_line_bytes_;
  session serve_;
  bool stopping_ = false;
  std::uint64_t next_connection_id_ = 0;
  std::map<std::uint64_t, std::weak_ptr<line_stream>> connections_;
  asio::steady_timer all_ended_;  // cancelled when connections_ becomes empty
};

}  // namespace chatlog
