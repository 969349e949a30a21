#include <coraft/leveldb_log_storage.h>

#include "log.pb.h"
#include "storage/leveldb_support.h"
#include "storage/preallocated_log.h"

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <system_error>

namespace coraft {

namespace {

using storage::checked_reads;
using storage::slice;
using storage::view;

constexpr char entry_prefix = 'e';
constexpr std::size_t entry_key_size = 1 + sizeof(std::uint64_t);
// Sorts after every entry key and before every metadata key.
constexpr std::string_view entry_keys_end = "f";
constexpr std::string_view hard_state_key = "m/hard_state";
constexpr std::string_view committed_key = "m/committed";
constexpr std::string_view purged_key = "m/purged";
constexpr std::string_view deleted_key = "m/deleted";
// Keys of purged entries a write deletes at least (see the header), so that a
// one-entry write still clears a purge's backlog in a few hundred writes.
constexpr std::size_t purged_keys_deleted_per_write = 128;

std::string entry_key(index_t index) {
  std::string key(1, entry_prefix);
  storage::append_big_endian(key, index.value);
  return key;
}

// Adds to `batch` the deletion of the entry keys first..last (none when last < first).
void delete_entry_keys(leveldb::WriteBatch& batch, index_t first, index_t last) {
  for (index_t index = first; index <= last; ++index) batch.Delete(entry_key(index));
}

std::optional<index_t> index_of_entry_key(std::string_view key) {
  if (key.size() != entry_key_size || key.front() != entry_prefix) return std::nullopt;
  return index_t(storage::read_big_endian(key.substr(1)));
}

std::string describe_key(std::string_view key) {
  auto index = index_of_entry_key(key);
  if (!index) return "key '" + std::string(key) + "'";
  return "entry index " + std::to_string(index->value) + " (key " + storage::hex(key) + ")";
}

[[noreturn]] void throw_io_error(const std::string& path, std::string_view operation, const leveldb::Status& status) {
  storage::throw_leveldb_failure("leveldb log '" + path + "'", operation, status);
}

[[noreturn]] void throw_corruption(const std::string& path, std::string_view key, std::string_view problem) {
  std::ostringstream what;
  what << "leveldb log '" << path << "': " << describe_key(key) << " " << problem;
  throw std::system_error(std::make_error_code(std::errc::io_error), what.str());
}

[[noreturn]] void throw_precondition(const std::string& path, std::string_view problem) {
  std::ostringstream what;
  what << "leveldb log '" << path << "': " << problem;
  throw std::system_error(std::make_error_code(std::errc::invalid_argument), what.str());
}

template <class Message>
Message decode(const std::string& path, std::string_view key, std::string_view value) {
  Message message;
  if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    throw_corruption(path, key, "does not decode as " + message.GetTypeName());
  }
  return message;
}

log_entry decode_entry(const std::string& path, std::string_view key, std::string_view value, index_t index) {
  auto message = decode<stored::Entry>(path, key, value);
  if (message.index() != index.value) {
    throw_corruption(path, key, "holds the entry of index " + std::to_string(message.index()));
  }
  if (message.kind() > static_cast<std::uint32_t>(entry_kind::membership)) {
    throw_corruption(path, key, "holds an unknown entry kind " + std::to_string(message.kind()));
  }
  return {term_t(message.term()), index, static_cast<entry_kind>(message.kind()),
          shared_bytes(std::move(*message.mutable_payload()))};
}

std::string encode(const hard_state& state) {
  stored::HardState message;
  message.set_term(state.term.value);
  message.set_voted_for(state.voted_for.value);
  return message.SerializeAsString();
}

std::string encode(index_t committed) {
  stored::CommittedIndex message;
  message.set_index(committed.value);
  return message.SerializeAsString();
}

std::string encode_deleted_through(index_t index) {
  stored::DeletedThrough message;
  message.set_index(index.value);
  return message.SerializeAsString();
}

std::string encode(log_id id) {
  stored::LogId message;
  message.set_term(id.term.value);
  message.set_index(id.index.value);
  return message.SerializeAsString();
}

}  // namespace

std::unique_ptr<leveldb_log_storage> leveldb_log_storage::open(const std::string& path,
                                                               const leveldb_log_options& options) {
  leveldb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  // Refuse to open over a damaged write-ahead log rather than skip the damaged
  // records (a record cut short at its very end is still dropped quietly: that
  // is the write a crash interrupted).
  db_options.paranoid_checks = true;
  if (options.env) {
    db_options.env = options.env;
  } else {
    if (std::filesystem::is_directory(path)) storage::cut_unwritten_tails(path);
    db_options.env = &storage::preallocating_env();
  }
  leveldb::DB* db = nullptr;
  const leveldb::Status status = leveldb::DB::Open(db_options, path, &db);
  if (!status.ok()) throw_io_error(path, "open", status);
  std::unique_ptr<leveldb_log_storage> storage(new leveldb_log_storage(path, std::unique_ptr<leveldb::DB>(db)));
  storage->recover_log_state();
  return storage;
}

leveldb_log_storage::leveldb_log_storage(std::string path, std::unique_ptr<leveldb::DB> db)
    : path_(std::move(path)), db_(std::move(db)) {}

leveldb_log_storage::~leveldb_log_storage() = default;

// Seeks straight to the entry after the purged id rather than to the first entry
// key, so that neither the tombstones purges leave in front of the log nor
// purged entries not yet deleted are scanned.
void leveldb_log_storage::recover_log_state() {
  log_id purged;
  if (auto value = get(purged_key)) {
    auto message = decode<stored::LogId>(path_, purged_key, *value);
    purged = {term_t(message.term()), index_t(message.index())};
  }
  deleted_through_ = purged.index;  // what databases without m/deleted hold
  if (auto value = get(deleted_key)) {
    deleted_through_ = index_t(decode<stored::DeletedThrough>(path_, deleted_key, *value).index());
    if (deleted_through_ > purged.index) throw_corruption(path_, deleted_key, "reaches beyond the purged id");
  }
  std::unique_ptr<leveldb::Iterator> cursor(db_->NewIterator(checked_reads()));
  cursor->Seek(entry_key(purged.index + 1));
  const std::optional<index_t> first = cursor->Valid() ? index_of_entry_key(view(cursor->key())) : std::nullopt;
  cursor->Seek(slice(entry_keys_end));
  if (cursor->Valid()) {
    cursor->Prev();
  } else {
    cursor->SeekToLast();
  }
  const std::optional<index_t> last = cursor->Valid() ? index_of_entry_key(view(cursor->key())) : std::nullopt;
  if (!cursor->status().ok()) throw_io_error(path_, "recover the log state", cursor->status());
  if (!last || *last <= purged.index) {  // no entry, or only purged ones not yet deleted
    state_ = {purged, purged};
    return;
  }
  if (first != purged.index + 1) {
    throw_corruption(path_, entry_key(purged.index + 1),
                     "is missing although entry index " + std::to_string(last->value) + " is stored");
  }
  state_ = {purged, decode_entry(path_, view(cursor->key()), view(cursor->value()), *last).id()};
}

std::optional<std::string> leveldb_log_storage::get(std::string_view key) const {
  std::string value;
  const leveldb::Status status = db_->Get(checked_reads(), slice(key), &value);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) throw_io_error(path_, "read " + describe_key(key), status);
  return value;
}

std::vector<log_entry> leveldb_log_storage::read_range(index_t first, index_t last) const {
  std::vector<log_entry> entries;
  entries.reserve(last - first + 1);
  std::unique_ptr<leveldb::Iterator> cursor(db_->NewIterator(checked_reads()));
  cursor->Seek(entry_key(first));
  for (index_t index = first; index <= last; ++index, cursor->Next()) {
    if (!cursor->Valid() || index_of_entry_key(view(cursor->key())) != index) {
      if (!cursor->status().ok()) throw_io_error(path_, "read entries", cursor->status());
      throw_corruption(path_, entry_key(index), "is missing");
    }
    entries.push_back(decode_entry(path_, view(cursor->key()), view(cursor->value()), index));
  }
  return entries;
}

term_t leveldb_log_storage::term_at(index_t index) const {
  if (index == state_.last.index) return state_.last.term;
  return read_range(index, index).front().term;
}

asio::awaitable<log_state> leveldb_log_storage::read_log_state() { co_return state_; }

asio::awaitable<hard_state> leveldb_log_storage::read_hard_state() {
  auto value = get(hard_state_key);
  if (!value) co_return hard_state{};
  auto message = decode<stored::HardState>(path_, hard_state_key, *value);
  co_return hard_state{term_t(message.term()), node_id(message.voted_for())};
}

asio::awaitable<std::optional<index_t>> leveldb_log_storage::read_committed() {
  auto value = get(committed_key);
  if (!value) co_return std::nullopt;
  co_return index_t(decode<stored::CommittedIndex>(path_, committed_key, *value).index());
}

asio::awaitable<std::vector<log_entry>> leveldb_log_storage::read_entries(index_t first, index_t last) {
  if (last < first) co_return std::vector<log_entry>();
  if (first <= state_.purged.index || last > state_.last.index) {
    std::ostringstream problem;
    problem << "read of " << first << ".." << last << " outside the stored " << state_.purged.index + 1 << ".."
            << state_.last.index;
    throw_precondition(path_, problem.str());
  }
  co_return read_range(first, last);
}

void leveldb_log_storage::check_write(const log_write& batch) const {
  if (batch.entries.empty()) return;
  const index_t front = batch.entries.front().index;
  if (front <= state_.purged.index || front > state_.last.index + 1) {
    std::ostringstream problem;
    problem << "write starting at " << front << " outside " << state_.purged.index + 1 << ".." << state_.last.index + 1;
    throw_precondition(path_, problem.str());
  }
  index_t expected = front;
  for (const log_entry& entry : batch.entries) {
    if (entry.index != expected) {
      std::ostringstream problem;
      problem << "write entries are not contiguous: " << entry.index << " where " << expected << " belongs";
      throw_precondition(path_, problem.str());
    }
    ++expected;
  }
}

void leveldb_log_storage::check_writable(std::string_view operation) const {
  if (!failed_) return;
  throw std::system_error(std::make_error_code(std::errc::io_error),
                          "leveldb log '" + path_ + "': refusing to " + std::string(operation) +
                              " after an earlier write failed (reopen to learn what reached the disk)");
}

void leveldb_log_storage::commit(leveldb::WriteBatch& batch, std::string_view operation) {
  leveldb::WriteOptions durable;
  durable.sync = true;
  const leveldb::Status status = db_->Write(durable, &batch);
  if (status.ok()) return;
  failed_ = true;
  throw_io_error(path_, operation, status);
}

asio::awaitable<void> leveldb_log_storage::write(log_write batch) {
  check_writable("write");
  check_write(batch);
  leveldb::WriteBatch update;
  if (!batch.entries.empty()) {
    // The new entries overwrite their own keys; only a longer old suffix needs deleting.
    delete_entry_keys(update, batch.entries.back().index + 1, state_.last.index);
    stored::Entry message;
    std::string value;
    for (const log_entry& entry : batch.entries) {
      message.set_term(entry.term.value);
      message.set_index(entry.index.value);
      message.set_kind(static_cast<std::uint32_t>(entry.kind));
      message.set_payload(entry.payload.view().data(), entry.payload.size());
      message.SerializeToString(&value);
      update.Put(entry_key(entry.index), value);
    }
  }
  if (batch.state) update.Put(slice(hard_state_key), encode(*batch.state));
  if (batch.committed) update.Put(slice(committed_key), encode(*batch.committed));
  const index_t deleted_through =
      delete_purged_keys(update, std::max(batch.entries.size(), purged_keys_deleted_per_write));
  commit(update, "write");
  if (!batch.entries.empty()) state_.last = batch.entries.back().id();
  deleted_through_ = deleted_through;
  co_return;
}

index_t leveldb_log_storage::delete_purged_keys(leveldb::WriteBatch& batch, std::size_t budget) const {
  const index_t through = std::min(state_.purged.index, deleted_through_ + budget);
  if (through == deleted_through_) return through;
  delete_entry_keys(batch, deleted_through_ + 1, through);
  batch.Put(slice(deleted_key), encode_deleted_through(through));
  return through;
}

// Entries the log holds up to `upto` are left for later writes to delete (see
// the header). A log that does not hold `upto` was superseded by an installed
// snapshot: every stored key goes at once, since entries above `upto.index`
// would otherwise read as part of the new log; this is rare and the log then
// usually short.
asio::awaitable<void> leveldb_log_storage::purge(log_id upto) {
  check_writable("purge");
  if (upto.index <= state_.purged.index) co_return;
  const bool log_holds_upto = upto.index <= state_.last.index && term_at(upto.index) == upto.term;
  leveldb::WriteBatch update;
  if (!log_holds_upto) {
    delete_entry_keys(update, deleted_through_ + 1, state_.last.index);
    update.Put(slice(deleted_key), encode_deleted_through(upto.index));
  }
  update.Put(slice(purged_key), encode(upto));
  commit(update, "purge");
  state_.purged = upto;
  if (!log_holds_upto) {
    state_.last = upto;
    deleted_through_ = upto.index;
  }
}

}  // namespace coraft
