// A log_storage that keeps everything in memory, for tests, simulations and
// applications that embed coraft without a disk. "Durable" means held by this
// object: a node restarted with the same object finds everything it wrote, and
// nothing survives the object itself.
#pragma once

#include <coraft/log_storage.h>

#include <deque>
#include <mutex>
#include <optional>
#include <vector>

namespace coraft {

// Safe to call from several threads, so that a test may inspect the log while a
// node writes to it. Preconditions of log_storage that a call violates are
// reported as std::system_error with std::errc::invalid_argument and change
// nothing. Entries share their payload buffers with the caller (no copies).
class memory_log_storage final : public log_storage {
 public:
  asio::awaitable<log_state> read_log_state() override;
  asio::awaitable<hard_state> read_hard_state() override;
  asio::awaitable<std::optional<index_t>> read_committed() override;
  asio::awaitable<std::vector<log_entry>> read_entries(index_t first, index_t last) override;
  asio::awaitable<void> write(log_write batch) override;
  asio::awaitable<void> purge(log_id upto) override;

 private:
  log_state state() const;
  index_t first_index() const { return purged_.index + 1; }
  index_t last_index() const { return purged_.index + entries_.size(); }
  // Precondition: first_index() <= index <= last_index().
  const log_entry& at(index_t index) const { return entries_[index - first_index()]; }
  void check_write(const log_write& batch) const;
  void truncate_from(index_t index);

  mutable std::mutex mutex_;
  // Invariant: entries_[i].index == purged_.index + 1 + i.
  log_id purged_;
  std::deque<log_entry> entries_;
  hard_state hard_state_;
  std::optional<index_t> committed_;
};

}  // namespace coraft
