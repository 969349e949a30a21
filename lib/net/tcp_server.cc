#include <coraft/logging.h>
#include <coraft/tcp_network.h>

#include "net/address.h"
#include "net/deadline.h"
#include "net/failure.h"
#include "net/framing.h"
#include "net/handshake.h"
#include "net/snapshot_stream.h"
#include "net/wire_codec.h"

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <map>
#include <stdexcept>

namespace coraft::net {
namespace {

constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

// After a failed accept (say, no file descriptor left) the server pauses this
// long instead of spinning on the error.
constexpr std::chrono::milliseconds accept_retry_pause{100};

asio::awaitable<response_message> call_handler(rpc_handler& handler, request_message request) {
  if (auto* vote = std::get_if<vote_request>(&request)) co_return co_await handler.handle_vote(std::move(*vote));
  if (auto* heartbeat = std::get_if<heartbeat_request>(&request)) {
    co_return co_await handler.handle_heartbeat(std::move(*heartbeat));
  }
  if (auto* timeout_now = std::get_if<timeout_now_request>(&request)) {
    co_return co_await handler.handle_timeout_now(std::move(*timeout_now));
  }
  if (auto* read_index = std::get_if<read_index_request>(&request)) {
    co_return co_await handler.handle_read_index(std::move(*read_index));
  }
  throw std::logic_error("appends are answered in place, and snapshots while their data streams in");
}

const message_header& request_header(const request_message& request) {
  return std::visit([](const auto& message) -> const message_header& { return message; }, request);
}

// Ends caused by the network or by stopping are routine; bad input is worth a warning.
log_level level_of_end(const std::error_code& error) {
  if (error.category() == tcp_category() || error == asio::error::timed_out) return log_level::warning;
  if (error == asio::error::eof || error == asio::error::operation_aborted || error == asio::error::bad_descriptor ||
      error == asio::error::connection_reset) {
    return log_level::debug;
  }
  return log_level::info;
}

std::string remote_of(const asio::ip::tcp::socket& socket) {
  std::error_code error;
  auto endpoint = socket.remote_endpoint(error);
  return error ? std::string("an unknown address") : concat(endpoint);
}

// One accepted connection, used on its own strand: the handshake, then
// requests, each handled by a coroutine of its own and answered as it
// completes. A snapshot request is handled in line, since its data follows it
// on the connection. An append is answered wherever the handler gives the
// answer: respond() and respond_failure() may run on any thread.
class server_connection : public std::enable_shared_from_this<server_connection> {
 public:
  server_connection(asio::ip::tcp::socket socket, std::shared_ptr<const tcp_network_options> options,
                    rpc_handler& handler)
      : socket_(std::move(socket)),
        writer_(socket_.get_executor()),
        handlers_done_(socket_.get_executor()),
        options_(std::move(options)),
        handler_(handler),
        context_(concat("tcp server ", options_->self, ": connection from ", remote_of(socket_))) {}

  asio::any_io_executor executor() { return socket_.get_executor(); }

  // Runs the connection until it ends and every handler call on it is done.
  asio::awaitable<void> serve();
  void close();

 private:
  // Whether the peer's Hello was accepted.
  asio::awaitable<bool> greet();
  asio::awaitable<void> read_requests();
  asio::awaitable<wire::Frame> read_frame();
  void start_writer();
  void start_handler(std::uint64_t call_id, request_message request);
  asio::awaitable<void> answer(std::uint64_t call_id, request_message request);
  void answer_append(std::uint64_t call_id, append_request request);
  asio::awaitable<void> receive_snapshot(std::uint64_t call_id, snapshot_request request);
  void check_sender(const message_header& header) const;
  void respond(std::uint64_t call_id, const response_message& response);
  void respond_failure(std::uint64_t call_id, const std::string& reason);

  asio::ip::tcp::socket socket_;
  frame_reader reader_;
  frame_writer writer_;
  // serve() waits on it until running_handlers_ is 0.
  asio::steady_timer handlers_done_;
  std::size_t running_handlers_ = 0;
  std::shared_ptr<const tcp_network_options> options_;
  rpc_handler& handler_;
  std::string context_;  // "tcp server n1: connection from host:port", for logs
  node_id peer_;         // the sender of the accepted Hello
};

asio::awaitable<void> server_connection::serve() {
  try {
    if (co_await greet()) {
      start_writer();
      co_await read_requests();
    }
  } catch (const std::exception& failure) {
    auto error = as_system_error(failure);
    log(level_of_end(error.code()), context_, " closed: ", error.what());
  }
  close();
  while (running_handlers_ > 0) {
    handlers_done_.expires_at(asio::steady_timer::time_point::max());
    co_await handlers_done_.async_wait(as_tuple_awaitable);
  }
}

void server_connection::close() {
  writer_.close();
  std::error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<bool> server_connection::greet() {
  deadline limit(executor());
  limit.arm(options_->connect_timeout, [this] { close(); });
  try {
    auto frame = co_await reader_.read(socket_, handshake_frame_bytes);
    if (!frame.has_hello()) throw std::system_error(tcp_error::handshake_failed, "the first frame is not a Hello");
    wire::Frame reply;
    *reply.mutable_hello_reply() = check_hello(frame.hello(), *options_);
    node_id sender(frame.hello().sender());
    bool accepted = reply.hello_reply().refusal() == wire::ACCEPTED;
    // Logged before the reply leaves, so whoever reads the refusal finds its reason logged already.
    if (!accepted) log(log_level::warning, context_, " (", sender, ") refused: ", reply.hello_reply().reason());
    auto bytes = encode_frame(reply, handshake_frame_bytes);
    co_await asio::async_write(socket_, asio::buffer(bytes), asio::use_awaitable);
    if (accepted) peer_ = sender;
    co_return accepted;
  } catch (const std::system_error&) {
    if (limit.expired()) {
      throw std::system_error(asio::error::timed_out,
                              concat("no handshake within ", options_->connect_timeout.count(), " ms"));
    }
    throw;
  }
}

void server_connection::start_writer() {
  asio::co_spawn(
      executor(), [self = shared_from_this()] { return self->writer_.run(self->socket_); },
      [self = shared_from_this()](std::exception_ptr error) {
        if (error) self->close();  // the reader then ends the connection
      });
}

asio::awaitable<void> server_connection::read_requests() {
  for (;;) {
    auto frame = co_await read_frame();
    if (!frame.has_request()) throw std::system_error(tcp_error::malformed_frame, "expected a request frame");
    auto call_id = frame.request().call_id();
    auto request = from_wire(*frame.mutable_request());
    if (auto* snapshot = std::get_if<snapshot_request>(&request)) {
      co_await receive_snapshot(call_id, std::move(*snapshot));
    } else if (auto* append = std::get_if<append_request>(&request)) {
      answer_append(call_id, std::move(*append));
    } else {
      start_handler(call_id, std::move(request));
    }
  }
}

// The wait for a frame's first byte has no limit; the rest of the frame must
// follow within frame_timeout.
asio::awaitable<wire::Frame> server_connection::read_frame() {
  co_await reader_.wait_for_frame(socket_);
  deadline limit(executor());
  // Cancelled rather than closed: serve() logs why before it closes.
  limit.arm(options_->frame_timeout, [this] {
    std::error_code ignored;
    socket_.cancel(ignored);
  });
  try {
    co_return co_await reader_.read(socket_, options_->max_frame_bytes);
  } catch (const std::system_error&) {
    if (limit.expired()) {
      throw std::system_error(asio::error::timed_out,
                              concat("a frame was not completed within ", options_->frame_timeout.count(), " ms"));
    }
    throw;
  }
}

void server_connection::start_handler(std::uint64_t call_id, request_message request) {
  ++running_handlers_;
  // The completion handler keeps the connection alive while answer() runs.
  asio::co_spawn(
      executor(), answer(call_id, std::move(request)), [self = shared_from_this()](std::exception_ptr error) {
        log_failure("tcp server request")(error);
        if (--self->running_handlers_ == 0) self->handlers_done_.cancel();
      });
}

asio::awaitable<void> server_connection::answer(std::uint64_t call_id, request_message request) {
  try {
    check_sender(request_header(request));
    auto response = co_await call_handler(handler_, std::move(request));
    respond(call_id, response);
  } catch (const std::exception& failure) {
    respond_failure(call_id, failure.what());
  }
}

// The answer goes out from whichever thread gives it (the node's log thread
// once the entries are durable): respond() may run on any thread.
void server_connection::answer_append(std::uint64_t call_id, append_request request) {
  try {
    check_sender(request);
  } catch (const std::system_error& failure) {
    return respond_failure(call_id, failure.what());
  }
  handler_.handle_append(std::move(request),
                         [self = shared_from_this(), call_id](std::error_code error, append_response response) {
                           if (error) return self->respond_failure(call_id, error.message());
                           self->respond(call_id, response);
                         });
}

asio::awaitable<void> server_connection::receive_snapshot(std::uint64_t call_id, snapshot_request request) {
  received_snapshot data(executor(), [this] { return reader_.read(socket_, options_->max_frame_bytes); });
  try {
    check_sender(request);
    auto response = co_await handler_.handle_snapshot(std::move(request), data);
    respond(call_id, response);
  } catch (const std::exception& failure) {
    respond_failure(call_id, failure.what());
  }
  co_await data.skip_rest();
}

void server_connection::check_sender(const message_header& header) const {
  if (header.from != peer_) {
    throw std::system_error(tcp_error::invalid_sender, concat("a request from ", header.from,
                                                              " on the connection of ", peer_));
  }
}

void server_connection::respond(std::uint64_t call_id, const response_message& response) {
  wire::Frame frame;
  to_wire(call_id, response, *frame.mutable_response());
  try {
    writer_.push(encode_frame(frame, options_->max_frame_bytes));
  } catch (const std::system_error& error) {
    respond_failure(call_id, error.what());
  }
}

void server_connection::respond_failure(std::uint64_t call_id, const std::string& reason) {
  log(log_level::info, context_, ": request from ", peer_, " failed: ", reason);
  wire::Frame frame;
  auto& response = *frame.mutable_response();
  response.set_call_id(call_id);
  response.mutable_failure()->set_reason(reason);
  writer_.push(encode_frame(frame, options_->max_frame_bytes));
}

asio::ip::tcp::endpoint listen_endpoint(const asio::any_io_executor& executor, const std::string& address) {
  auto target = split_host_port(address);
  if (!target) throw std::system_error(tcp_error::unknown_address, "\"" + address + "\" is not a host:port address");
  asio::ip::tcp::resolver resolver(executor);
  return resolver.resolve(target->host, target->port, asio::ip::resolver_base::passive).begin()->endpoint();
}

}  // namespace

// The listener and the registry of open connections, used on `strand_`.
class tcp_server_state : public std::enable_shared_from_this<tcp_server_state> {
 public:
  tcp_server_state(const asio::any_io_executor& executor, const tcp_network_options& options, rpc_handler& handler);

  void start();
  std::uint16_t port() const { return port_; }
  const asio::strand<asio::any_io_executor>& strand() const { return strand_; }

  // Stops accepting and closes every connection.
  void close();
  // On the strand: close(), then waits until every connection has ended;
  // `self` keeps the state alive meanwhile.
  static asio::awaitable<void> stop(std::shared_ptr<tcp_server_state> self);

 private:
  asio::awaitable<void> accept_connections();
  void serve(asio::ip::tcp::socket socket);
  void forget(std::uint64_t connection_id);

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  std::shared_ptr<const tcp_network_options> options_;
  rpc_handler& handler_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  // Connections whose serve() has not completed.
  std::map<std::uint64_t, std::weak_ptr<server_connection>> connections_;
  std::uint64_t next_connection_id_ = 0;
  bool stopping_ = false;
  // stop() waits on it until connections_ is empty.
  asio::steady_timer all_ended_;
};

tcp_server_state::tcp_server_state(const asio::any_io_executor& executor, const tcp_network_options& options,
                                   rpc_handler& handler)
    : executor_(executor),
      strand_(asio::make_strand(executor)),
      options_(std::make_shared<const tcp_network_options>(options)),
      handler_(handler),
      acceptor_(strand_),
      all_ended_(strand_) {
  try {
    auto endpoint = listen_endpoint(executor_, options.listen_address);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
  } catch (const std::system_error& error) {
    throw in_context(concat("tcp server ", options.self, ": cannot listen on ", options.listen_address), error);
  }
}

void tcp_server_state::start() {
  asio::co_spawn(
      strand_, [self = shared_from_this()] { return self->accept_connections(); },
      log_failure(concat("tcp server ", options_->self, ": accepting")));
}

asio::awaitable<void> tcp_server_state::accept_connections() {
  while (!stopping_) {
    auto [error, socket] = co_await acceptor_.async_accept(asio::make_strand(executor_), as_tuple_awaitable);
    if (stopping_) co_return;
    if (!error) {
      serve(std::move(socket));
      continue;
    }
    log(log_level::warning, "tcp server ", options_->self, ": accept failed: ", error.message());
    asio::steady_timer pause(strand_, accept_retry_pause);
    co_await pause.async_wait(as_tuple_awaitable);
  }
}

void tcp_server_state::serve(asio::ip::tcp::socket socket) {
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  auto connection = std::make_shared<server_connection>(std::move(socket), options_, handler_);
  auto connection_id = next_connection_id_++;
  connections_.emplace(connection_id, connection);
  asio::co_spawn(
      connection->executor(), [connection] { return connection->serve(); },
      [self = shared_from_this(), connection_id](std::exception_ptr error) {
        log_failure("tcp server connection")(error);
        asio::post(self->strand_, [self, connection_id] { self->forget(connection_id); });
      });
}

void tcp_server_state::forget(std::uint64_t connection_id) {
  connections_.erase(connection_id);
  if (connections_.empty()) all_ended_.cancel();
}

void tcp_server_state::close() {
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  for (const auto& [connection_id, weak] : connections_) {
    if (auto connection = weak.lock()) asio::post(connection->executor(), [connection] { connection->close(); });
  }
}

asio::awaitable<void> tcp_server_state::stop(std::shared_ptr<tcp_server_state> self) {
  self->close();
  while (!self->connections_.empty()) {
    self->all_ended_.expires_at(asio::steady_timer::time_point::max());
    co_await self->all_ended_.async_wait(as_tuple_awaitable);
  }
}

}  // namespace coraft::net

namespace coraft {

tcp_server::tcp_server(asio::any_io_executor executor, const tcp_network_options& options, rpc_handler& handler)
    : state_(std::make_shared<net::tcp_server_state>(executor, options, handler)) {
  state_->start();
}

tcp_server::~tcp_server() {
  asio::post(state_->strand(), [state = state_] { state->close(); });
}

std::uint16_t tcp_server::port() const { return state_->port(); }

asio::awaitable<void> tcp_server::stop() {
  co_await asio::co_spawn(state_->strand(), net::tcp_server_state::stop(state_), asio::use_awaitable);
}

}  // namespace coraft
