// A durable state machine on LevelDB for applications to derive from. The
// application states what a command does to its keys (apply_command) and how a
// query reads them (answer_query); the base keeps the keys, the last applied log
// id, the membership and a client-session table in one LevelDB database, applies
// every batch of entries as one LevelDB write, answers retried commands once,
// and streams snapshots while entries keep being applied. LevelDB's types stay
// out of this header.
#pragma once

#include <coraft/state_machine.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace leveldb {
class Env;
}  // namespace leveldb

namespace coraft {

// ---------------------------------------------------------------- commands

// What a client proposes: its command, and where the client wants it applied
// exactly once, the session it belongs to.
struct session_command {
  // 0 means "no session": the command is applied every time it is committed.
  std::uint64_t client = 0;
  // Grows with each new command of a client; a retry reuses the number.
  std::uint64_t sequence = 0;
  std::string payload;  // handed to apply_command
  friend bool operator==(const session_command&, const session_command&) = default;
};

// Every command entry applied by a leveldb_state_machine is one encoded session_command.
std::string encode_session_command(const session_command& command);
// nullopt when the bytes are not an encoded session_command.
std::optional<session_command> decode_session_command(std::string_view bytes);

// The answers the base gives in place of the application's. They start with a
// NUL byte; an application must never answer exactly one of them.
//
// An older sequence number than the client's last: nothing was applied.
inline constexpr std::string_view stale_request_answer("\0coraft: stale request", 22);
// A command entry that does not decode as a session_command: nothing was applied.
inline constexpr std::string_view malformed_command_answer("\0coraft: malformed command", 26);

// ---------------------------------------------------------------- the application's view

// The application's keys as the entries applied so far left them: inside
// apply_command, this includes what earlier commands of the same batch wrote.
// Keys and values are arbitrary bytes; keys sort bytewise. Reads throw
// std::system_error when LevelDB fails or a value is damaged.
class state_reader {
 public:
  // Receives one key and its value; returns false to stop the scan.
  using visitor = std::function<bool(std::string_view key, std::string_view value)>;

  virtual std::optional<std::string> get(std::string_view key) const = 0;
  // Visits, in ascending order, every key that starts with `prefix` and is not
  // below `start`; an empty prefix visits every key. The views handed to the
  // visitor are valid during its call only. Writes the visitor stages may or
  // may not be visited by the same scan.
  virtual void scan_from(std::string_view prefix, std::string_view start, const visitor& visit) const = 0;
  void scan(std::string_view prefix, const visitor& visit) const { scan_from(prefix, prefix, visit); }

 protected:
  ~state_reader() = default;
};

// Stages writes of apply_command; they become durable together with the
// entry's log id, or not at all.
class state_writer {
 public:
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void erase(std::string_view key) = 0;

 protected:
  ~state_writer() = default;
};

// ---------------------------------------------------------------- options

// The steps of install_received_snapshot after which a crash leaves a
// different, but always whole, database live.
enum class install_step {
  pointer_staged,    // LIVE.tmp names the new database and is durable; the old one is still live
  pointer_replaced,  // LIVE names the new database (the rename may not be durable yet)
  pointer_durable,   // the directory is synced: the new database is live for good
  installed,         // the new database serves; the old one is released
};

struct leveldb_state_machine_options {
  // Snapshots stream in chunks of at most this many bytes; a chunk is larger
  // only when one key and its value are.
  std::size_t snapshot_chunk_bytes = 1 << 20;
  // The session table keeps at most this many clients; beyond it, the sessions
  // idle for longest (no new command for the most log entries) are forgotten,
  // and a retry of a forgotten client's last command is applied again. Every
  // replica must use the same value: eviction is part of the replicated state.
  std::size_t max_sessions = 100'000;
  // Syncs LevelDB's log after each apply() batch. Without it, a killed process
  // loses nothing (written batches survive in the page cache and LevelDB
  // recovers each one whole or not at all, in order), but a machine crash may:
  // LevelDB's unsynced log can lose an earlier batch and keep a later one, and
  // the Raft log may already have purged the entries the lost batch applied.
  // Turn it off only where a machine crash is recovered from another replica.
  bool sync_applies = true;
  // Called after each step of install_received_snapshot; crash tests end the
  // process there. It runs on the thread that calls install.
  std::function<void(install_step)> install_observer;
  // The file system LevelDB works on; nullptr means the real one. The LIVE
  // pointer and the database directories are always handled on the real file
  // system, so an Env must wrap the real one (tests pass one that injects
  // faults). Not owned: it must outlive the state machine and its snapshots.
  leveldb::Env* env = nullptr;
};

// ---------------------------------------------------------------- the base

// On-disk layout under `directory` (changing it breaks existing state):
//   LIVE        "db-<n>\n": the live database. Replaced only by writing LIVE.tmp,
//               syncing it, renaming it over LIVE and syncing the directory.
//   db-<n>/     the live LevelDB database
//   db-<m>/     a snapshot being received or waiting to be installed; opening
//               removes every db-<m> that LIVE does not name, and LIVE.tmp
// Keys of a database (numbers are 8 bytes big-endian):
//   'a' + key                    the application's value of `key`
//   'i' + last active + client   empty; orders sessions by their last command's log index
//   "m/applied"                  varint term, varint index of the last applied entry
//   "m/format"                   varint format version
//   "m/membership"               encode_membership of the last membership applied
//   's' + client                 varint last sequence, varint last active, string answer
//
// A snapshot pins a LevelDB snapshot of the database: it streams the database's
// keys as of the pin while apply() keeps writing. The stream is a sequence of
// frames, one per chunk, each carrying its type and length: a header with the
// snapshot's meta, records (key/value pairs in key order), and an end frame
// with the number of records and bytes and the CRC-32C of all frames before it.
// A receiver accepts the frames however the network regroups their bytes.
// While pinned, a snapshot keeps the values overwritten since then on disk;
// the next build_snapshot releases it.
//
// Failures throw std::system_error: std::errc::io_error naming the operation
// and LevelDB's status, or a damaged record's key; std::errc::bad_message for a
// received snapshot that is incomplete or corrupt; std::errc::invalid_argument
// for a call that breaks a precondition. Once an apply() or an install failed,
// every later one throws: what reached the disk is known only after reopening.
//
// Threads: as the state_machine contract says. In addition, snapshot sources,
// sinks and read_state() may be used from any thread while entries are applied;
// sinks must not outlive the state machine, sources may.
class leveldb_state_machine : public state_machine {
 public:
  ~leveldb_state_machine() override;

  leveldb_state_machine(const leveldb_state_machine&) = delete;
  leveldb_state_machine& operator=(const leveldb_state_machine&) = delete;

  // Runs `read` on one consistent image of the applied state, from any thread
  // (for reads that need not be linearizable).
  void read_state(const std::function<void(const state_reader&)>& read) const;

  asio::awaitable<applied_state> read_applied_state() final;
  asio::awaitable<std::vector<std::string>> apply(std::vector<log_entry> entries) final;
  asio::awaitable<std::string> query(std::string request) final;

  asio::awaitable<snapshot_meta> build_snapshot() final;
  // After a restart, the live state is pinned as the current snapshot on the
  // first call (nullopt only while nothing was ever applied).
  asio::awaitable<std::optional<snapshot_meta>> current_snapshot() final;
  asio::awaitable<std::unique_ptr<snapshot_source>> open_snapshot() final;
  asio::awaitable<std::unique_ptr<snapshot_sink>> begin_receive_snapshot(snapshot_meta meta) final;
  asio::awaitable<void> install_received_snapshot(snapshot_meta meta) final;

 protected:
  // Opens the state under `directory`, creating it when there is none. Throws
  // std::system_error when it cannot be opened or is damaged.
  explicit leveldb_state_machine(const std::string& directory, leveldb_state_machine_options options = {});

  // Applies one command: reads the state through `state`, stages its writes in
  // `batch`, and returns the answer for the proposer. It must be deterministic:
  // every replica applies the same commands to the same state. An exception
  // from it stops the node.
  virtual std::string apply_command(std::string_view command, const state_reader& state, state_writer& batch) = 0;
  // Answers a linearizable read; must not change anything.
  virtual std::string answer_query(std::string_view request, const state_reader& state) = 0;

 private:
  struct internals;

  std::unique_ptr<internals> internals_;
};

}  // namespace coraft
