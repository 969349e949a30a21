// Length-prefixed frames on a TCP stream: a 4-byte big-endian length, then a
// serialized wire::Frame.
#pragma once

#include "wire.pb.h"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace coraft::net {

inline constexpr std::size_t frame_prefix_bytes = 4;

// The frame's bytes as they go on the wire. Throws
// std::system_error(tcp_error::frame_too_large) when the serialized frame is
// larger than `max_frame_bytes`.
std::string encode_frame(const wire::Frame& frame, std::size_t max_frame_bytes);

// Reads frames from one socket, a buffer's worth of bytes per system call.
class frame_reader {
 public:
  // The next frame. Throws std::system_error with
  // - tcp_error::frame_too_large when the announced length exceeds
  //   `max_frame_bytes`; nothing of that size is allocated or read;
  // - tcp_error::truncated_frame when the stream ends inside a frame;
  // - tcp_error::malformed_frame when the frame does not parse or has no kind;
  // - the socket's error otherwise (asio::error::eof between two frames).
  asio::awaitable<wire::Frame> read(asio::ip::tcp::socket& socket, std::size_t max_frame_bytes);
  // Until at least one byte of the next frame is buffered; throws the
  // socket's error (asio::error::eof when the peer closed).
  asio::awaitable<void> wait_for_frame(asio::ip::tcp::socket& socket) { return fill(socket, 1); }

 private:
  // Until at least `bytes` unconsumed bytes are buffered.
  asio::awaitable<void> fill(asio::ip::tcp::socket& socket, std::size_t bytes);
  void make_room(std::size_t bytes);

  std::vector<char> buffer_;
  // buffer_[begin_, end_) holds received bytes not consumed yet.
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// The one writer of a socket. Frames pushed while a write is in progress go
// out together in the next (gather) write. Used from the socket's strand only.
class frame_writer {
 public:
  explicit frame_writer(const asio::any_io_executor& executor) : wake_(executor) {}

  // Queues encoded frames (see encode_frame) in the order they are pushed.
  void push(std::string frame);
  // Drops whatever is queued and makes run() return.
  void close();

  // Writes queued frames until close(); throws the socket's error when a write fails.
  asio::awaitable<void> run(asio::ip::tcp::socket& socket);

 private:
  std::vector<std::string> queued_;
  // run() waits on it while nothing is queued; push() and close() cancel it.
  asio::steady_timer wake_;
  bool closed_ = false;
};

}  // namespace coraft::net
