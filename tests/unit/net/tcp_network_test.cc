// The TCP network end to end on 127.0.0.1: every RPC kind, pipelining and
// out-of-order answers, reconnection after a restart, and handshake refusals.
#include "net_test_support.h"

#include "net/framing.h"

#include <asio/strand.hpp>

#include <future>
#include <numeric>
#include <thread>

namespace coraft {
namespace {

using test::fake_handler;
using test::local_address;
using test::node_options;

constexpr node_id client_node{1};

message_header from_client(std::uint64_t request_id) {
  message_header header;
  header.from = client_node;
  header.term = term_t(7);
  header.request_id = request_id;
  return header;
}

// Request `number` carries `number` % 3 entries after index 10 * number.
append_request append_number(std::uint64_t number) {
  append_request request;
  static_cast<message_header&>(request) = from_client(number);
  request.prev = {term_t(7), index_t(10 * number)};
  for (std::uint64_t i = 1; i <= number % 3; ++i) {
    request.entries.push_back({term_t(7), request.prev.index + i, entry_kind::command, shared_bytes(std::string("x"))});
  }
  request.leader_commit = index_t(number);
  return request;
}

index_t expected_match(std::uint64_t number) { return index_t(10 * number + number % 3); }

heartbeat_request heartbeat_number(std::uint64_t number) {
  heartbeat_request request;
  static_cast<message_header&>(request) = from_client(number);
  request.read_round = number;
  return request;
}

// A server for node 2 and a client to it from node 1.
struct connected_pair {
  test::io_threads io;
  fake_handler handler{io.executor()};
  std::optional<tcp_server> server{std::in_place, io.executor(), node_options(fake_handler::self), handler};
  tcp_network_factory factory{io.executor(), node_options(client_node)};
  std::unique_ptr<network> client = factory.connect(fake_handler::self, local_address(server->port()));

  ~connected_pair() {
    client.reset();
    if (server) io.run(server->stop());
  }
};

// What `call` threw; fails the test when it threw nothing.
template <class Call>
std::system_error error_of(Call&& call) {
  std::optional<std::system_error> error;
  try {
    call();
  } catch (const std::system_error& thrown) {
    error = thrown;
  }
  REQUIRE(error);
  return *error;
}

TEST_CASE_METHOD(connected_pair, "every RPC kind round-trips over TCP") {
  vote_request vote;
  static_cast<message_header&>(vote) = from_client(1);
  vote.last_log = {term_t(6), index_t(42)};
  vote.pre_vote = true;
  auto vote_answer = io.run(client->vote(vote));
  CHECK(vote_answer.from == fake_handler::self);
  CHECK(vote_answer.term == vote.term);
  CHECK(vote_answer.request_id == 1);
  CHECK(vote_answer.pre_vote);
  CHECK(vote_answer.granted);

  auto append_answer = io.run(client->append(append_number(5)));
  CHECK(append_answer.request_id == 5);
  CHECK(append_answer.success);
  CHECK(append_answer.match_index == expected_match(5));

  auto heartbeat_answer = io.run(client->heartbeat(heartbeat_number(9)));
  CHECK(heartbeat_answer.request_id == 9);
  CHECK(heartbeat_answer.read_round == 9);

  timeout_now_request timeout_now;
  static_cast<message_header&>(timeout_now) = from_client(11);
  auto timeout_now_answer = io.run(client->timeout_now(timeout_now));
  CHECK(timeout_now_answer.request_id == 11);
  CHECK(timeout_now_answer.from == fake_handler::self);

  read_index_request read_index;
  static_cast<message_header&>(read_index) = from_client(13);
  read_index.context = 77;
  auto read_index_answer = io.run(client->read_index(read_index));
  CHECK(read_index_answer.request_id == 13);
  CHECK(read_index_answer.context == 77);
  CHECK(read_index_answer.success);
  CHECK(read_index_answer.read_index == index_t(1077));

  snapshot_request snapshot;
  static_cast<message_header&>(snapshot) = from_client(15);
  snapshot.meta.last_included = {term_t(6), index_t(500)};
  snapshot.meta.config.voters = {node_id(1), node_id(2), node_id(3)};
  snapshot.meta.config.addresses = {{node_id(2), "127.0.0.1:1"}};
  test::generated_snapshot data(3, 1000);
  auto snapshot_answer = io.run(client->install_snapshot(snapshot, data));
  CHECK(snapshot_answer.request_id == 15);
  CHECK(snapshot_answer.success);
  CHECK(snapshot_answer.last_index == index_t(500));
  auto received = handler.snapshots();
  REQUIRE(received.size() == 1);
  CHECK(received[0].meta == snapshot.meta);
  CHECK(received[0].bytes == 3000);
  CHECK(received[0].crc == data.expected_crc());
  CHECK_FALSE(received[0].failure);
}

TEST_CASE_METHOD(connected_pair, "pipelined calls get their own responses when the handler answers out of order") {
  handler.hold_appends();
  constexpr std::uint64_t calls = 64;
  auto caller = asio::make_strand(io.executor());
  std::vector<test::awaited<append_response>> answers;
  for (std::uint64_t number = 0; number < calls; ++number) {
    answers.emplace_back(caller, client->append(append_number(number)));
  }
  // Every request reaches the handler while none is answered: nothing waits
  // for a response before sending the next request.
  io.run(handler.wait_held(calls));
  std::vector<std::uint64_t> call_order(calls);
  std::iota(call_order.begin(), call_order.end(), 0);
  CHECK(io.run(handler.append_arrivals()) == call_order);

  io.run(handler.release_held(true));
  for (std::uint64_t number = 0; number < calls; ++number) {
    auto answer = answers[number].get();
    CHECK(answer.request_id == number);
    CHECK(answer.match_index == expected_match(number));
  }
}

TEST_CASE_METHOD(connected_pair, "a response the handler holds does not delay the others") {
  handler.hold_appends();
  auto caller = asio::make_strand(io.executor());
  test::awaited<append_response> held(caller, client->append(append_number(1)));
  io.run(handler.wait_held(1));

  std::vector<test::awaited<heartbeat_response>> heartbeats;
  for (std::uint64_t number = 100; number < 120; ++number) {
    heartbeats.emplace_back(caller, client->heartbeat(heartbeat_number(number)));
  }
  for (std::uint64_t number = 100; number < 120; ++number) CHECK(heartbeats[number - 100].get().read_round == number);
  CHECK_FALSE(held.finished());

  io.run(handler.release_held(false));
  CHECK(held.get().match_index == expected_match(1));
}

TEST_CASE_METHOD(connected_pair, "after a server restart a call fails cleanly and a later call reconnects") {
  CHECK(io.run(client->heartbeat(heartbeat_number(1))).read_round == 1);

  handler.hold_appends();
  auto caller = asio::make_strand(io.executor());
  test::awaited<append_response> in_flight(caller, client->append(append_number(2)));
  io.run(handler.wait_held(1));
  auto port = server->port();
  test::awaited<void> stopped(io.executor(), server->stop());
  CHECK_THROWS_AS(in_flight.get(), std::system_error);
  io.run(handler.release_held(false));
  stopped.get();
  server.reset();

  CHECK_THROWS_AS(io.run(client->heartbeat(heartbeat_number(3))), std::system_error);

  auto options = node_options(fake_handler::self);
  options.listen_address = local_address(port);
  server.emplace(io.executor(), options, handler);
  // The client reconnects once its backoff has passed; until then calls fail fast.
  std::optional<heartbeat_response> answer;
  auto give_up = std::chrono::steady_clock::now() + test::hang_limit;
  while (!answer && std::chrono::steady_clock::now() < give_up) {
    try {
      answer = io.run(client->heartbeat(heartbeat_number(4)));
    } catch (const std::system_error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  REQUIRE(answer);
  CHECK(answer->read_round == 4);
}

TEST_CASE("a call without a response within the call timeout fails, and the connection carries on") {
  test::io_threads io;
  fake_handler handler(io.executor());
  tcp_server server(io.executor(), node_options(fake_handler::self), handler);
  auto options = node_options(client_node);
  options.call_timeout = std::chrono::milliseconds(200);
  tcp_network_factory factory(io.executor(), options);
  auto client = factory.connect(fake_handler::self, local_address(server.port()));
  handler.hold_appends();

  auto error = error_of([&] { io.run(client->append(append_number(1))); });
  CHECK(error.code() == tcp_error::call_timeout);
  io.run(handler.release_held(false));  // its late response is dropped
  CHECK(io.run(client->heartbeat(heartbeat_number(2))).read_round == 2);
  client.reset();
  io.run(server.stop());
}

TEST_CASE("a call to an address where nobody listens fails, and so does the next one while backing off") {
  test::io_threads io;
  auto options = node_options(client_node);
  options.backoff = {std::chrono::minutes(2), std::chrono::minutes(2)};
  tcp_network_factory factory(io.executor(), options);
  std::uint16_t unused_port = 0;
  {
    asio::io_context scratch;
    asio::ip::tcp::acceptor probe(scratch, {asio::ip::make_address("127.0.0.1"), 0});
    unused_port = probe.local_endpoint().port();
  }
  auto client = factory.connect(fake_handler::self, local_address(unused_port));
  auto refused = error_of([&] { io.run(client->heartbeat(heartbeat_number(1))); });
  CHECK(refused.code() == asio::error::connection_refused);
  CHECK_THAT(refused.what(), Catch::Contains(local_address(unused_port)));
  auto backing_off = error_of([&] { io.run(client->heartbeat(heartbeat_number(2))); });
  CHECK(backing_off.code() == tcp_error::backing_off);
  CHECK_THAT(backing_off.what(), Catch::Contains(refused.what()));
}

TEST_CASE("a peer without an address fails every call") {
  test::io_threads io;
  tcp_network_factory factory(io.executor(), node_options(client_node));
  auto client = factory.connect(node_id(4), "");
  auto error = error_of([&] { io.run(client->heartbeat(heartbeat_number(1))); });
  CHECK(error.code() == tcp_error::unknown_address);
}

TEST_CASE("a peer's configured address is used when the membership has none") {
  test::io_threads io;
  fake_handler handler(io.executor());
  tcp_server server(io.executor(), node_options(fake_handler::self), handler);
  auto options = node_options(client_node);
  options.peers = {{fake_handler::self, local_address(server.port())}};
  tcp_network_factory factory(io.executor(), options);
  auto client = factory.connect(fake_handler::self, "");
  CHECK(io.run(client->heartbeat(heartbeat_number(1))).read_round == 1);
  client.reset();
  io.run(server.stop());
}

TEST_CASE("a node of another cluster is refused, with the reason in the log and in the error") {
  test::io_threads io;
  test::log_capture log;
  fake_handler handler(io.executor());
  tcp_server server(io.executor(), node_options(fake_handler::self, "alpha"), handler);
  tcp_network_factory factory(io.executor(), node_options(client_node, "beta"));
  auto client = factory.connect(fake_handler::self, local_address(server.port()));
  auto error = error_of([&] { io.run(client->heartbeat(heartbeat_number(1))); });
  CHECK(error.code() == tcp_error::cluster_mismatch);
  CHECK_THAT(error.what(), Catch::Contains("cluster id \"beta\" does not match this node's cluster \"alpha\""));
  CHECK(log.contains("cluster id \"beta\" does not match this node's cluster \"alpha\""));
  client.reset();
  io.run(server.stop());
}

TEST_CASE("a connection meant for another node is refused, with the reason in the log and in the error") {
  test::io_threads io;
  test::log_capture log;
  fake_handler handler(io.executor());
  tcp_server server(io.executor(), node_options(fake_handler::self), handler);
  tcp_network_factory factory(io.executor(), node_options(client_node));
  auto client = factory.connect(node_id(3), local_address(server.port()));
  auto error = error_of([&] { io.run(client->heartbeat(heartbeat_number(1))); });
  CHECK(error.code() == tcp_error::wrong_receiver);
  CHECK_THAT(error.what(), Catch::Contains("meant for n3 but this is n2"));
  CHECK(log.contains("meant for n3 but this is n2"));
  client.reset();
  io.run(server.stop());
}

TEST_CASE("a handshake of another protocol version is refused") {
  test::io_threads io;
  test::log_capture log;
  fake_handler handler(io.executor());
  tcp_server server(io.executor(), node_options(fake_handler::self), handler);
  asio::ip::tcp::socket socket(io.executor());
  io.run(test::raw_connect(socket, server.port()));
  wire::Frame hello;
  hello.mutable_hello()->set_cluster_id("test");
  hello.mutable_hello()->set_sender(client_node.value);
  hello.mutable_hello()->set_receiver(fake_handler::self.value);
  hello.mutable_hello()->set_protocol_version(99);
  io.run(test::raw_send_frame(socket, hello));
  auto reply = io.run(test::raw_read_frame(socket));
  REQUIRE(reply.has_hello_reply());
  CHECK(reply.hello_reply().refusal() == wire::UNSUPPORTED_VERSION);
  CHECK(io.run(test::closed_by_peer(socket)));
  CHECK(log.contains("protocol version 99 is not supported"));
  io.run(server.stop());
}

TEST_CASE_METHOD(connected_pair, "a request claiming another sender than the handshake fails") {
  auto forged = heartbeat_number(1);
  forged.from = node_id(3);
  auto error = error_of([&] { io.run(client->heartbeat(forged)); });
  CHECK(error.code() == tcp_error::remote_failure);
  CHECK(io.run(client->heartbeat(heartbeat_number(2))).read_round == 2);
}

TEST_CASE("a request larger than the frame limit fails without being sent") {
  test::io_threads io;
  fake_handler handler(io.executor());
  tcp_server server(io.executor(), node_options(fake_handler::self), handler);
  auto options = node_options(client_node);
  options.max_frame_bytes = 64 << 10;
  tcp_network_factory factory(io.executor(), options);
  auto client = factory.connect(fake_handler::self, local_address(server.port()));
  auto large = append_number(0);
  large.entries.push_back({term_t(7), index_t(1), entry_kind::command, shared_bytes(std::string(100 << 10, 'x'))});
  auto error = error_of([&] { io.run(client->append(large)); });
  CHECK(error.code() == tcp_error::frame_too_large);
  CHECK(io.run(client->heartbeat(heartbeat_number(2))).read_round == 2);
  client.reset();
  io.run(server.stop());
}

// Large frames fill the socket's buffer, so that some pushes find it full
// and queue what it did not take for the writer's coroutine.
TEST_CASE("frames pushed from several threads at once arrive whole, each thread's in the order it pushed them") {
  constexpr std::uint64_t threads = 2;
  constexpr std::uint64_t frames_per_thread = 300;
  constexpr std::size_t frame_limit = 1 << 20;
  test::io_threads io;
  asio::ip::tcp::acceptor acceptor(io.executor(), {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket receiver(io.executor());
  asio::ip::tcp::socket sender(asio::make_strand(io.executor()));
  io.run([&]() -> asio::awaitable<void> {
    co_await receiver.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
    sender = co_await acceptor.async_accept(asio::use_awaitable);
  }());
  net::frame_writer writer(sender.get_executor());
  std::promise<std::exception_ptr> writer_ended;
  asio::co_spawn(sender.get_executor(), writer.run(sender),
                 [&](std::exception_ptr error) { writer_ended.set_value(error); });

  auto push_frames = [&](std::uint64_t thread) {
    for (std::uint64_t i = 0; i < frames_per_thread; ++i) {
      wire::Frame frame;
      frame.mutable_hello()->set_sender(thread * frames_per_thread + i);
      frame.mutable_hello()->set_cluster_id(std::string(16 << 10, static_cast<char>('a' + thread)));
      writer.push(net::encode_frame(frame, frame_limit));
    }
  };
  std::vector<std::thread> pushers;
  for (std::uint64_t thread = 0; thread < threads; ++thread) pushers.emplace_back(push_frames, thread);
  for (auto& pusher : pushers) pusher.join();

  std::vector<std::uint64_t> next(threads, 0);
  net::frame_reader reader;
  io.run([&]() -> asio::awaitable<void> {
    for (std::uint64_t n = 0; n < threads * frames_per_thread; ++n) {
      wire::Frame frame = co_await reader.read(receiver, frame_limit);
      const std::uint64_t thread = frame.hello().sender() / frames_per_thread;
      REQUIRE(thread < threads);
      CHECK(frame.hello().sender() % frames_per_thread == next[thread]++);
      CHECK(frame.hello().cluster_id() == std::string(16 << 10, static_cast<char>('a' + thread)));
    }
  }());
  CHECK(next == std::vector<std::uint64_t>(threads, frames_per_thread));
  writer.close();
  CHECK(writer_ended.get_future().get() == nullptr);
}

}  // namespace
}  // namespace coraft
