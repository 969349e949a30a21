#include "client_port.h"

#include "client_protocol.h"

#include "engine/spawn.h"
#include "net/address.h"

#include <coraft/logging.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <stdexcept>
#include <utility>
#include <vector>

namespace coraft::bench {
namespace {

constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

asio::ip::tcp::endpoint endpoint_of(const std::string& address) {
  const std::optional<net::host_port> parts = net::split_host_port(address);
  if (!parts) throw std::invalid_argument("client port: not a host:port address: " + address);
  return {asio::ip::make_address(parts->host), static_cast<asio::ip::port_type>(std::stoul(parts->port))};
}

}  // namespace

// One client connection. Everything it does runs on the strand its socket
// was accepted on, so its members need no lock.
class client_session : public std::enable_shared_from_this<client_session> {
 public:
  client_session(asio::ip::tcp::socket socket, coraft::raft& node) : socket_(std::move(socket)), node_(node) {}

  static asio::awaitable<void> serve(std::shared_ptr<client_session> self) {
    wire::frame_reader reader;
    for (;;) {
      auto [error, bytes] = co_await self->socket_.async_read_some(reader.space(), as_tuple_awaitable);
      if (error) break;
      reader.filled(bytes);
      std::vector<std::uint64_t> ids;
      std::vector<std::string> commands;
      while (std::optional<std::string_view> body = reader.next_frame()) {
        const std::optional<wire::request> request = wire::parse_request(*body);
        if (!request) throw std::runtime_error("client port: a request too short to carry its id");
        ids.push_back(request->id);
        commands.emplace_back(request->command);
      }
      if (!ids.empty())
        asio::co_spawn(self->socket_.get_executor(), propose(self, std::move(ids), std::move(commands)),
                       engine::logging_completion("client port proposal"));
    }
    self->socket_.close();
  }

  void close() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->socket_.close(); });
  }

 private:
  // Proposes the requests of one read together: one wait for all of them.
  static asio::awaitable<void> propose(std::shared_ptr<client_session> self, std::vector<std::uint64_t> ids,
                                       std::vector<std::string> commands) {
    const std::vector<result<std::string>> answers = co_await self->node_.propose_batch(std::move(commands));
    for (std::size_t i = 0; i < ids.size(); ++i) wire::append_response(self->unsent_, ids[i], answers[i].error());
    if (self->flushing_) co_return;  // the running flush sends it too
    self->flushing_ = true;
    co_await flush(self);
  }

  // Writes the responses gathered while the previous write was under way as
  // one write. Invariant: at most one flush runs (flushing_).
  static asio::awaitable<void> flush(std::shared_ptr<client_session> self) {
    std::string sending;
    while (!self->unsent_.empty() && self->socket_.is_open()) {
      sending.clear();
      sending.swap(self->unsent_);
      auto [error, written] = co_await asio::async_write(self->socket_, asio::buffer(sending), as_tuple_awaitable);
      if (error) self->socket_.close();
    }
    self->unsent_.clear();
    self->flushing_ = false;
  }

  asio::ip::tcp::socket socket_;
  coraft::raft& node_;
  std::string unsent_;  // responses not yet handed to a write
  bool flushing_ = false;
};

client_port::client_port(asio::any_io_executor executor, const std::string& address, coraft::raft& node)
    : executor_(std::move(executor)), acceptor_(asio::make_strand(executor_), endpoint_of(address)), node_(node) {
  asio::co_spawn(acceptor_.get_executor(), accept_connections(), engine::logging_completion("client port"));
}

asio::awaitable<void> client_port::close() {
  co_await asio::co_spawn(acceptor_.get_executor(), close_on_strand(), asio::use_awaitable);
}

asio::awaitable<void> client_port::close_on_strand() {
  asio::error_code ignored;
  acceptor_.close(ignored);
  for (const std::weak_ptr<client_session>& weak : sessions_) {
    if (std::shared_ptr<client_session> session = weak.lock()) session->close();
  }
  sessions_.clear();
  co_return;
}

asio::awaitable<void> client_port::accept_connections() {
  for (;;) {
    // Each connection gets a strand of its own on the underlying executor.
    auto strand = asio::make_strand(executor_);
    auto [error, socket] = co_await acceptor_.async_accept(strand, as_tuple_awaitable);
    if (error) co_return;  // closed
    socket.set_option(asio::ip::tcp::no_delay(true));
    auto session = std::make_shared<client_session>(std::move(socket), node_);
    std::erase_if(sessions_, [](const std::weak_ptr<client_session>& s) { return s.expired(); });
    sessions_.push_back(session);
    asio::co_spawn(strand, client_session::serve(session), engine::logging_completion("client port connection"));
  }
}

}  // namespace coraft::bench
