#include "net/framing.h"

#include <coraft/tcp_network.h>

#include <asio/buffer.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace coraft::net {
namespace {

// A read asks the kernel for at least this much, so that small frames arriving
// together cost one system call.
constexpr std::size_t read_chunk_bytes = 64 << 10;
// An empty buffer larger than this (after a big frame) is given back.
constexpr std::size_t retained_buffer_bytes = 4 << 20;

constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

std::uint32_t read_big_endian(const char* bytes) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < frame_prefix_bytes; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

void write_big_endian(std::uint32_t value, char* bytes) {
  for (std::size_t i = frame_prefix_bytes; i-- > 0; value >>= 8) bytes[i] = static_cast<char>(value & 0xff);
}

}  // namespace

std::string encode_frame(const wire::Frame& frame, std::size_t max_frame_bytes) {
  std::size_t size = frame.ByteSizeLong();
  if (size > max_frame_bytes) {
    throw std::system_error(tcp_error::frame_too_large, "outgoing frame of " + std::to_string(size) +
                                                            " bytes exceeds the limit of " +
                                                            std::to_string(max_frame_bytes));
  }
  std::string bytes(frame_prefix_bytes + size, '\0');
  write_big_endian(static_cast<std::uint32_t>(size), bytes.data());
  frame.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(bytes.data() + frame_prefix_bytes));
  return bytes;
}

asio::awaitable<wire::Frame> frame_reader::read(asio::ip::tcp::socket& socket, std::size_t max_frame_bytes) {
  if (begin_ == end_ && buffer_.size() > retained_buffer_bytes) {
    buffer_ = {};
    begin_ = end_ = 0;
  }
  co_await fill(socket, frame_prefix_bytes);
  std::size_t length = read_big_endian(buffer_.data() + begin_);
  if (length > max_frame_bytes) {
    throw std::system_error(tcp_error::frame_too_large, "incoming frame of " + std::to_string(length) +
                                                            " bytes exceeds the limit of " +
                                                            std::to_string(max_frame_bytes));
  }
  co_await fill(socket, frame_prefix_bytes + length);
  wire::Frame frame;
  bool parsed = frame.ParseFromArray(buffer_.data() + begin_ + frame_prefix_bytes, static_cast<int>(length));
  begin_ += frame_prefix_bytes + length;
  if (!parsed) throw std::system_error(tcp_error::malformed_frame, "a frame does not parse");
  if (frame.kind_case() == wire::Frame::KIND_NOT_SET) throw std::system_error(tcp_error::malformed_frame, "empty frame");
  co_return frame;
}

asio::awaitable<void> frame_reader::fill(asio::ip::tcp::socket& socket, std::size_t bytes) {
  if (end_ - begin_ >= bytes) co_return;
  make_room(bytes);
  while (end_ - begin_ < bytes) {
    auto [error, received] =
        co_await socket.async_read_some(asio::buffer(buffer_.data() + end_, buffer_.size() - end_), as_tuple_awaitable);
    if (error == asio::error::eof && end_ > begin_) {
      throw std::system_error(tcp_error::truncated_frame, "the connection closed inside a frame");
    }
    if (error) throw std::system_error(error);
    end_ += received;
  }
}

void frame_reader::make_room(std::size_t bytes) {
  if (buffer_.size() - begin_ >= std::max(bytes, read_chunk_bytes)) return;
  std::copy(buffer_.begin() + static_cast<std::ptrdiff_t>(begin_), buffer_.begin() + static_cast<std::ptrdiff_t>(end_),
            buffer_.begin());
  end_ -= begin_;
  begin_ = 0;
  buffer_.resize(std::max({buffer_.size(), bytes, read_chunk_bytes}));
}

void frame_writer::push(std::string frame) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    if (!run_sending_ && descriptor_ >= 0) return send_at_once(std::move(frame));
    queued_.push_back(std::move(frame));
    run_sending_ = true;
  }
  // A full slot already promises a wake-up that will see this frame.
  wakeup_.try_send(asio::error_code(), true);
}

// The socket is non-blocking (Asio made it so for run()'s reads and writes).
void frame_writer::send_at_once(std::string frame) {
  const ssize_t sent = ::send(descriptor_, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent == static_cast<ssize_t>(frame.size())) return;
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    failure_ = std::error_code(errno, std::system_category());
  } else {
    queued_.push_back(frame.substr(sent < 0 ? 0 : static_cast<std::size_t>(sent)));
  }
  run_sending_ = true;
  wakeup_.try_send(asio::error_code(), true);
}

void frame_writer::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    queued_.clear();
  }
  wakeup_.try_send(asio::error_code(), true);
}

asio::awaitable<void> frame_writer::run(asio::ip::tcp::socket& socket) {
  std::vector<std::string> batch;
  std::vector<asio::const_buffer> buffers;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) co_return;
      if (failure_) throw std::system_error(failure_, "sending a frame");
      descriptor_ = socket.native_handle();
      batch.clear();
      batch.swap(queued_);
      run_sending_ = !batch.empty();
    }
    if (batch.empty()) {
      co_await wakeup_.async_receive(as_tuple_awaitable);
      continue;
    }
    buffers.clear();
    for (const auto& frame : batch) buffers.push_back(asio::buffer(frame));
    co_await asio::async_write(socket, buffers, asio::use_awaitable);
  }
}

}  // namespace coraft::net
