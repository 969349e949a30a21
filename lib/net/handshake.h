// The handshake that opens every connection: the client sends a Hello, the
// server answers with a HelloReply and, on a refusal, closes.
#pragma once

#include <coraft/tcp_network.h>

#include "net/framing.h"
#include "wire.pb.h"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace coraft::net {

inline constexpr std::uint32_t protocol_version = 1;
// A Hello and its reply are small: the first frame each side reads is limited to this.
inline constexpr std::size_t handshake_frame_bytes = 4096;

wire::Frame make_hello(const tcp_network_options& options, node_id receiver);

// The server's answer: refusal ACCEPTED, or the refusal and its reason.
wire::HelloReply check_hello(const wire::Hello& hello, const tcp_network_options& options);

// Resolves and connects `socket` to `peer` at `address` ("host:port"), then
// greets it. Both must finish within options.connect_timeout. Throws
// std::system_error: the refusal (tcp_error::cluster_mismatch …) with the
// peer's reason, asio::error::timed_out, or the connection's error.
asio::awaitable<void> connect_and_greet(asio::ip::tcp::socket& socket, frame_reader& reader,
                                        const tcp_network_options& options, node_id peer, const std::string& address);

}  // namespace coraft::net
