// The wire format: every coraft message through protobuf bytes and back, frame
// prefixes, the snapshot checksum and address parsing.
#include <coraft/tcp_network.h>

#include "net/address.h"
#include "net/crc32c.h"
#include "net/framing.h"
#include "net/wire_codec.h"

#include <catch2/catch.hpp>

namespace coraft::net {
namespace {

// Distinct, non-default values everywhere, so that a field lost or swapped
// on the way cannot go unnoticed.
message_header header(std::uint64_t seed) {
  message_header h;
  h.from = node_id(seed + 1);
  h.term = term_t(seed + 2);
  h.request_id = seed + 3;
  return h;
}

membership joint_membership() {
  membership config;
  config.voters = {node_id(1), node_id(2), node_id(3)};
  config.outgoing_voters = {node_id(1), node_id(4)};
  config.learners = {node_id(7)};
  config.addresses = {{node_id(1), "10.0.0.1:7001"}, {node_id(7), "[::1]:7007"}};
  return config;
}

// Through serialized bytes, as on the wire.
request_message round_trip(const request_message& message) {
  wire::Request out;
  to_wire(42, message, out);
  wire::Request in;
  REQUIRE(in.ParseFromString(out.SerializeAsString()));
  CHECK(in.call_id() == 42);
  return from_wire(in);
}

response_message round_trip(const response_message& message) {
  wire::Response out;
  to_wire(43, message, out);
  wire::Response in;
  REQUIRE(in.ParseFromString(out.SerializeAsString()));
  CHECK(in.call_id() == 43);
  return from_wire(in);
}

template <class Message, class Variant>
Message round_trip_as(const Message& message) {
  auto decoded = round_trip(Variant(message));
  REQUIRE(std::holds_alternative<Message>(decoded));
  return std::get<Message>(decoded);
}

template <class Message>
Message round_trip_request(const Message& message) {
  return round_trip_as<Message, request_message>(message);
}

template <class Message>
Message round_trip_response(const Message& message) {
  return round_trip_as<Message, response_message>(message);
}

bool same_header(const message_header& a, const message_header& b) { return a == b; }

TEST_CASE("every field of a vote request and response survives the wire") {
  vote_request request;
  static_cast<message_header&>(request) = header(10);
  request.last_log = {term_t(5), index_t(99)};
  request.pre_vote = true;
  request.transfer = true;
  auto decoded = round_trip_request(request);
  CHECK(same_header(decoded, request));
  CHECK(decoded.last_log == request.last_log);
  CHECK(decoded.pre_vote);
  CHECK(decoded.transfer);

  vote_response response;
  static_cast<message_header&>(response) = header(20);
  response.pre_vote = true;
  response.granted = true;
  auto answer = round_trip_response(response);
  CHECK(same_header(answer, response));
  CHECK(answer.pre_vote);
  CHECK(answer.granted);
}

TEST_CASE("every field of an append request and response survives the wire") {
  append_request request;
  static_cast<message_header&>(request) = header(30);
  request.prev = {term_t(3), index_t(40)};
  request.entries = {
      {term_t(3), index_t(41), entry_kind::command, shared_bytes(std::string("set x 1"))},
      {term_t(4), index_t(42), entry_kind::noop, shared_bytes()},
      {term_t(4), index_t(43), entry_kind::membership, shared_bytes(encode_membership(joint_membership()))},
      {term_t(4), index_t(44), entry_kind::command, shared_bytes(std::string("\0binary\xff", 8))},
  };
  request.leader_commit = index_t(39);
  auto decoded = round_trip_request(request);
  CHECK(same_header(decoded, request));
  CHECK(decoded.prev == request.prev);
  CHECK(decoded.entries == request.entries);
  CHECK(decoded.leader_commit == request.leader_commit);

  append_response response;
  static_cast<message_header&>(response) = header(40);
  response.success = true;
  response.match_index = index_t(44);
  response.rejected_index = index_t(45);
  response.conflict_term = term_t(2);
  response.conflict_index = index_t(17);
  auto answer = round_trip_response(response);
  CHECK(same_header(answer, response));
  CHECK(answer.success);
  CHECK(answer.match_index == response.match_index);
  CHECK(answer.rejected_index == response.rejected_index);
  CHECK(answer.conflict_term == response.conflict_term);
  CHECK(answer.conflict_index == response.conflict_index);
}

TEST_CASE("every field of a heartbeat request and response survives the wire") {
  heartbeat_request request;
  static_cast<message_header&>(request) = header(50);
  request.commit = index_t(77);
  request.read_round = 12;
  auto decoded = round_trip_request(request);
  CHECK(same_header(decoded, request));
  CHECK(decoded.commit == request.commit);
  CHECK(decoded.read_round == 12);

  heartbeat_response response;
  static_cast<message_header&>(response) = header(60);
  response.read_round = 13;
  auto answer = round_trip_response(response);
  CHECK(same_header(answer, response));
  CHECK(answer.read_round == 13);
}

TEST_CASE("every field of a timeout-now request and response survives the wire") {
  timeout_now_request request;
  static_cast<message_header&>(request) = header(70);
  CHECK(same_header(round_trip_request(request), request));

  timeout_now_response response;
  static_cast<message_header&>(response) = header(80);
  CHECK(same_header(round_trip_response(response), response));
}

TEST_CASE("every field of a read-index request and response survives the wire") {
  read_index_request request;
  static_cast<message_header&>(request) = header(90);
  request.context = 901;
  auto decoded = round_trip_request(request);
  CHECK(same_header(decoded, request));
  CHECK(decoded.context == 901);

  read_index_response response;
  static_cast<message_header&>(response) = header(100);
  response.context = 902;
  response.success = true;
  response.read_index = index_t(123);
  auto answer = round_trip_response(response);
  CHECK(same_header(answer, response));
  CHECK(answer.context == 902);
  CHECK(answer.success);
  CHECK(answer.read_index == response.read_index);
}

TEST_CASE("every field of a snapshot request and response survives the wire") {
  snapshot_request request;
  static_cast<message_header&>(request) = header(110);
  request.meta = {{term_t(6), index_t(1000)}, joint_membership()};
  auto decoded = round_trip_request(request);
  CHECK(same_header(decoded, request));
  CHECK(decoded.meta == request.meta);

  snapshot_response response;
  static_cast<message_header&>(response) = header(120);
  response.success = true;
  response.last_index = index_t(1000);
  auto answer = round_trip_response(response);
  CHECK(same_header(answer, response));
  CHECK(answer.success);
  CHECK(answer.last_index == response.last_index);
}

TEST_CASE("a request or response without a body is malformed") {
  wire::Request request;
  request.set_call_id(1);
  CHECK_THROWS_MATCHES(from_wire(request), std::system_error,
                       Catch::Predicate<std::system_error>(
                           [](const auto& e) { return e.code() == tcp_error::malformed_frame; }));
  wire::Response response;
  CHECK_THROWS_AS(from_wire(response), std::system_error);
}

TEST_CASE("an entry of unknown kind or a membership that does not decode is malformed") {
  append_request append;
  append.entries = {{term_t(1), index_t(1), entry_kind::command, shared_bytes(std::string("x"))}};
  wire::Request request;
  to_wire(1, append, request);
  request.mutable_append()->mutable_entries(0)->set_kind(9);
  CHECK_THROWS_MATCHES(from_wire(request), std::system_error,
                       Catch::Predicate<std::system_error>(
                           [](const auto& e) { return e.code() == tcp_error::malformed_frame; }));

  wire::Request snapshot;
  to_wire(2, snapshot_request{}, snapshot);
  snapshot.mutable_snapshot()->mutable_meta()->set_config("not a membership");
  CHECK_THROWS_AS(from_wire(snapshot), std::system_error);
}

TEST_CASE("a frame is its big-endian length followed by its bytes") {
  wire::Frame frame;
  frame.mutable_snapshot_chunk()->set_data(std::string(300, 'x'));
  auto bytes = encode_frame(frame, 1 << 20);
  REQUIRE(bytes.size() == frame_prefix_bytes + frame.ByteSizeLong());
  std::size_t length = 0;
  for (std::size_t i = 0; i < frame_prefix_bytes; ++i) length = (length << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(length == frame.ByteSizeLong());
  wire::Frame decoded;
  REQUIRE(decoded.ParseFromString(bytes.substr(frame_prefix_bytes)));
  CHECK(decoded.snapshot_chunk().data() == frame.snapshot_chunk().data());
}

TEST_CASE("a frame larger than the limit is not encoded") {
  wire::Frame frame;
  frame.mutable_snapshot_chunk()->set_data(std::string(2000, 'x'));
  CHECK_THROWS_MATCHES(encode_frame(frame, 1000), std::system_error,
                       Catch::Predicate<std::system_error>(
                           [](const auto& e) { return e.code() == tcp_error::frame_too_large; }));
}

TEST_CASE("CRC-32C matches the standard check value and continues across pieces") {
  CHECK(crc32c(0, "123456789") == 0xe3069283);
  CHECK(crc32c(0, "") == 0);
  std::string data = "The quick brown fox jumps over the lazy dog";
  CHECK(crc32c(crc32c(0, data.substr(0, 10)), data.substr(10)) == crc32c(0, data));
}

TEST_CASE("addresses are host:port, IPv6 hosts in brackets") {
  auto v4 = split_host_port("127.0.0.1:7001");
  REQUIRE(v4);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == "7001");
  auto v6 = split_host_port("[::1]:0");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == "0");
  CHECK(split_host_port("localhost:65535"));
  CHECK_FALSE(split_host_port("localhost"));
  CHECK_FALSE(split_host_port(":7001"));
  CHECK_FALSE(split_host_port("host:"));
  CHECK_FALSE(split_host_port("host:65536"));
  CHECK_FALSE(split_host_port("host:70a"));
  CHECK_FALSE(split_host_port("::1:7001"));
}

}  // namespace
}  // namespace coraft::net
