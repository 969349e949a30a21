// A log_storage in a LevelDB database of its own. LevelDB's types stay out of
// this header: only leveldb::Env is named, for tests that bring their own.
#pragma once

#include <coraft/log_storage.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace leveldb {
class DB;
class Env;
class WriteBatch;
}  // namespace leveldb

namespace coraft {

struct leveldb_log_options {
  // Create an empty database when `path` holds none; otherwise open() fails.
  bool create_if_missing = true;
  // The file system LevelDB works on; nullptr means the real one, with
  // LevelDB's write-ahead log written into space zeroed ahead of it (see
  // below). Tests pass an in-memory or fault-injecting Env, used as it is.
  // Not owned: it must outlive the storage.
  leveldb::Env* env = nullptr;
};

// On-disk layout (changing it breaks existing databases); values are the
// messages of lib/proto/log.proto:
//   'e' + index as 8 bytes big-endian   stored.Entry (keys sort by index)
//   "m/hard_state"                      stored.HardState      (absent: never saved)
//   "m/committed"                       stored.CommittedIndex (absent: never saved)
//   "m/purged"                          stored.LogId          (absent: nothing purged)
//   "m/deleted"                         stored.DeletedThrough (absent: as m/purged)
// Every write() and purge() is one WriteBatch written with sync, so a crash
// leaves each of them wholly applied or not at all.
//
// purge() of entries the log holds writes only the purged id; the purged
// entries' keys are deleted afterwards, a slice with each write() (at least
// as many as the write adds, and at least 128), and m/deleted records how far.
// One batch deleting a whole snapshot interval's keys (100,000 by default)
// held up the writes behind it for tens of milliseconds; spread over the
// writes, it costs each of them a little instead. Purged entries are never
// read again, whether or not their keys are gone yet.
//
// On the real file system LevelDB's write-ahead log files grow 1 MiB of zeros
// at a time ahead of their records, so that each sync overwrites space the
// file already has instead of growing it, and spares the file system the
// inode write that growing costs. open() first cuts each log file back to its
// last whole record when only zeros follow it (or one record a crash cut
// short, then zeros); any other damage still makes open() fail.
//
// Failures throw std::system_error (std::errc::io_error) whose message names the
// operation and LevelDB's status, or, for a record that does not decode or an
// entry that is missing, its key. Nothing corrupt is ever skipped.
//
// Fail-stop: once a write() or purge() has failed, every later write() and
// purge() throws without touching the database, because what reached the disk
// is unknown until the database is reopened. Reads keep answering with the last
// acknowledged state.
//
// Like every log_storage it expects one call at a time.
class leveldb_log_storage final : public log_storage {
 public:
  // Opens the database at `path` and recovers the log's first and last ids.
  // Throws std::system_error when LevelDB cannot open it or its log is damaged.
  static std::unique_ptr<leveldb_log_storage> open(const std::string& path, const leveldb_log_options& options = {});
  ~leveldb_log_storage() override;

  asio::awaitable<log_state> read_log_state() override;
  asio::awaitable<hard_state> read_hard_state() override;
  asio::awaitable<std::optional<index_t>> read_committed() override;
  asio::awaitable<std::vector<log_entry>> read_entries(index_t first, index_t last) override;
  asio::awaitable<void> write(log_write batch) override;
  asio::awaitable<void> purge(log_id upto) override;

 private:
  leveldb_log_storage(std::string path, std::unique_ptr<leveldb::DB> db);

  void recover_log_state();
  // The value stored under `key`, or nullopt when there is none.
  std::optional<std::string> get(std::string_view key) const;
  std::vector<log_entry> read_range(index_t first, index_t last) const;
  term_t term_at(index_t index) const;
  void check_write(const log_write& batch) const;
  void check_writable(std::string_view operation) const;
  void commit(leveldb::WriteBatch& batch, std::string_view operation);
  // Adds to `batch` the deletion of up to `budget` keys of purged entries and
  // returns how far they then reach.
  index_t delete_purged_keys(leveldb::WriteBatch& batch, std::size_t budget) const;

  const std::string path_;
  const std::unique_ptr<leveldb::DB> db_;
  // What the database holds, cached so that read_log_state() costs nothing.
  // Changes only after a batch is durable.
  log_state state_;
  // Every entry key at or below this index is deleted. Invariant:
  // deleted_through_ <= state_.purged.index; the keys in between are purged
  // entries not yet deleted.
  index_t deleted_through_;
  // Set when a write or purge failed; see fail-stop above.
  bool failed_ = false;
};

}  // namespace coraft
