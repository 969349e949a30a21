// coraft's default network: TCP connections carrying length-prefixed protobuf
// frames. Every connection starts with a handshake (cluster id, both node ids,
// protocol version) that the receiver refuses on any mismatch.
//
// A node runs one tcp_server (the receiving side, handing requests to its
// rpc_handler) and one tcp_network_factory (the sending side, one client per
// peer). A client keeps one pipelined connection to its peer; a snapshot streams
// on a connection of its own.
#pragma once

#include <coraft/network.h>
#include <coraft/types.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

namespace coraft {

namespace net {
class tcp_server_state;
}  // namespace net

// Why a TCP call or connection failed. Calls throw std::system_error carrying
// one of these (or an Asio/system error such as connection_refused) and a
// message that names the peer and the reason.
enum class tcp_error {
  cluster_mismatch = 1,  // the peer belongs to another cluster
  wrong_receiver,        // the peer is not the node we meant to reach
  unsupported_version,   // the peer speaks another protocol version
  invalid_sender,        // the peer does not accept our node id
  handshake_failed,      // the peer answered the handshake with something else
  frame_too_large,       // a frame exceeds the maximum frame size
  malformed_frame,       // a frame that does not parse or is out of place
  truncated_frame,       // the connection closed in the middle of a frame
  call_timeout,          // no response within the call timeout
  backing_off,           // the peer was unreachable; no new attempt yet
  unknown_address,       // no address is known for the peer
  remote_failure,        // the peer's handler failed on the request
  snapshot_corrupt,      // the snapshot's length or checksum does not match
  snapshot_incomplete,   // the snapshot stream ended early
  closed,                // the client or server was closed
};

const std::error_category& tcp_category();
std::error_code make_error_code(tcp_error error);

}  // namespace coraft

template <>
struct std::is_error_code_enum<coraft::tcp_error> : std::true_type {};

namespace coraft {

struct tcp_backoff {
  // The first reconnection waits about `initial`; each further failure doubles
  // the wait up to `maximum`. Each wait is drawn from [wait / 2, wait].
  std::chrono::milliseconds initial{50};
  std::chrono::milliseconds maximum{5000};
};

struct tcp_network_options {
  // Every node of a cluster uses the same id; connections across clusters are refused.
  std::string cluster_id;
  node_id self;
  // "host:port" the server binds; port 0 picks a free port (tcp_server::port()).
  std::string listen_address;
  // "host:port" peers should dial (what goes into membership::addresses).
  std::string advertise_address;
  // Where to reach a peer whose membership entry carries no address.
  std::map<node_id, std::string> peers;
  // Frames larger than this are refused without being read (limit of both sides).
  std::size_t max_frame_bytes = 64 << 20;
  // Snapshot data travels in frames of at most this many bytes.
  std::size_t snapshot_chunk_bytes = 1 << 20;
  // Connecting and the handshake, on either side, must finish within this.
  std::chrono::milliseconds connect_timeout{2000};
  // A call without a response after this throws tcp_error::call_timeout.
  std::chrono::milliseconds call_timeout{5000};
  // A whole snapshot transfer, including the receiver installing it.
  std::chrono::milliseconds snapshot_timeout{std::chrono::minutes(10)};
  // Once the first byte of a frame has arrived, the server waits this long for
  // the rest before it closes the connection (a peer that stalls mid-frame
  // would otherwise hold it forever). An idle connection between frames has
  // no limit.
  std::chrono::milliseconds frame_timeout{std::chrono::seconds(30)};
  tcp_backoff backoff;
};

// A configuration value that is missing, of the wrong type or out of range.
class tcp_config_error : public std::invalid_argument {
 public:
  tcp_config_error(std::string field, const std::string& problem);
  // The offending field as a path, e.g. "peers[1].address".
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

// Reads options from a JSON object:
//   {"cluster_id": "chat", "node_id": 1, "listen": "0.0.0.0:7001",
//    "advertise": "10.0.0.1:7001", "peers": [{"id": 2, "address": "10.0.0.2:7001"}],
//    "max_frame_bytes": 67108864, "snapshot_chunk_bytes": 1048576,
//    "connect_timeout_ms": 2000, "call_timeout_ms": 5000, "snapshot_timeout_ms": 600000,
//    "frame_timeout_ms": 30000,
//    "backoff": {"initial_ms": 50, "max_ms": 5000}}
// cluster_id, node_id and listen are required; "advertise" defaults to "listen";
// the rest default to the values above. Unknown fields are errors (they are
// usually typos). Throws tcp_config_error naming the offending field.
tcp_network_options parse_tcp_network_options(const nlohmann::json& config);

// The receiving side: accepts connections and hands every request to `handler`.
// Requests of one connection are handled concurrently and answered as each
// completes; a snapshot is handled while its data streams in.
class tcp_server {
 public:
  // Binds options.listen_address and starts accepting on `executor` (which may
  // run on several threads). Throws std::system_error when it cannot bind.
  // `handler` must outlive the server's stop().
  tcp_server(asio::any_io_executor executor, const tcp_network_options& options, rpc_handler& handler);
  tcp_server(const tcp_server&) = delete;
  tcp_server& operator=(const tcp_server&) = delete;
  // Closes the listener and every connection without waiting; prefer stop().
  ~tcp_server();

  // The port actually bound (useful with port 0).
  std::uint16_t port() const;

  // Stops accepting, closes every connection and completes once no handler
  // call is running any more.
  asio::awaitable<void> stop();

 private:
  std::shared_ptr<net::tcp_server_state> state_;
};

// The sending side: one client per peer, connecting lazily on the first call.
class tcp_network_factory final : public network_factory {
 public:
  tcp_network_factory(asio::any_io_executor executor, tcp_network_options options);

  // `address` is "host:port"; when empty, options.peers supplies it. A client
  // without any address fails every call with tcp_error::unknown_address.
  std::unique_ptr<network> connect(node_id peer, const std::string& address) override;

 private:
  asio::any_io_executor executor_;
  std::shared_ptr<const tcp_network_options> options_;
};

}  // namespace coraft
