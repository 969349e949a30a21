// What the TCP network tests share: io_context threads, a scripted
// rpc_handler, a generated snapshot, a log capture and a raw socket.
#pragma once

#include <coraft/error.h>
#include <coraft/logging.h>
#include <coraft/network.h>
#include <coraft/tcp_network.h>

#include "../support/awaited.h"
#include "wire.pb.h"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace coraft::test {

// An io_context run by a few threads for the lifetime of the object.
class io_threads {
 public:
  explicit io_threads(int count = 2);
  ~io_threads();

  asio::any_io_executor executor() { return io_.get_executor(); }

  // Runs `task` on the io_context and waits for it, as awaited<T>::get().
  template <class T>
  T run(asio::awaitable<T> task) {
    return run_awaited(io_.get_executor(), std::move(task));
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// Options for node `self` of cluster "test", listening on an ephemeral port of
// 127.0.0.1; generous timeouts, since timing must not decide a test.
tcp_network_options node_options(node_id self, std::string cluster = "test");

std::string local_address(std::uint16_t port);

// What the handler saw of one snapshot.
struct received_snapshot_report {
  snapshot_meta meta;
  std::uint64_t bytes = 0;
  std::uint32_t crc = 0;
  std::size_t chunks = 0;
  std::size_t largest_chunk = 0;
  std::optional<std::error_code> failure;  // what next_chunk() threw, if it did
};

// An rpc_handler whose answers are derived from the requests, so that a test
// can tell which request a response answers. Appends can be held until the
// test releases them. Safe from any thread: its state lives on a strand.
class fake_handler final : public rpc_handler {
 public:
  static constexpr node_id self{2};

  explicit fake_handler(const asio::any_io_executor& executor);

  asio::awaitable<vote_response> handle_vote(vote_request request) override;
  asio::awaitable<append_response> handle_append(append_request request) override;
  void handle_append(append_request request, append_reply reply) override;
  asio::awaitable<heartbeat_response> handle_heartbeat(heartbeat_request request) override;
  asio::awaitable<timeout_now_response> handle_timeout_now(timeout_now_request request) override;
  asio::awaitable<read_index_response> handle_read_index(read_index_request request) override;
  asio::awaitable<snapshot_response> handle_snapshot(snapshot_request request, snapshot_source& data) override;

  // From now on, appends wait until release_held().
  void hold_appends() { holding_appends_ = true; }
  // From now on, a snapshot request waits until release_held() and is then
  // refused without reading its data.
  void stall_snapshots() { stalling_snapshots_ = true; }

  // Completes once at least `count` requests are held.
  asio::awaitable<void> wait_held(std::size_t count);
  // Lets the held requests complete, the latest first when `newest_first`.
  asio::awaitable<void> release_held(bool newest_first);
  // The request ids of the appends received, in arrival order.
  asio::awaitable<std::vector<std::uint64_t>> append_arrivals();

  std::vector<received_snapshot_report> snapshots() const;

 private:
  // On strand_:
  asio::awaitable<append_response> on_append(append_request request);
  asio::awaitable<void> hold();
  asio::awaitable<void> held_at_least(std::size_t count);
  asio::awaitable<void> release(bool newest_first);
  asio::awaitable<std::vector<std::uint64_t>> arrivals();

  asio::awaitable<received_snapshot_report> read_snapshot(snapshot_meta meta, snapshot_source& data);

  asio::strand<asio::any_io_executor> strand_;
  std::atomic<bool> holding_appends_ = false;
  std::atomic<bool> stalling_snapshots_ = false;
  // On strand_:
  std::vector<std::uint64_t> append_arrivals_;
  std::vector<std::shared_ptr<asio::steady_timer>> held_;
  asio::steady_timer held_changed_;
  // Snapshots are handled on the server's connection strands:
  mutable std::mutex snapshots_mutex_;
  std::vector<received_snapshot_report> snapshots_;
  // Sends the answers to appends; joined first, while the rest still stands.
  asio::thread_pool replier_{1};
};

// `count` chunks of `chunk_bytes` pseudo-random bytes, made as they are asked for.
class generated_snapshot final : public snapshot_source {
 public:
  generated_snapshot(std::size_t count, std::size_t chunk_bytes) : count_(count), chunk_bytes_(chunk_bytes) {}

  asio::awaitable<std::optional<std::string>> next_chunk() override;

  std::size_t chunks_produced() const { return produced_; }
  // The CRC-32C of everything the source yields when read to the end.
  std::uint32_t expected_crc() const;
  std::uint64_t total_bytes() const { return count_ * chunk_bytes_; }

 private:
  std::string chunk(std::size_t number) const;

  std::size_t count_;
  std::size_t chunk_bytes_;
  std::atomic<std::size_t> produced_ = 0;
};

// Collects log lines at warning level and above while it exists.
class log_capture {
 public:
  log_capture();
  ~log_capture();
  bool contains(std::string_view text) const;
  std::string lines() const;

 private:
  struct shared_lines {
    std::mutex mutex;
    std::vector<std::string> lines;
  };
  std::shared_ptr<shared_lines> lines_ = std::make_shared<shared_lines>();
};

// A client socket that sends whatever a test gives it.
asio::awaitable<void> raw_connect(asio::ip::tcp::socket& socket, std::uint16_t port);
asio::awaitable<void> raw_send(asio::ip::tcp::socket& socket, std::string bytes);
asio::awaitable<void> raw_send_frame(asio::ip::tcp::socket& socket, wire::Frame frame);
asio::awaitable<wire::Frame> raw_read_frame(asio::ip::tcp::socket& socket);
// Sends a valid Hello for node 2 of cluster "test" and requires its acceptance.
asio::awaitable<void> raw_handshake(asio::ip::tcp::socket& socket);
// Completes when the peer closes the connection: true when it did so before
// sending anything more.
asio::awaitable<bool> closed_by_peer(asio::ip::tcp::socket& socket);

// The bytes of a length prefix announcing `length` bytes.
std::string length_prefix(std::uint32_t length);

}  // namespace coraft::test
