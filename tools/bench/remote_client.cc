#include "remote_client.h"

#include "client_protocol.h"

#include "engine/spawn.h"
#include "net/address.h"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <stdexcept>
#include <utility>

namespace coraft::bench {
namespace {

constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace

remote_client::remote_client(asio::any_io_executor executor)
    : strand_(asio::make_strand(std::move(executor))), socket_(strand_) {}

asio::awaitable<std::shared_ptr<remote_client>> remote_client::connect(asio::any_io_executor executor,
                                                                       const std::string& address) {
  const std::optional<net::host_port> parts = net::split_host_port(address);
  if (!parts) throw std::invalid_argument("remote client: not a host:port address: " + address);
  auto client = std::make_shared<remote_client>(executor);
  asio::ip::tcp::resolver resolver(executor);
  const auto endpoints = co_await resolver.async_resolve(parts->host, parts->port, asio::use_awaitable);
  // Nothing else uses the socket before read_responses starts.
  co_await asio::async_connect(client->socket_, endpoints, asio::use_awaitable);
  client->socket_.set_option(asio::ip::tcp::no_delay(true));
  asio::co_spawn(client->strand_, read_responses(client), engine::logging_completion("remote client"));
  co_return client;
}

asio::awaitable<result<std::string>> remote_client::propose(std::string command) {
  auto registrar = [self = shared_from_this(), command = std::move(command)](auto done) mutable {
    asio::post(self->strand_, [self, command = std::move(command), done = std::move(done)]() mutable {
      self->send(std::move(command), std::move(done));
    });
  };  // named: see engine::async_answer
  return engine::async_answer<std::string>(std::move(registrar));
}

void remote_client::close() {
  asio::post(strand_, [self = shared_from_this()] {
    asio::error_code ignored;
    self->socket_.close(ignored);
  });
}

void remote_client::send(std::string command, engine::completion<std::string> done) {
  if (broken_) {
    done(result<std::string>(broken_));
    return;
  }
  const std::uint64_t id = ++last_id_;
  wire::append_request(unsent_, id, command);
  waiting_.emplace(id, std::move(done));
  if (flushing_) return;  // the running flush sends it too
  flushing_ = true;
  asio::co_spawn(strand_, flush(shared_from_this()), engine::logging_completion("remote client"));
}

void remote_client::answer(std::uint64_t id, std::error_code outcome, engine::answer_batch<std::string>& answers) {
  const auto waiter = waiting_.find(id);
  if (waiter == waiting_.end()) return;  // not ours: ignored
  answers.add(waiter->second, outcome ? result<std::string>(outcome) : result<std::string>(std::string()));
  waiting_.erase(waiter);
}

void remote_client::fail_all(std::error_code reason) {
  broken_ = reason;
  for (auto& [id, done] : waiting_) done(result<std::string>(reason));
  waiting_.clear();
  unsent_.clear();
}

asio::awaitable<void> remote_client::read_responses(std::shared_ptr<remote_client> self) {
  wire::frame_reader reader;
  for (;;) {
    auto [error, bytes] = co_await self->socket_.async_read_some(reader.space(), as_tuple_awaitable);
    if (error) {
      self->fail_all(error == asio::error::eof ? std::make_error_code(std::errc::connection_reset) : error);
      co_return;
    }
    reader.filled(bytes);
    // The answers of one read resume their waiters with one post, not one each.
    engine::answer_batch<std::string> answers;
    while (std::optional<std::string_view> body = reader.next_frame()) {
      const std::optional<wire::response> response = wire::parse_response(*body);
      if (!response) {
        self->fail_all(std::make_error_code(std::errc::bad_message));
        self->socket_.close();
        co_return;
      }
      self->answer(response->id, wire::status_error(response->status), answers);
    }
    answers.post();
  }
}

// Writes the requests gathered while the previous write was under way as one
// write. Invariant: at most one flush runs (flushing_).
asio::awaitable<void> remote_client::flush(std::shared_ptr<remote_client> self) {
  std::string sending;
  while (!self->unsent_.empty() && !self->broken_) {
    sending.clear();
    sending.swap(self->unsent_);
    auto [error, written] = co_await asio::async_write(self->socket_, asio::buffer(sending), as_tuple_awaitable);
    if (error) {
      self->socket_.close();  // read_responses then fails the waiting proposals
      break;
    }
  }
  self->flushing_ = false;
}

}  // namespace coraft::bench
