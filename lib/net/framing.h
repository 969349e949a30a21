// Length-prefixed frames on a TCP stream: a 4-byte big-endian length, then a
// serialized wire::Frame.
#pragma once

#include "wire.pb.h"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <mutex>
#include <string>
#include <system_error>
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

// The one writer of a socket, used from any thread. A frame pushed while the
// socket is idle goes out at once from the pushing thread, with no hand-off
// to run(); what the kernel does not take at once, and frames pushed while a
// write is in progress, go out from run() together in its next (gather)
// write. Frames leave in the order they are pushed.
class frame_writer {
 public:
  explicit frame_writer(const asio::any_io_executor& executor) : wakeup_(executor, 1) {}

  // Sends or queues an encoded frame (see encode_frame).
  void push(std::string frame);
  // Drops whatever is queued and makes run() return; once it returns, push()
  // no longer touches the socket, so the caller may close it.
  void close();

  // Writes queued frames until close(); throws the socket's error when a
  // write fails, its own or a push()'s.
  asio::awaitable<void> run(asio::ip::tcp::socket& socket);

 private:
  // Precondition: mutex_ held, nothing queued, no write of run() in progress.
  void send_at_once(std::string frame);

  std::mutex mutex_;
  std::vector<std::string> queued_;
  // The socket's descriptor once run() started: push() sends on it directly
  // while run() has nothing to write.
  int descriptor_ = -1;
  // run() owns the sending side: it has a write in progress, or frames are
  // queued for it.
  bool run_sending_ = false;
  bool closed_ = false;
  std::error_code failure_;  // a push()'s failed send, for run() to throw
  // run() waits on it while nothing is queued; the value carries nothing.
  asio::experimental::concurrent_channel<void(asio::error_code, bool)> wakeup_;
};

}  // namespace coraft::net
