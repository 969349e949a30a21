#include "net/snapshot_stream.h"

#include "net/crc32c.h"
#include "net/deadline.h"
#include "net/failure.h"
#include "net/framing.h"
#include "net/handshake.h"
#include "net/wire_codec.h"

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <string_view>

namespace coraft::net {
namespace {

// The call id of the one request a snapshot connection carries.
constexpr std::uint64_t snapshot_call_id = 1;

// What the sending coroutine shares with the coroutine reading the answer.
struct snapshot_transfer {
  explicit snapshot_transfer(const asio::any_io_executor& executor) : socket(executor), answered(executor) {}

  void close() {
    std::error_code ignored;
    socket.close(ignored);
  }

  asio::ip::tcp::socket socket;
  frame_reader reader;
  // Waited on until the reply reader is done; it cancels the wait.
  asio::steady_timer answered;
  bool reply_done = false;
  std::optional<wire::Response> reply;
  std::optional<std::system_error> reply_failure;
};

asio::awaitable<void> write_frame(asio::ip::tcp::socket& socket, const wire::Frame& frame, std::size_t max_frame_bytes) {
  auto bytes = encode_frame(frame, max_frame_bytes);
  co_await asio::async_write(socket, asio::buffer(bytes), asio::use_awaitable);
}

asio::awaitable<void> read_reply(std::shared_ptr<snapshot_transfer> transfer, std::size_t max_frame_bytes) {
  try {
    auto frame = co_await transfer->reader.read(transfer->socket, max_frame_bytes);
    if (!frame.has_response() || frame.response().call_id() != snapshot_call_id) {
      throw std::system_error(tcp_error::malformed_frame, "the peer answered a snapshot with another frame");
    }
    transfer->reply = std::move(*frame.mutable_response());
  } catch (const std::system_error& error) {
    transfer->reply_failure = error;
  }
  transfer->reply_done = true;
  transfer->answered.cancel();
}

// Writes the data in frames of at most `chunk_bytes`, then the end marker.
// Stops early once the peer has answered.
asio::awaitable<void> stream_data(snapshot_transfer& transfer, snapshot_source& data,
                                  const tcp_network_options& options) {
  wire::SnapshotEnd end;
  std::uint32_t crc = 0;
  std::uint64_t sent_bytes = 0;
  bool complete = false;
  while (!transfer.reply_done && !complete) {
    auto chunk = co_await data.next_chunk();
    complete = !chunk;
    std::string_view rest = chunk ? std::string_view(*chunk) : std::string_view();
    while (!rest.empty() && !transfer.reply_done) {
      auto piece = rest.substr(0, options.snapshot_chunk_bytes);
      rest.remove_prefix(piece.size());
      wire::Frame frame;
      frame.mutable_snapshot_chunk()->set_data(piece.data(), piece.size());
      co_await write_frame(transfer.socket, frame, options.max_frame_bytes);
      crc = crc32c(crc, piece);
      sent_bytes += piece.size();
    }
  }
  wire::Frame frame;
  auto& marker = *frame.mutable_snapshot_end();
  marker.set_complete(complete);
  marker.set_total_bytes(sent_bytes);
  marker.set_crc32c(crc);
  co_await write_frame(transfer.socket, frame, options.max_frame_bytes);
}

asio::awaitable<void> wait_for_reply(snapshot_transfer& transfer) {
  while (!transfer.reply_done) {
    transfer.answered.expires_at(asio::steady_timer::time_point::max());
    co_await transfer.answered.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
}

}  // namespace

asio::awaitable<wire::Response> send_snapshot(std::shared_ptr<const tcp_network_options> options, node_id peer,
                                              std::string address, snapshot_request request, snapshot_source& data) {
  auto executor = co_await asio::this_coro::executor;
  auto transfer = std::make_shared<snapshot_transfer>(executor);
  deadline limit(executor);
  limit.arm(options->snapshot_timeout, [transfer] { transfer->close(); });
  try {
    co_await connect_and_greet(transfer->socket, transfer->reader, *options, peer, address);
    wire::Frame frame;
    to_wire(snapshot_call_id, request, *frame.mutable_request());
    co_await write_frame(transfer->socket, frame, options->max_frame_bytes);
    asio::co_spawn(executor, read_reply(transfer, options->max_frame_bytes), log_failure("snapshot reply reader"));
    co_await stream_data(*transfer, data, *options);
    co_await wait_for_reply(*transfer);
  } catch (const std::system_error&) {
    transfer->close();
    if (limit.expired()) {
      throw std::system_error(asio::error::timed_out,
                              concat("snapshot transfer unfinished after ", options->snapshot_timeout.count(), " ms"));
    }
    throw;
  }
  limit.disarm();
  transfer->close();
  if (transfer->reply_failure) throw *transfer->reply_failure;
  co_return std::move(*transfer->reply);
}

asio::awaitable<std::optional<std::string>> received_snapshot::next_chunk() {
  co_return co_await asio::co_spawn(strand_, read_chunk(), asio::use_awaitable);
}

asio::awaitable<std::optional<std::string>> received_snapshot::read_chunk() {
  if (failure_) throw *failure_;
  if (ended_) co_return std::nullopt;
  try {
    auto frame = co_await read_frame_();
    if (frame.has_snapshot_chunk()) {
      std::string data = std::move(*frame.mutable_snapshot_chunk()->mutable_data());
      received_crc_ = crc32c(received_crc_, data);
      received_bytes_ += data.size();
      co_return data;
    }
    if (!frame.has_snapshot_end()) {
      throw std::system_error(tcp_error::malformed_frame, "expected snapshot data");
    }
    ended_ = true;
    check_end(frame.snapshot_end());
    co_return std::nullopt;
  } catch (const std::system_error& error) {
    failure_ = error;
    throw;
  }
}

void received_snapshot::check_end(const wire::SnapshotEnd& end) const {
  if (!end.complete()) throw std::system_error(tcp_error::snapshot_incomplete, "the sender stopped the stream early");
  if (end.total_bytes() != received_bytes_ || end.crc32c() != received_crc_) {
    throw std::system_error(tcp_error::snapshot_corrupt,
                            concat("received ", received_bytes_, " bytes with CRC-32C ", received_crc_, ", the sender sent ",
                                   end.total_bytes(), " bytes with CRC-32C ", end.crc32c()));
  }
}

asio::awaitable<void> received_snapshot::skip_rest() {
  while (!ended_) {
    if (failure_) throw *failure_;
    auto frame = co_await read_frame_();
    ended_ = frame.has_snapshot_end();
    if (!ended_ && !frame.has_snapshot_chunk()) {
      throw std::system_error(tcp_error::malformed_frame, "expected snapshot data");
    }
  }
}

}  // namespace coraft::net
