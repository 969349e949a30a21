#include "net/handshake.h"

#include "net/address.h"
#include "net/deadline.h"
#include "net/failure.h"

#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace coraft::net {
namespace {

wire::HelloReply refusal(wire::Refusal refusal, std::string reason) {
  wire::HelloReply reply;
  reply.set_refusal(refusal);
  reply.set_reason(std::move(reason));
  return reply;
}

std::error_code refusal_error(wire::Refusal refusal) {
  switch (refusal) {
    case wire::CLUSTER_MISMATCH: return tcp_error::cluster_mismatch;
    case wire::WRONG_RECEIVER: return tcp_error::wrong_receiver;
    case wire::UNSUPPORTED_VERSION: return tcp_error::unsupported_version;
    case wire::INVALID_SENDER: return tcp_error::invalid_sender;
    default: return tcp_error::handshake_failed;
  }
}

void check_reply(const wire::Frame& frame) {
  if (!frame.has_hello_reply()) {
    throw std::system_error(tcp_error::handshake_failed, "the peer answered the handshake with another frame");
  }
  const auto& reply = frame.hello_reply();
  if (reply.refusal() != wire::ACCEPTED) {
    throw std::system_error(refusal_error(reply.refusal()), "refused the connection: " + reply.reason());
  }
}

}  // namespace

wire::Frame make_hello(const tcp_network_options& options, node_id receiver) {
  wire::Frame frame;
  auto& hello = *frame.mutable_hello();
  hello.set_cluster_id(options.cluster_id);
  hello.set_sender(options.self.value);
  hello.set_receiver(receiver.value);
  hello.set_protocol_version(protocol_version);
  return frame;
}

wire::HelloReply check_hello(const wire::Hello& hello, const tcp_network_options& options) {
  if (hello.protocol_version() != protocol_version) {
    return refusal(wire::UNSUPPORTED_VERSION, concat("protocol version ", hello.protocol_version(),
                                                     " is not supported (this node speaks ", protocol_version, ")"));
  }
  if (hello.cluster_id() != options.cluster_id) {
    return refusal(wire::CLUSTER_MISMATCH, concat("cluster id \"", hello.cluster_id(),
                                                  "\" does not match this node's cluster \"", options.cluster_id, "\""));
  }
  if (node_id(hello.receiver()) != options.self) {
    return refusal(wire::WRONG_RECEIVER,
                   concat("the connection is meant for ", node_id(hello.receiver()), " but this is ", options.self));
  }
  if (node_id(hello.sender()) == no_node) return refusal(wire::INVALID_SENDER, "the sender's node id is 0");
  return {};
}

asio::awaitable<void> connect_and_greet(asio::ip::tcp::socket& socket, frame_reader& reader,
                                        const tcp_network_options& options, node_id peer, const std::string& address) {
  auto target = split_host_port(address);
  if (!target) throw std::system_error(tcp_error::unknown_address, "\"" + address + "\" is not a host:port address");
  asio::ip::tcp::resolver resolver(socket.get_executor());
  deadline limit(socket.get_executor());
  limit.arm(options.connect_timeout, [&] {
    resolver.cancel();
    std::error_code ignored;
    socket.close(ignored);
  });
  try {
    auto endpoints = co_await resolver.async_resolve(target->host, target->port, asio::use_awaitable);
    // Once the deadline has closed the socket, no further endpoint is tried.
    auto still_in_time = [&](const std::error_code&, const asio::ip::tcp::endpoint&) { return !limit.expired(); };
    co_await asio::async_connect(socket, endpoints, still_in_time, asio::use_awaitable);
    socket.set_option(asio::ip::tcp::no_delay(true));
    auto hello = encode_frame(make_hello(options, peer), handshake_frame_bytes);
    co_await asio::async_write(socket, asio::buffer(hello), asio::use_awaitable);
    auto reply = co_await reader.read(socket, handshake_frame_bytes);
    check_reply(reply);
  } catch (const std::system_error&) {
    if (limit.expired()) {
      throw std::system_error(asio::error::timed_out,
                              concat("no connection within ", options.connect_timeout.count(), " ms"));
    }
    throw;
  }
}

}  // namespace coraft::net
