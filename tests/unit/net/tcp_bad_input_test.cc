// Bad bytes from a raw socket close that connection only: the server keeps
// answering a well-behaved client, whose call held across the bad input still
// completes on its original connection.
#include "net_test_support.h"

#include "net/framing.h"

#include <asio/strand.hpp>

namespace coraft {
namespace {

using test::fake_handler;
using test::node_options;

message_header from_client(std::uint64_t request_id) {
  message_header header;
  header.from = node_id(1);
  header.term = term_t(3);
  header.request_id = request_id;
  return header;
}

// Short enough that the stalled-frame test does not wait long; ample for
// every frame the well-behaved client sends.
tcp_network_options with_short_frame_timeout(tcp_network_options options) {
  options.frame_timeout = std::chrono::milliseconds(300);
  return options;
}

struct served_client {
  test::io_threads io;
  fake_handler handler{io.executor()};
  tcp_server server{io.executor(), with_short_frame_timeout(node_options(fake_handler::self)), handler};
  tcp_network_factory factory{io.executor(), node_options(node_id(1))};
  std::unique_ptr<network> client = factory.connect(fake_handler::self, test::local_address(server.port()));

  ~served_client() {
    client.reset();
    io.run(server.stop());
  }

  enum class then { keep_open, half_close };

  // Sends `bytes` on a raw connection (after a valid handshake when
  // `handshake_first`) and checks that the server closes it, logging `reason`,
  // while the client's connection stays up.
  void check_closes_only_its_connection(bool handshake_first, std::string bytes, then after, const char* reason) {
    test::log_capture log;
    handler.hold_appends();
    append_request held_request;
    static_cast<message_header&>(held_request) = from_client(7);
    test::awaited<append_response> held(asio::make_strand(io.executor()), client->append(held_request));
    io.run(handler.wait_held(1));

    asio::ip::tcp::socket socket(io.executor());
    io.run(test::raw_connect(socket, server.port()));
    if (handshake_first) io.run(test::raw_handshake(socket));
    io.run(test::raw_send(socket, std::move(bytes)));
    if (after == then::half_close) socket.shutdown(asio::ip::tcp::socket::shutdown_send);
    CHECK(io.run(test::closed_by_peer(socket)));
    INFO("log:\n" << log.lines());
    CHECK(log.contains(reason));

    heartbeat_request heartbeat;
    static_cast<message_header&>(heartbeat) = from_client(8);
    heartbeat.read_round = 8;
    CHECK(io.run(client->heartbeat(heartbeat)).read_round == 8);
    io.run(handler.release_held(false));
    CHECK(held.get().request_id == 7);
  }
};

TEST_CASE_METHOD(served_client, "garbage instead of a handshake closes only that connection") {
  // "GET " read as a length prefix announces about 1.2 GB.
  check_closes_only_its_connection(false, "GET / HTTP/1.1\r\nHost: coraft\r\n\r\n", then::keep_open,
                                   "incoming frame of 1195725856 bytes exceeds the limit of 4096");
}

TEST_CASE_METHOD(served_client, "a 2 GiB length prefix closes only that connection") {
  check_closes_only_its_connection(true, test::length_prefix(0x80000000), then::keep_open,
                                   "incoming frame of 2147483648 bytes exceeds the limit of 67108864");
}

TEST_CASE_METHOD(served_client, "a frame stalled after its first bytes closes only that connection") {
  check_closes_only_its_connection(true, test::length_prefix(100) + "ten bytes.", then::keep_open,
                                   "a frame was not completed within 300 ms");
}

TEST_CASE_METHOD(served_client, "an unparsable frame closes only that connection") {
  check_closes_only_its_connection(true, test::length_prefix(8) + std::string(8, '\xff'), then::keep_open,
                                   "a frame does not parse");
}

TEST_CASE_METHOD(served_client, "a truncated frame closes only that connection") {
  check_closes_only_its_connection(true, test::length_prefix(100) + std::string(10, '\x0a'), then::half_close,
                                   "the connection closed inside a frame");
}

TEST_CASE_METHOD(served_client, "a frame out of place closes only that connection") {
  wire::Frame response;
  response.mutable_response()->set_call_id(1);
  response.mutable_response()->mutable_heartbeat();
  check_closes_only_its_connection(true, net::encode_frame(response, 1 << 20), then::keep_open,
                                   "expected a request frame");
}

TEST_CASE_METHOD(served_client, "a request that does not decode closes only that connection") {
  wire::Frame frame;
  auto& request = *frame.mutable_request();
  request.set_call_id(1);
  request.mutable_append()->add_entries()->set_kind(200);
  check_closes_only_its_connection(true, net::encode_frame(frame, 1 << 20), then::keep_open,
                                   "unknown log entry kind 200");
}

TEST_CASE("a connection that never sends its handshake is closed after the connect timeout") {
  test::io_threads io;
  test::log_capture log;
  fake_handler handler(io.executor());
  auto options = node_options(fake_handler::self);
  options.connect_timeout = std::chrono::milliseconds(100);
  tcp_server server(io.executor(), options, handler);
  asio::ip::tcp::socket socket(io.executor());
  io.run(test::raw_connect(socket, server.port()));
  CHECK(io.run(test::closed_by_peer(socket)));
  // The server closes the socket first and logs why as its reader unwinds.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!log.contains("no handshake within 100 ms") && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(log.contains("no handshake within 100 ms"));
  io.run(server.stop());
}

}  // namespace
}  // namespace coraft
