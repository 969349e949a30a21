// Snapshot data on a connection of its own: after the SnapshotRequest come
// SnapshotChunk frames and one SnapshotEnd carrying the length and CRC-32C of
// all the data. The receiver may answer before the end (say, a stale term);
// the sender then stops early and marks the end incomplete.
#pragma once

#include <coraft/messages.h>
#include <coraft/state_machine.h>
#include <coraft/tcp_network.h>

#include "wire.pb.h"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace coraft::net {

// Connects to `peer` and streams `request` and `data`, reading a chunk only
// once the previous one is written (the socket's pace bounds the memory held),
// in frames of at most options.snapshot_chunk_bytes. Returns the peer's answer.
// The whole transfer must finish within options.snapshot_timeout.
asio::awaitable<wire::Response> send_snapshot(std::shared_ptr<const tcp_network_options> options, node_id peer,
                                              std::string address, snapshot_request request, snapshot_source& data);

// The receiving side of one stream, handed to rpc_handler::handle_snapshot.
// next_chunk() may be awaited from any executor; frames are read on `strand`.
class received_snapshot final : public snapshot_source {
 public:
  using frame_source = std::function<asio::awaitable<wire::Frame>()>;

  received_snapshot(asio::any_io_executor strand, frame_source read_frame)
      : strand_(std::move(strand)), read_frame_(std::move(read_frame)) {}

  // Each chunk as it arrives; nullopt once the end arrived and the length and
  // checksum match. Throws std::system_error when the stream breaks, ends
  // early (tcp_error::snapshot_incomplete) or does not match
  // (tcp_error::snapshot_corrupt), and again on every later call.
  asio::awaitable<std::optional<std::string>> next_chunk() override;

  // On `strand`: consumes what the handler left unread, up to the end, so that
  // the connection is back at a frame boundary. Throws when it cannot be.
  asio::awaitable<void> skip_rest();

 private:
  asio::awaitable<std::optional<std::string>> read_chunk();
  void check_end(const wire::SnapshotEnd& end) const;

  asio::any_io_executor strand_;
  frame_source read_frame_;
  std::uint64_t received_bytes_ = 0;
  std::uint32_t received_crc_ = 0;
  bool ended_ = false;  // the SnapshotEnd was read
  std::optional<std::system_error> failure_;
};

}  // namespace coraft::net
