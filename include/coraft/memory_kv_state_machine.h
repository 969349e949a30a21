// A state_machine that keeps a coraft::kv::store in memory: what the examples,
// tests and the in-process benchmark replicate.
//
// Commands are kv::encode(command); each answers what kv::store::apply
// answers. Queries are kv::encode(command{.op = get, .key = K}) and answer
// the value of K. No-op and membership entries answer "". A command or query
// that does not decode answers a string starting with "error: " and changes
// nothing. Snapshots are the encoded store.
//
// "Durable" means held by this object, like memory_log_storage: a node
// restarted with the same object continues where it stopped.
#pragma once

#include <coraft/kv_store.h>
#include <coraft/state_machine.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coraft {

// Every member function may be called from any thread, so that a test may
// inspect the state while a node applies to it.
class memory_kv_state_machine final : public state_machine {
 public:
  // Snapshots stream in chunks of at most this many bytes.
  explicit memory_kv_state_machine(std::size_t snapshot_chunk_bytes = 64 << 10);

  // The value of `key` ("" when missing) as of the last applied entry.
  std::string get(std::string_view key) const;
  // A copy of the whole store.
  kv::store contents() const;
  applied_state applied() const;

  asio::awaitable<applied_state> read_applied_state() override;
  asio::awaitable<std::vector<std::string>> apply(std::vector<log_entry> entries) override;
  asio::awaitable<std::string> query(std::string request) override;

  asio::awaitable<snapshot_meta> build_snapshot() override;
  asio::awaitable<std::optional<snapshot_meta>> current_snapshot() override;
  asio::awaitable<std::unique_ptr<snapshot_source>> open_snapshot() override;
  // The sink must not outlive this object (sources may).
  asio::awaitable<std::unique_ptr<snapshot_sink>> begin_receive_snapshot(snapshot_meta meta) override;
  // Throws std::system_error (invalid_argument) when no finished snapshot
  // with this meta was received.
  asio::awaitable<void> install_received_snapshot(snapshot_meta meta) override;

 private:
  class receiver;
  struct snapshot {
    snapshot_meta meta;
    std::shared_ptr<const std::string> data;  // frozen: sources read it while entries apply
  };
  struct received {
    snapshot_meta meta;
    std::shared_ptr<const std::string> data;
    kv::store store;
  };

  std::string apply_entry(const log_entry& entry);
  void stage(received snapshot);

  const std::size_t chunk_bytes_;
  mutable std::mutex mutex_;
  kv::store store_;
  applied_state applied_;
  std::optional<snapshot> snapshot_;
  std::optional<received> received_;  // finished by a sink, waiting to be installed
};

}  // namespace coraft
