// Snapshots stream on a connection of their own, in bounded chunks, paced by
// the receiver, and checked end to end with a CRC-32C.
#include "net_test_support.h"

#include "net/crc32c.h"
#include "net/wire_codec.h"

#include <asio/strand.hpp>

namespace coraft {
namespace {

using test::fake_handler;
using test::node_options;

constexpr std::size_t mib = 1 << 20;

message_header from_client(std::uint64_t request_id) {
  message_header header;
  header.from = node_id(1);
  header.term = term_t(4);
  header.request_id = request_id;
  return header;
}

snapshot_request snapshot_offer() {
  snapshot_request request;
  static_cast<message_header&>(request) = from_client(1);
  request.meta.last_included = {term_t(4), index_t(9000)};
  request.meta.config.voters = {node_id(1), node_id(2)};
  return request;
}

struct served_client {
  test::io_threads io;
  fake_handler handler{io.executor()};
  tcp_server server{io.executor(), node_options(fake_handler::self), handler};
  tcp_network_factory factory{io.executor(), node_options(node_id(1))};
  std::unique_ptr<network> client = factory.connect(fake_handler::self, test::local_address(server.port()));

  ~served_client() {
    client.reset();
    io.run(server.stop());
  }
};

TEST_CASE_METHOD(served_client, "a 64 MiB snapshot streams through in bounded chunks with its checksum verified") {
  // The source hands over 4 MiB at a time; the wire carries at most 1 MiB per frame.
  test::generated_snapshot data(16, 4 * mib);
  auto answer = io.run(client->install_snapshot(snapshot_offer(), data));
  CHECK(answer.success);
  CHECK(answer.last_index == index_t(9000));
  auto received = handler.snapshots();
  REQUIRE(received.size() == 1);
  CHECK_FALSE(received[0].failure);
  CHECK(received[0].bytes == 64 * mib);
  CHECK(received[0].crc == data.expected_crc());
  CHECK(received[0].largest_chunk <= node_options(node_id(1)).snapshot_chunk_bytes);
  CHECK(received[0].chunks == 64);
}

TEST_CASE_METHOD(served_client, "a receiver that does not read holds the sender back, and its early answer ends the stream") {
  handler.stall_snapshots();
  constexpr std::size_t offered_chunks = 1024;  // 1 GiB, far more than any socket buffers
  test::generated_snapshot data(offered_chunks, mib);
  auto caller = asio::make_strand(io.executor());
  test::awaited<snapshot_response> transfer(caller, client->install_snapshot(snapshot_offer(), data));
  io.run(handler.wait_held(1));

  // Wait until the sender stops reading its source: the data in flight has
  // filled the socket buffers and nobody is reading on the other side.
  auto give_up = std::chrono::steady_clock::now() + test::hang_limit;
  std::size_t produced = 0;
  for (int unchanged = 0; unchanged < 5 && std::chrono::steady_clock::now() < give_up;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::size_t now = data.chunks_produced();
    unchanged = now == produced ? unchanged + 1 : 0;
    produced = now;
  }
  CHECK(produced < 128);

  // The stream has a connection of its own: heartbeats are not stuck behind it.
  heartbeat_request heartbeat;
  static_cast<message_header&>(heartbeat) = from_client(2);
  heartbeat.read_round = 2;
  CHECK(io.run(client->heartbeat(heartbeat)).read_round == 2);

  io.run(handler.release_held(false));
  auto answer = transfer.get();
  CHECK_FALSE(answer.success);
  CHECK(data.chunks_produced() < offered_chunks);
}

// Sends a snapshot by hand: the request, `chunks`, then `end`.
asio::awaitable<wire::Frame> send_by_hand(asio::ip::tcp::socket& socket, const std::vector<std::string>& chunks,
                                          wire::SnapshotEnd end) {
  co_await test::raw_handshake(socket);
  wire::Frame request;
  net::to_wire(1, snapshot_offer(), *request.mutable_request());
  co_await test::raw_send_frame(socket, request);
  for (const auto& chunk : chunks) {
    wire::Frame frame;
    frame.mutable_snapshot_chunk()->set_data(chunk);
    co_await test::raw_send_frame(socket, frame);
  }
  wire::Frame marker;
  *marker.mutable_snapshot_end() = end;
  co_await test::raw_send_frame(socket, marker);
  co_return co_await test::raw_read_frame(socket);
}

TEST_CASE_METHOD(served_client, "a corrupted snapshot stream is rejected and the connection stays usable") {
  std::vector<std::string> chunks = {"first chunk", "second chunk", "third chunk"};
  std::uint32_t crc = 0;
  std::uint64_t bytes = 0;
  for (const auto& chunk : chunks) {
    crc = net::crc32c(crc, chunk);
    bytes += chunk.size();
  }
  wire::SnapshotEnd end;
  end.set_complete(true);
  end.set_total_bytes(bytes);
  end.set_crc32c(crc);
  std::error_code expected;
  SECTION("a wrong checksum") {
    end.set_crc32c(crc ^ 1);
    expected = tcp_error::snapshot_corrupt;
  }
  SECTION("a wrong length") {
    end.set_total_bytes(bytes + 1);
    expected = tcp_error::snapshot_corrupt;
  }
  SECTION("an end marked incomplete") {
    end.set_complete(false);
    expected = tcp_error::snapshot_incomplete;
  }
  asio::ip::tcp::socket socket(io.executor());
  io.run(test::raw_connect(socket, server.port()));
  auto reply = io.run(send_by_hand(socket, chunks, end));
  REQUIRE(reply.has_response());
  CHECK(reply.response().call_id() == 1);
  CHECK(reply.response().has_failure());
  auto received = handler.snapshots();
  REQUIRE(received.size() == 1);
  CHECK(received[0].failure == expected);

  wire::Frame heartbeat;
  heartbeat.mutable_request()->set_call_id(2);
  auto& header = *heartbeat.mutable_request()->mutable_heartbeat()->mutable_header();
  header.set_from(1);
  io.run(test::raw_send_frame(socket, heartbeat));
  auto answer = io.run(test::raw_read_frame(socket));
  CHECK(answer.response().call_id() == 2);
  CHECK(answer.response().has_heartbeat());
}

TEST_CASE_METHOD(served_client, "the same stream sent by hand with the right checksum is accepted") {
  std::vector<std::string> chunks = {"only chunk"};
  wire::SnapshotEnd end;
  end.set_complete(true);
  end.set_total_bytes(chunks[0].size());
  end.set_crc32c(net::crc32c(0, chunks[0]));
  asio::ip::tcp::socket socket(io.executor());
  io.run(test::raw_connect(socket, server.port()));
  auto reply = io.run(send_by_hand(socket, chunks, end));
  REQUIRE(reply.response().has_snapshot());
  CHECK(reply.response().snapshot().success());
}

TEST_CASE_METHOD(served_client, "a snapshot stream that breaks off is rejected") {
  asio::ip::tcp::socket socket(io.executor());
  io.run(test::raw_connect(socket, server.port()));
  io.run(test::raw_handshake(socket));
  wire::Frame request;
  net::to_wire(1, snapshot_offer(), *request.mutable_request());
  io.run(test::raw_send_frame(socket, request));
  wire::Frame chunk;
  chunk.mutable_snapshot_chunk()->set_data(std::string(1000, 's'));
  io.run(test::raw_send_frame(socket, chunk));
  socket.close();

  auto give_up = std::chrono::steady_clock::now() + test::hang_limit;
  while (handler.snapshots().empty() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto received = handler.snapshots();
  REQUIRE(received.size() == 1);
  CHECK(received[0].failure);
  CHECK(received[0].bytes == 1000);
}

}  // namespace
}  // namespace coraft
