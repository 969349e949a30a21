#include "line_stream.h"

#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read_until.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <memory>
#include <system_error>
#include <utility>

namespace chatlog {
namespace {

constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace

host_port split_address(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument), "not host:port: " + address);
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, address.substr(colon + 1)};
}

line_stream::line_stream(asio::ip::tcp::socket socket, std::size_t max_line_bytes)
    : socket_(std::move(socket)), max_line_bytes_(max_line_bytes) {}

asio::awaitable<std::optional<std::string>> line_stream::read_line() {
  auto buffer = asio::dynamic_buffer(buffer_, max_line_bytes_);
  auto [error, length] = co_await asio::async_read_until(socket_, buffer, '\n', as_tuple_awaitable);
  if (error == asio::error::not_found) {
    throw std::system_error(std::make_error_code(std::errc::message_size),
                            "a line longer than " + std::to_string(max_line_bytes_) + " bytes");
  }
  if (error == asio::error::eof) {
    if (buffer_.empty()) co_return std::nullopt;
    co_return std::exchange(buffer_, {});
  }
  if (error) throw std::system_error(error);
  std::string line = buffer_.substr(0, length - 1);
  buffer_.erase(0, length);
  co_return line;
}

asio::awaitable<void> line_stream::write(std::string line) {
  co_await asio::async_write(socket_, asio::buffer(line), asio::use_awaitable);
}

void line_stream::close() {
  std::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
}

stream_deadline::stream_deadline(line_stream& stream) : stream_(stream), timer_(stream.socket().get_executor()) {}

stream_deadline::~stream_deadline() { disarm(); }

void stream_deadline::arm(std::chrono::milliseconds limit) {
  disarm();
  state_ = std::make_shared<state>();
  state_->armed = true;
  timer_.expires_after(limit);
  timer_.async_wait([current = state_, &stream = stream_](std::error_code) {
    if (!current->armed) return;
    current->expired = true;
    stream.close();
  });
}

void stream_deadline::disarm() {
  state_->armed = false;
  timer_.cancel();
}

asio::awaitable<line_stream> connect_lines(const std::string& address, std::chrono::milliseconds limit,
                                           std::size_t max_line_bytes) {
  const host_port parts = split_address(address);
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  auto [resolve_error, endpoints] = co_await resolver.async_resolve(parts.host, parts.port, as_tuple_awaitable);
  if (resolve_error) throw std::system_error(resolve_error, "cannot resolve " + address);
  line_stream stream(asio::ip::tcp::socket(executor), max_line_bytes);
  stream_deadline deadline(stream);
  deadline.arm(limit);
  auto [connect_error, endpoint] = co_await asio::async_connect(stream.socket(), endpoints, as_tuple_awaitable);
  deadline.disarm();
  if (deadline.expired()) throw std::system_error(std::make_error_code(std::errc::timed_out), "connect to " + address);
  if (connect_error) throw std::system_error(connect_error, "connect to " + address);
  stream.socket().set_option(asio::ip::tcp::no_delay(true));
  co_return stream;
}

}  // namespace chatlog
