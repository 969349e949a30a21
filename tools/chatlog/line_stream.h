// A TCP connection that carries lines, as both ends of the chatlog protocol
// use it. One reader and one writer at a time, on the socket's executor.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace chatlog {

class line_stream {
 public:
  line_stream(asio::ip::tcp::socket socket, std::size_t max_line_bytes);

  // The next line without its '\n' (a last line may lack it); nullopt once
  // the peer closed the connection. Throws std::system_error on a broken
  // connection, and std::errc::message_size for a line over the limit.
  asio::awaitable<std::optional<std::string>> read_line();
  // Writes `line`, which must end in '\n'. Throws std::system_error.
  asio::awaitable<void> write(std::string line);

  // Safe only on the socket's executor; pending operations fail.
  void close();
  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  asio::ip::tcp::socket socket_;
  std::string buffer_;  // bytes read beyond the last line handed out
  std::size_t max_line_bytes_;
};

// While armed, closes the stream when `limit` passes, so that whatever waits
// on it fails. Used on the stream's executor; declare it after the stream.
class stream_deadline {
 public:
  explicit stream_deadline(line_stream& stream);
  ~stream_deadline();
  stream_deadline(const stream_deadline&) = delete;
  stream_deadline& operator=(const stream_deadline&) = delete;

  void arm(std::chrono::milliseconds limit);
  void disarm();
  // Whether the limit passed (and closed the stream) since the last arm().
  bool expired() const { return state_->expired; }

 private:
  // Shared with the timer's handler, which may run after disarm() (when the
  // timer fired just before): it then does nothing.
  struct state {
    bool armed = false;
    bool expired = false;
  };

  line_stream& stream_;
  asio::steady_timer timer_;
  std::shared_ptr<state> state_ = std::make_shared<state>();
};

struct host_port {
  std::string host;  // without the brackets of an IPv6 address
  std::string port;
};
// Splits "host:port" at its last colon. Throws std::system_error
// (std::errc::invalid_argument) when either part is missing.
host_port split_address(const std::string& address);

// Connects to "host:port" within `limit`. Throws std::system_error naming the address.
asio::awaitable<line_stream> connect_lines(const std::string& address, std::chrono::milliseconds limit,
                                           std::size_t max_line_bytes);

}  // namespace chatlog
