#include "client_port.h"

#include <coraft/logging.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <sstream>

namespace chatlog {
namespace {

constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

// After a failed accept (no file descriptor left, say) the port pauses
// instead of spinning on the error.
constexpr std::chrono::milliseconds accept_retry_pause{100};

asio::ip::tcp::endpoint resolve(const asio::any_io_executor& executor, const std::string& address) {
  const host_port parts = split_address(address);
  asio::ip::tcp::resolver resolver(executor);
  return *resolver.resolve(parts.host, parts.port).begin();
}

void log_end(const char* what, std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& failure) {
    coraft::log(coraft::log_level::warning, what, ": ", failure.what());
  }
}

}  // namespace

client_port::client_port(asio::any_io_executor executor, const std::string& address, std::size_t max_line_bytes,
                         session serve)
    : executor_(executor),
      strand_(asio::make_strand(executor)),
      acceptor_(strand_),
      max_line_bytes_(max_line_bytes),
      serve_(std::move(serve)),
      all_ended_(strand_) {
  try {
    const auto endpoint = resolve(executor, address);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
  } catch (const std::system_error& error) {
    throw std::system_error(error.code(), "cannot listen for clients on " + address);
  }
}

void client_port::start() {
  asio::co_spawn(
      strand_, [self = shared_from_this()] { return self->accept_connections(); },
      [](std::exception_ptr error) { log_end("client port: accepting", error); });
}

asio::awaitable<void> client_port::accept_connections() {
  while (!stopping_) {
    auto [error, socket] = co_await acceptor_.async_accept(asio::make_strand(executor_), as_tuple_awaitable);
    if (stopping_) co_return;
    if (!error) {
      run_session(std::move(socket));
      continue;
    }
    coraft::log(coraft::log_level::warning, "client port: accept failed: ", error.message());
    asio::steady_timer pause(strand_, accept_retry_pause);
    co_await pause.async_wait(as_tuple_awaitable);
  }
}

void client_port::run_session(asio::ip::tcp::socket socket) {
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  auto stream = std::make_shared<line_stream>(std::move(socket), max_line_bytes_);
  const std::uint64_t connection_id = next_connection_id_++;
  connections_.emplace(connection_id, stream);
  // The session keeps the stream alive; the registry only reaches it to close it.
  auto serve = [stream, serve = serve_]() -> asio::awaitable<void> { co_await serve(*stream); };
  asio::co_spawn(stream->socket().get_executor(), std::move(serve),
                 [self = shared_from_this(), connection_id](std::exception_ptr error) {
                   log_end("client connection", error);
                   asio::post(self->strand_, [self, connection_id] { self->forget(connection_id); });
                 });
}

void client_port::forget(std::uint64_t connection_id) {
  connections_.erase(connection_id);
  if (connections_.empty()) all_ended_.cancel();
}

void client_port::close_all() {
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  for (const auto& [connection_id, weak] : connections_) {
    if (auto stream = weak.lock()) asio::post(stream->socket().get_executor(), [stream] { stream->close(); });
  }
}

void client_port::close() {
  asio::post(strand_, [self = shared_from_this()] { self->close_all(); });
}

asio::awaitable<void> client_port::stop() {
  auto self = shared_from_this();
  auto stop_on_strand = [self]() -> asio::awaitable<void> {
    self->close_all();
    while (!self->connections_.empty()) {
      self->all_ended_.expires_at(asio::steady_timer::time_point::max());
      co_await self->all_ended_.async_wait(as_tuple_awaitable);
    }
  };  // named: a lambda inside a co_await expression trips GCC 12
  co_await asio::co_spawn(strand_, std::move(stop_on_strand), asio::use_awaitable);
}

}  // namespace chatlog
