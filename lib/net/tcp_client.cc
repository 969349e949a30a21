#include "net/tcp_client.h"

#include <coraft/logging.h>

#include "net/failure.h"
#include "net/framing.h"
#include "net/handshake.h"
#include "net/snapshot_stream.h"

#include <google/protobuf/arena.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <unordered_map>

namespace coraft::net {
namespace {

using std::chrono::steady_clock;

// A call waiting for its outcome, on the client strand.
struct pending_call {
  explicit pending_call(const asio::any_io_executor& strand) : wake(strand) {}

  // Expires at the call's deadline; cancelled as soon as an outcome is in.
  asio::steady_timer wake;
  std::optional<wire::Response> response;
  std::optional<std::system_error> failure;
};

// One TCP connection to the peer and the calls waiting on it. Used on the
// client strand only.
class client_connection {
 public:
  explicit client_connection(const asio::any_io_executor& strand) : socket_(strand), writer_(strand) {}

  // Queues the call's request; its response or the connection's failure
  // cancels call->wake. Requests queued before the handshake completes go out
  // right after it.
  void start_call(std::uint64_t call_id, std::shared_ptr<pending_call> call, std::string frame) {
    calls_.emplace(call_id, std::move(call));
    writer_.push(std::move(frame));
  }
  void forget_call(std::uint64_t call_id) { calls_.erase(call_id); }

  asio::awaitable<void> open(const tcp_network_options& options, node_id peer, const std::string& address) {
    co_await connect_and_greet(socket_, reader_, options, peer, address);
  }
  asio::awaitable<void> write_requests() { co_await writer_.run(socket_); }
  // Hands each response to its call; returns only by throwing the connection's error.
  asio::awaitable<void> read_responses(std::size_t max_frame_bytes);

  bool closed() const { return closed_; }
  // Closes the socket and fails every waiting call with `reason`.
  void close(const std::system_error& reason);

 private:
  void deliver(wire::Response response);

  asio::ip::tcp::socket socket_;
  frame_reader reader_;
  frame_writer writer_;
  std::unordered_map<std::uint64_t, std::shared_ptr<pending_call>> calls_;
  bool closed_ = false;
};

asio::awaitable<void> client_connection::read_responses(std::size_t max_frame_bytes) {
  for (;;) {
    auto frame = co_await reader_.read(socket_, max_frame_bytes);
    if (!frame.has_response()) throw std::system_error(tcp_error::malformed_frame, "expected a response frame");
    deliver(std::move(*frame.mutable_response()));
  }
}

void client_connection::deliver(wire::Response response) {
  auto found = calls_.find(response.call_id());
  if (found == calls_.end()) return;  // the call gave up waiting (timeout or cancellation)
  found->second->response = std::move(response);
  found->second->wake.cancel();
  calls_.erase(found);
}

void client_connection::close(const std::system_error& reason) {
  if (closed_) return;
  closed_ = true;
  writer_.close();
  std::error_code ignored;
  socket_.close(ignored);
  for (auto& [call_id, call] : calls_) {
    call->failure = reason;
    call->wake.cancel();
  }
  calls_.clear();
}

}  // namespace

// Everything a client shares with its coroutines. Used on `strand_` only.
class client_state : public std::enable_shared_from_this<client_state> {
 public:
  client_state(const asio::any_io_executor& executor, std::shared_ptr<const tcp_network_options> options,
               node_id peer, std::string address)
      : strand_(asio::make_strand(executor)),
        options_(std::move(options)),
        peer_(peer),
        address_(std::move(address)),
        description_(concat(peer_, " at ", address_.empty() ? "(no address)" : address_)),
        jitter_(std::random_device{}()) {}

  const asio::strand<asio::any_io_executor>& strand() const { return strand_; }
  const std::string& description() const { return description_; }

  // On the strand; `self` keeps the state alive while the call waits.
  static asio::awaitable<wire::Response> call(std::shared_ptr<client_state> self, request_message request);
  void close();

 private:
  std::shared_ptr<client_connection> usable_connection();
  asio::awaitable<void> run_connection(std::shared_ptr<client_connection> connection);
  void start_writer(const std::shared_ptr<client_connection>& connection);
  void connection_failed(const std::shared_ptr<client_connection>& connection, const std::system_error& reason);
  std::chrono::milliseconds next_backoff();

  asio::strand<asio::any_io_executor> strand_;
  std::shared_ptr<const tcp_network_options> options_;
  node_id peer_;
  std::string address_;
  std::string description_;  // "n2 at host:port", the context of every error
  // The connection calls go to, opening or open; null when there is none.
  std::shared_ptr<client_connection> connection_;
  std::uint64_t last_call_id_ = 0;
  // Failed connections since the last successful handshake; sets the backoff.
  int consecutive_failures_ = 0;
  // No connection opens before this; calls until then fail with last_failure_.
  steady_clock::time_point next_attempt_;
  std::optional<std::system_error> last_failure_;
  bool closed_ = false;
  std::mt19937_64 jitter_;
};

namespace {

// The frame lives in an arena until it is encoded: an append's entries cost
// a few arena blocks instead of several allocations (and frees) each.
std::string encode_request(std::uint64_t call_id, const request_message& request, std::size_t max_frame_bytes) {
  google::protobuf::ArenaOptions sizes;
  sizes.start_block_size = 4 << 10;
  sizes.max_block_size = 256 << 10;
  google::protobuf::Arena arena(sizes);
  auto* frame = google::protobuf::Arena::CreateMessage<wire::Frame>(&arena);
  to_wire(call_id, request, *frame->mutable_request());
  return encode_frame(*frame, max_frame_bytes);
}

}  // namespace

asio::awaitable<wire::Response> client_state::call(std::shared_ptr<client_state> self, request_message request) {
  std::uint64_t call_id = ++self->last_call_id_;
  auto bytes = encode_request(call_id, request, self->options_->max_frame_bytes);
  auto connection = self->usable_connection();
  auto pending = std::make_shared<pending_call>(self->strand_);
  pending->wake.expires_after(self->options_->call_timeout);
  connection->start_call(call_id, pending, std::move(bytes));
  auto [error] = co_await pending->wake.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (pending->response) co_return std::move(*pending->response);
  if (pending->failure) throw *pending->failure;
  connection->forget_call(call_id);
  if (error == asio::error::operation_aborted) {
    throw std::system_error(asio::error::operation_aborted, self->description_ + ": call cancelled");
  }
  throw std::system_error(tcp_error::call_timeout, concat(self->description_, ": no response within ",
                                                          self->options_->call_timeout.count(), " ms"));
}

std::shared_ptr<client_connection> client_state::usable_connection() {
  if (closed_) throw std::system_error(tcp_error::closed, description_ + ": client closed");
  if (address_.empty()) throw std::system_error(tcp_error::unknown_address, description_);
  if (connection_) return connection_;
  auto now = steady_clock::now();
  if (now < next_attempt_) {
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_attempt_ - now);
    throw std::system_error(tcp_error::backing_off,
                            concat(last_failure_->what(), "; next attempt in ", wait.count(), " ms"));
  }
  connection_ = std::make_shared<client_connection>(strand_);
  asio::co_spawn(
      strand_, [self = shared_from_this(), connection = connection_] { return self->run_connection(connection); },
      log_failure("tcp client connection"));
  return connection_;
}

asio::awaitable<void> client_state::run_connection(std::shared_ptr<client_connection> connection) {
  try {
    co_await connection->open(*options_, peer_, address_);
    if (connection->closed()) co_return;
    consecutive_failures_ = 0;
    log(log_level::debug, "tcp client ", options_->self, ": connected to ", description_);
    start_writer(connection);
    co_await connection->read_responses(options_->max_frame_bytes);
  } catch (const std::exception& error) {
    connection_failed(connection, as_system_error(error));
  }
}

void client_state::start_writer(const std::shared_ptr<client_connection>& connection) {
  asio::co_spawn(
      strand_, [connection] { return connection->write_requests(); },
      [self = shared_from_this(), connection](std::exception_ptr error) {
        if (!error) return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& failure) {
          self->connection_failed(connection, as_system_error(failure));
        }
      });
}

void client_state::connection_failed(const std::shared_ptr<client_connection>& connection,
                                     const std::system_error& reason) {
  if (connection->closed()) return;
  auto failure = in_context(description_, reason);
  connection->close(failure);
  if (connection_ != connection) return;
  connection_.reset();
  last_failure_ = failure;
  auto wait = next_backoff();
  next_attempt_ = steady_clock::now() + wait;
  log(log_level::info, "tcp client ", options_->self, ": ", failure.what(), "; next attempt in ", wait.count(), " ms");
}

std::chrono::milliseconds client_state::next_backoff() {
  int doublings = std::min(consecutive_failures_, 30);
  ++consecutive_failures_;
  auto wait = std::min(options_->backoff.maximum, options_->backoff.initial * (std::int64_t{1} << doublings));
  std::uniform_int_distribution<std::int64_t> pick(wait.count() / 2, wait.count());
  return std::chrono::milliseconds(pick(jitter_));
}

void client_state::close() {
  closed_ = true;
  if (auto connection = std::exchange(connection_, nullptr)) {
    connection->close(std::system_error(tcp_error::closed, description_ + ": client closed"));
  }
}

namespace {

// The typed answer to a call of kind Response.
template <class Response>
Response expect(const wire::Response& response, const std::string& peer) {
  if (response.has_failure()) throw std::system_error(tcp_error::remote_failure, peer + ": " + response.failure().reason());
  auto message = from_wire(response);
  if (auto* typed = std::get_if<Response>(&message)) return std::move(*typed);
  throw std::system_error(tcp_error::malformed_frame, peer + ": a response of another kind than the request");
}

}  // namespace

tcp_client::tcp_client(asio::any_io_executor executor, std::shared_ptr<const tcp_network_options> options,
                       node_id peer, std::string address)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      peer_(peer),
      address_(std::move(address)),
      state_(std::make_shared<client_state>(executor_, options_, peer_, address_)) {}

tcp_client::~tcp_client() {
  asio::post(state_->strand(), [state = state_] { state->close(); });
}

template <class Response>
asio::awaitable<Response> tcp_client::call(request_message request) {
  auto response =
      co_await asio::co_spawn(state_->strand(), client_state::call(state_, std::move(request)), asio::use_awaitable);
  co_return expect<Response>(response, state_->description());
}

asio::awaitable<vote_response> tcp_client::vote(vote_request request) {
  return call<vote_response>(std::move(request));
}

asio::awaitable<append_response> tcp_client::append(append_request request) {
  return call<append_response>(std::move(request));
}

asio::awaitable<heartbeat_response> tcp_client::heartbeat(heartbeat_request request) {
  return call<heartbeat_response>(std::move(request));
}

asio::awaitable<timeout_now_response> tcp_client::timeout_now(timeout_now_request request) {
  return call<timeout_now_response>(std::move(request));
}

asio::awaitable<read_index_response> tcp_client::read_index(read_index_request request) {
  return call<read_index_response>(std::move(request));
}

asio::awaitable<snapshot_response> tcp_client::install_snapshot(snapshot_request request, snapshot_source& data) {
  if (address_.empty()) throw std::system_error(tcp_error::unknown_address, state_->description());
  auto response = co_await asio::co_spawn(asio::make_strand(executor_),
                                          send_snapshot(options_, peer_, address_, std::move(request), data),
                                          asio::use_awaitable);
  co_return expect<snapshot_response>(response, state_->description());
}

}  // namespace coraft::net

namespace coraft {

tcp_network_factory::tcp_network_factory(asio::any_io_executor executor, tcp_network_options options)
    : executor_(std::move(executor)), options_(std::make_shared<const tcp_network_options>(std::move(options))) {}

std::unique_ptr<network> tcp_network_factory::connect(node_id peer, const std::string& address) {
  std::string target = address;
  if (auto configured = options_->peers.find(peer); target.empty() && configured != options_->peers.end()) {
    target = configured->second;
  }
  return std::make_unique<net::tcp_client>(executor_, options_, peer, std::move(target));
}

}  // namespace coraft
