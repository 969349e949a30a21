#include <coraft/leveldb_state_machine.h>

#include "core/codec.h"
#include "storage/durable_files.h"
#include "storage/leveldb_support.h"
#include "storage/snapshot_frames.h"

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

namespace coraft {
namespace {

namespace fs = std::filesystem;
using storage::checked_reads;
using storage::hex;
using storage::slice;
using storage::view;

constexpr std::uint8_t session_command_format = 1;

// The key spaces of a database; see the layout in the header.
constexpr char application_prefix = 'a';
constexpr char idle_prefix = 'i';
constexpr char session_prefix = 's';
constexpr std::string_view meta_prefix = "m/";
constexpr std::string_view applied_key = "m/applied";
constexpr std::string_view format_key = "m/format";
constexpr std::string_view membership_key = "m/membership";
constexpr std::uint64_t database_format = 1;

constexpr std::size_t session_key_bytes = 1 + storage::big_endian_bytes;
constexpr std::size_t idle_key_bytes = 1 + 2 * storage::big_endian_bytes;

constexpr std::string_view live_pointer_name = "LIVE";
constexpr std::string_view database_name_prefix = "db-";

std::string application_key(std::string_view key) {
  std::string internal(1, application_prefix);
  internal += key;
  return internal;
}

std::string session_key(std::uint64_t client) {
  std::string key(1, session_prefix);
  storage::append_big_endian(key, client);
  return key;
}

// Sorts sessions by their last command's log index: the longest idle first.
std::string idle_key(std::uint64_t last_active, std::uint64_t client) {
  std::string key(1, idle_prefix);
  storage::append_big_endian(key, last_active);
  storage::append_big_endian(key, client);
  return key;
}

bool is_known_key(std::string_view key) {
  if (key.empty()) return false;
  return key.front() == application_prefix || key.front() == idle_prefix || key.front() == session_prefix ||
         key.starts_with(meta_prefix);
}

std::string describe_key(std::string_view key) {
  if (key.starts_with(meta_prefix)) return "key '" + std::string(key) + "'";
  const std::string bytes = "(key " + hex(key) + ")";
  if (key.size() == session_key_bytes && key.front() == session_prefix) {
    return "the session of client " + std::to_string(storage::read_big_endian(key.substr(1))) + " " + bytes;
  }
  if (key.size() == idle_key_bytes && key.front() == idle_prefix) {
    return "the idle entry of client " +
           std::to_string(storage::read_big_endian(key.substr(1 + storage::big_endian_bytes))) + " " + bytes;
  }
  if (!key.empty() && key.front() == application_prefix) return "application key " + hex(key.substr(1));
  return "key " + hex(key);
}

[[noreturn]] void throw_corruption(std::string_view subject, std::string_view key, std::string_view problem) {
  throw std::system_error(std::make_error_code(std::errc::io_error),
                          std::string(subject) + ": " + describe_key(key) + " " + std::string(problem));
}

[[noreturn]] void throw_invalid(std::string_view subject, std::string_view problem) {
  throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                          std::string(subject) + ": " + std::string(problem));
}

[[noreturn]] void throw_bad_stream(std::string_view problem) {
  throw std::system_error(std::make_error_code(std::errc::bad_message), "snapshot stream: " + std::string(problem));
}

void remove_quietly(const fs::path& path) {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

// ---------------------------------------------------------------- records

struct session {
  std::uint64_t last_sequence = 0;
  std::uint64_t last_active = 0;  // the log index of the client's last new command
  std::string answer;             // to the command numbered last_sequence
};

std::string encode(const session& client) {
  std::string out;
  codec::put_varint(out, client.last_sequence);
  codec::put_varint(out, client.last_active);
  codec::put_string(out, client.answer);
  return out;
}

session decode_session(std::string_view subject, std::string_view key, std::string_view value) {
  codec::reader in(value);
  const auto last_sequence = in.varint();
  const auto last_active = in.varint();
  auto answer = in.string();
  if (!last_sequence || !last_active || !answer || !in.at_end()) throw_corruption(subject, key, "does not decode");
  return {*last_sequence, *last_active, std::move(*answer)};
}

std::string encode(log_id id) {
  std::string out;
  codec::put_varint(out, id.term.value);
  codec::put_varint(out, id.index.value);
  return out;
}

std::string encode_format() {
  std::string out;
  codec::put_varint(out, database_format);
  return out;
}

std::string describe(const snapshot_meta& meta) {
  std::ostringstream out;
  auto nodes = [&out](std::string_view role, const std::set<node_id>& members) {
    out << " " << role << " {";
    for (node_id member : members) out << (member == *members.begin() ? "" : ",") << member;
    out << "}";
  };
  out << "the snapshot at " << meta.last_included << " with";
  nodes("voters", meta.config.voters);
  nodes("outgoing", meta.config.outgoing_voters);
  nodes("learners", meta.config.learners);
  out << " and " << meta.config.addresses.size() << " addresses";
  return out.str();
}

// ---------------------------------------------------------------- database

// One LevelDB database directory (the live one, one being received, or a
// retired one that snapshot readers still use).
class database {
 public:
  enum class mode { open_existing, create_fresh };

  database(fs::path path, mode how, leveldb::Env* env)
      : path_(std::move(path)), subject_("leveldb state machine '" + path_.string() + "'") {
    leveldb::Options options;
    if (env) options.env = env;
    options.create_if_missing = how == mode::create_fresh;
    options.error_if_exists = how == mode::create_fresh;
    // Refuse a damaged database rather than skip what does not read.
    options.paranoid_checks = true;
    leveldb::DB* db = nullptr;
    const leveldb::Status status = leveldb::DB::Open(options, path_.string(), &db);
    if (!status.ok()) storage::throw_leveldb_failure(subject_, "open", status);
    db_.reset(db);
  }

  ~database() {
    db_.reset();
    if (remove_when_closed_) remove_quietly(path_);
  }

  database(const database&) = delete;
  database& operator=(const database&) = delete;

  leveldb::DB& db() const { return *db_; }
  const fs::path& path() const { return path_; }
  const std::string& subject() const { return subject_; }

  // Whether closing the database deletes its directory: true for one that is
  // being received or has been replaced.
  void remove_when_closed(bool remove) { remove_when_closed_ = remove; }

  std::optional<std::string> get(std::string_view key, const leveldb::ReadOptions& reads) const {
    std::string value;
    const leveldb::Status status = db_->Get(reads, slice(key), &value);
    if (status.IsNotFound()) return std::nullopt;
    if (!status.ok()) storage::throw_leveldb_failure(subject_, "read " + describe_key(key), status);
    return value;
  }

  void write(leveldb::WriteBatch& batch, bool sync, std::string_view operation) {
    leveldb::WriteOptions options;
    options.sync = sync;
    const leveldb::Status status = db_->Write(options, &batch);
    if (!status.ok()) storage::throw_leveldb_failure(subject_, operation, status);
  }

  std::uint64_t count_keys(char prefix) const {
    std::uint64_t count = 0;
    std::unique_ptr<leveldb::Iterator> cursor(db_->NewIterator(checked_reads()));
    const std::string start(1, prefix);
    for (cursor->Seek(start); cursor->Valid() && cursor->key().starts_with(start); cursor->Next()) ++count;
    if (!cursor->status().ok()) storage::throw_leveldb_failure(subject_, "count keys", cursor->status());
    return count;
  }

 private:
  const fs::path path_;
  const std::string subject_;
  std::unique_ptr<leveldb::DB> db_;
  std::atomic<bool> remove_when_closed_ = false;
};

void check_format(const database& source) {
  const auto value = source.get(format_key, checked_reads());
  if (!value) throw_corruption(source.subject(), format_key, "is missing");
  codec::reader in(*value);
  const auto format = in.varint();
  if (!format || !in.at_end()) throw_corruption(source.subject(), format_key, "does not decode");
  if (*format != database_format) {
    throw_corruption(
        source.subject(), format_key,
        "names format " + std::to_string(*format) + "; this coraft reads " + std::to_string(database_format));
  }
}

// Absent keys mean that nothing was applied yet.
applied_state read_applied(const database& source, const leveldb::ReadOptions& reads) {
  applied_state state;
  if (const auto value = source.get(applied_key, reads)) {
    codec::reader in(*value);
    const auto term = in.varint();
    const auto index = in.varint();
    if (!term || !index || !in.at_end()) throw_corruption(source.subject(), applied_key, "does not decode");
    state.last_applied = {term_t(*term), index_t(*index)};
  }
  if (const auto value = source.get(membership_key, reads)) {
    auto config = decode_membership(*value);
    if (!config) throw_corruption(source.subject(), membership_key, "does not decode");
    state.config = std::move(*config);
  }
  return state;
}

// A LevelDB snapshot of a database, pinned with the meta it stands for. It
// keeps the database open (and its directory) until the last reader lets go.
class pinned_snapshot {
 public:
  pinned_snapshot(std::shared_ptr<database> source, snapshot_meta meta)
      : source_(std::move(source)), snapshot_(source_->db().GetSnapshot()), meta_(std::move(meta)) {}
  ~pinned_snapshot() { source_->db().ReleaseSnapshot(snapshot_); }

  pinned_snapshot(const pinned_snapshot&) = delete;
  pinned_snapshot& operator=(const pinned_snapshot&) = delete;

  const database& source() const { return *source_; }
  const snapshot_meta& meta() const { return meta_; }

  leveldb::ReadOptions reads() const {
    leveldb::ReadOptions options = checked_reads();
    options.snapshot = snapshot_;
    return options;
  }

 private:
  const std::shared_ptr<database> source_;
  const leveldb::Snapshot* const snapshot_;
  const snapshot_meta meta_;
};

// ---------------------------------------------------------------- staged writes

// A database as it will be once the writes staged so far are written: reads
// see the staged writes over the stored keys. The writes become one WriteBatch.
class staged_state {
 public:
  staged_state(const database& source, leveldb::ReadOptions reads) : source_(source), reads_(reads) {}

  const database& source() const { return source_; }

  std::optional<std::string> get(std::string_view key) const {
    if (const auto staged = writes_.find(key); staged != writes_.end()) return staged->second;
    return source_.get(key, reads_);
  }

  // Merges the stored keys with the staged writes, the staged ones winning.
  void scan(std::string_view prefix, std::string_view start, const state_reader::visitor& visit) const {
    std::unique_ptr<leveldb::Iterator> cursor(source_.db().NewIterator(reads_));
    cursor->Seek(slice(start));
    auto staged = writes_.lower_bound(start);
    while (true) {
      const bool stored_left = cursor->Valid() && view(cursor->key()).starts_with(prefix);
      const bool staged_left = staged != writes_.end() && staged->first.starts_with(prefix);
      if (!stored_left && !staged_left) break;
      const int order = !staged_left ? -1 : !stored_left ? 1 : view(cursor->key()).compare(staged->first);
      bool more = true;
      if (order < 0) {
        more = visit(view(cursor->key()), view(cursor->value()));
        cursor->Next();
      } else {
        if (order == 0) cursor->Next();
        const auto& [key, value] = *staged++;
        if (value) more = visit(key, *value);
      }
      if (!more) break;
    }
    if (!cursor->status().ok()) storage::throw_leveldb_failure(source_.subject(), "scan", cursor->status());
  }

  void put(std::string_view key, std::string value) { writes_.insert_or_assign(std::string(key), std::move(value)); }
  void erase(std::string_view key) { writes_.insert_or_assign(std::string(key), std::nullopt); }

  leveldb::WriteBatch batch() const {
    leveldb::WriteBatch batch;
    for (const auto& [key, value] : writes_) {
      if (value) {
        batch.Put(key, *value);
      } else {
        batch.Delete(key);
      }
    }
    return batch;
  }

 private:
  const database& source_;
  const leveldb::ReadOptions reads_;
  std::map<std::string, std::optional<std::string>, std::less<>> writes_;
};

// The application's key space inside a staged_state.
class application_state final : public state_reader, public state_writer {
 public:
  explicit application_state(staged_state& state) : state_(state) {}

  std::optional<std::string> get(std::string_view key) const override { return state_.get(application_key(key)); }

  void scan_from(std::string_view prefix, std::string_view start, const visitor& visit) const override {
    state_.scan(application_key(prefix), application_key(std::max(start, prefix)),
                [&visit](std::string_view key, std::string_view value) { return visit(key.substr(1), value); });
  }

  void put(std::string_view key, std::string_view value) override {
    state_.put(application_key(key), std::string(value));
  }
  void erase(std::string_view key) override { state_.erase(application_key(key)); }

 private:
  staged_state& state_;
};

// ---------------------------------------------------------------- snapshot streaming

// Streams a pinned snapshot: the header, the database's keys in order, the end.
// Reads only through its own iterator, so that it may run on any thread.
class snapshot_reader final : public snapshot_source {
 public:
  snapshot_reader(std::shared_ptr<const pinned_snapshot> pin, std::size_t chunk_bytes)
      : pin_(std::move(pin)), encoder_(chunk_bytes), cursor_(pin_->source().db().NewIterator(streaming_reads())) {
    cursor_->SeekToFirst();
  }

  asio::awaitable<std::optional<std::string>> next_chunk() override { co_return read_chunk(); }

 private:
  // A stream passes over every block once: keep it out of the block cache.
  leveldb::ReadOptions streaming_reads() const {
    leveldb::ReadOptions options = pin_->reads();
    options.fill_cache = false;
    return options;
  }

  std::optional<std::string> read_chunk() {
    if (!header_sent_) {
      header_sent_ = true;
      return encoder_.header(pin_->meta());
    }
    if (ended_) return std::nullopt;
    for (; cursor_->Valid(); cursor_->Next()) {
      if (!encoder_.fits(view(cursor_->key()), view(cursor_->value()))) return encoder_.take_records();
      encoder_.add(view(cursor_->key()), view(cursor_->value()));
    }
    if (!cursor_->status().ok()) {
      storage::throw_leveldb_failure(pin_->source().subject(), "read the snapshot", cursor_->status());
    }
    if (encoder_.has_records()) return encoder_.take_records();
    ended_ = true;
    return encoder_.end();
  }

  // Declared before the cursor, so that the cursor is destroyed first.
  const std::shared_ptr<const pinned_snapshot> pin_;
  storage::snapshot_encoder encoder_;
  const std::unique_ptr<leveldb::Iterator> cursor_;
  bool header_sent_ = false;
  bool ended_ = false;
};

// Writes a received stream into a fresh database, one LevelDB write per
// records frame, so that it holds about one frame in memory. A receiver
// dropped before finish() removes that database.
class snapshot_receiver final : public snapshot_sink, private storage::snapshot_consumer {
 public:
  // Hands the finished database to the state machine.
  using finished_handler = std::function<void(const snapshot_meta&)>;

  snapshot_receiver(std::unique_ptr<database> staging, snapshot_meta expected, finished_handler on_finished)
      : staging_(std::move(staging)), expected_(std::move(expected)), on_finished_(std::move(on_finished)) {
    staging_->remove_when_closed(true);
  }

  asio::awaitable<void> write_chunk(std::string chunk) override {
    remembering_failure([&] { decoder_.feed(chunk); });
    co_return;
  }

  asio::awaitable<void> finish() override {
    remembering_failure([&] {
      decoder_.check_complete();
      check_stored_meta();
      close_durably();
    });
    co_return;
  }

 private:
  // After a failure the stream is unusable: every later call throws the first failure.
  template <class Step>
  void remembering_failure(Step step) {
    if (failure_) throw *failure_;
    if (!staging_) throw_invalid("snapshot receiver", "the snapshot was already finished");
    try {
      step();
    } catch (const std::system_error& error) {
      failure_ = error;
      throw;
    }
  }

  void header(const snapshot_meta& meta) override {
    if (meta != expected_) throw_bad_stream("it holds " + describe(meta) + ", expected " + describe(expected_));
  }

  void record(std::string_view key, std::string_view value) override {
    if (!is_known_key(key)) throw_bad_stream("it holds " + describe_key(key) + ", outside every key space");
    batch_.Put(slice(key), slice(value));
  }

  void records_done() override {
    staging_->write(batch_, false, "write received records");
    batch_.Clear();
  }

  void check_stored_meta() const {
    check_format(*staging_);
    const applied_state stored = read_applied(*staging_, checked_reads());
    const snapshot_meta stored_meta{stored.last_applied, stored.config};
    if (stored_meta != expected_) {
      throw_bad_stream("its records hold " + describe(stored_meta) + ", its header " + describe(expected_));
    }
  }

  // The writes above were not synced: sync every file once, then hand over.
  void close_durably() {
    const fs::path path = staging_->path();
    staging_->remove_when_closed(false);
    staging_.reset();
    try {
      storage::sync_directory_with_files(path);
    } catch (...) {
      remove_quietly(path);
      throw;
    }
    on_finished_(expected_);
  }

  std::unique_ptr<database> staging_;  // null once finished
  const snapshot_meta expected_;
  const finished_handler on_finished_;
  storage::snapshot_decoder decoder_{*this};
  leveldb::WriteBatch batch_;
  std::optional<std::system_error> failure_;
};

}  // namespace

// ---------------------------------------------------------------- session commands

std::string encode_session_command(const session_command& command) {
  std::string out(1, static_cast<char>(session_command_format));
  codec::put_varint(out, command.client);
  codec::put_varint(out, command.sequence);
  codec::put_string(out, command.payload);
  return out;
}

std::optional<session_command> decode_session_command(std::string_view bytes) {
  codec::reader in(bytes);
  const auto format = in.byte();
  const auto client = in.varint();
  const auto sequence = in.varint();
  auto payload = in.string();
  if (format != session_command_format || !client || !sequence || !payload || !in.at_end()) return std::nullopt;
  return session_command{*client, *sequence, std::move(*payload)};
}

// ---------------------------------------------------------------- the machine's state

struct leveldb_state_machine::internals {
  internals(leveldb_state_machine& owner, fs::path directory, leveldb_state_machine_options options);
  ~internals();

  fs::path database_path(std::uint64_t number) const {
    return directory / (std::string(database_name_prefix) + std::to_string(number));
  }
  std::shared_ptr<database> live_database() const;

  void open();
  std::set<std::uint64_t> stored_database_numbers() const;
  std::optional<std::uint64_t> read_live_pointer() const;
  std::uint64_t create_first_database(const std::set<std::uint64_t>& found);
  void point_live_to(std::uint64_t number, bool observed);

  void check_writable(std::string_view operation) const;
  void check_continues_log(const std::vector<log_entry>& entries) const;
  std::vector<std::string> apply(const std::vector<log_entry>& entries);
  std::string apply_entry(const log_entry& entry, staged_state& state, membership& config, std::uint64_t& sessions);
  std::string apply_command_entry(const log_entry& entry, staged_state& state, std::uint64_t& sessions);
  std::uint64_t evict_idle_sessions(staged_state& state, std::uint64_t excess) const;
  void commit(staged_state& state);

  std::shared_ptr<const pinned_snapshot> pin_live();
  std::shared_ptr<const pinned_snapshot> current_pin();
  std::unique_ptr<snapshot_sink> begin_receive(snapshot_meta meta);
  void stage_received(const snapshot_meta& meta, std::uint64_t number);
  void install(const snapshot_meta& meta);
  std::shared_ptr<database> open_received(const snapshot_meta& meta, std::uint64_t number) const;

  leveldb_state_machine& owner;
  const fs::path directory;
  const leveldb_state_machine_options options;
  const std::string subject;

  // Guards what sources, sinks and read_state() reach from other threads:
  // live, snapshot, received and next_database_number.
  mutable std::mutex mutex;
  std::shared_ptr<database> live;
  // The current snapshot; replaced by build_snapshot and install.
  std::shared_ptr<const pinned_snapshot> snapshot;
  struct finished_snapshot {
    snapshot_meta meta;
    std::uint64_t database_number;
  };
  // Received, finished and waiting for install.
  std::optional<finished_snapshot> received;
  // Never reused within a process, so that a receiver never meets another's directory.
  std::uint64_t next_database_number = 1;

  // Touched only by the calls that the state_machine contract serializes.
  applied_state applied;
  std::uint64_t session_count = 0;  // the number of 's' keys in the live database
  bool failed = false;              // an apply or install failed; see the header
};

leveldb_state_machine::internals::internals(leveldb_state_machine& owner, fs::path directory,
                                            leveldb_state_machine_options options)
    : owner(owner),
      directory(std::move(directory)),
      options(std::move(options)),
      subject("leveldb state machine '" + this->directory.string() + "'") {
  if (this->options.max_sessions == 0) throw_invalid(subject, "max_sessions must be at least 1");
}

leveldb_state_machine::internals::~internals() {
  if (received) remove_quietly(database_path(received->database_number));
}

std::shared_ptr<database> leveldb_state_machine::internals::live_database() const {
  std::lock_guard lock(mutex);
  return live;
}

// ---------------------------------------------------------------- opening

void leveldb_state_machine::internals::open() {
  fs::create_directories(directory);
  const std::set<std::uint64_t> found = stored_database_numbers();
  std::optional<std::uint64_t> live_number = read_live_pointer();
  if (live_number) {
    live = std::make_shared<database>(database_path(*live_number), database::mode::open_existing, options.env);
  } else {
    live_number = create_first_database(found);
  }
  // What a crash left behind: received databases never installed, replaced
  // ones never deleted, a pointer never renamed.
  for (std::uint64_t number : found) {
    if (number != *live_number) remove_quietly(database_path(number));
  }
  remove_quietly(storage::temporary_path_of(directory / live_pointer_name));
  next_database_number = std::max(found.empty() ? 0 : *found.rbegin(), *live_number) + 1;
  check_format(*live);
  applied = read_applied(*live, checked_reads());
  session_count = live->count_keys(session_prefix);
}

std::set<std::uint64_t> leveldb_state_machine::internals::stored_database_numbers() const {
  std::set<std::uint64_t> numbers;
  for (const auto& entry : fs::directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(database_name_prefix)) continue;
    const std::string_view digits = std::string_view(name).substr(database_name_prefix.size());
    std::uint64_t number = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (error == std::errc() && end == digits.data() + digits.size()) numbers.insert(number);
  }
  return numbers;
}

std::optional<std::uint64_t> leveldb_state_machine::internals::read_live_pointer() const {
  const fs::path path = directory / live_pointer_name;
  const std::optional<std::string> contents = storage::read_small_file(path);
  if (!contents) return std::nullopt;
  const std::string_view name = *contents;
  const std::string_view digits =
      name.starts_with(database_name_prefix) && name.ends_with('\n')
          ? name.substr(database_name_prefix.size(), name.size() - database_name_prefix.size() - 1)
          : std::string_view();
  std::uint64_t number = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
    throw std::system_error(std::make_error_code(std::errc::io_error),
                            subject + ": " + std::string(live_pointer_name) + " does not name a database");
  }
  return number;
}

// Only a crash while the first database was being created leaves a database
// without a LIVE pointer; anything else is not ours to delete.
std::uint64_t leveldb_state_machine::internals::create_first_database(const std::set<std::uint64_t>& found) {
  constexpr std::uint64_t first = 1;
  if (!found.empty() && found != std::set<std::uint64_t>{first}) {
    throw std::system_error(std::make_error_code(std::errc::io_error),
                            subject + ": holds databases but no " + std::string(live_pointer_name) + " naming one");
  }
  remove_quietly(database_path(first));
  live = std::make_shared<database>(database_path(first), database::mode::create_fresh, options.env);
  leveldb::WriteBatch batch;
  batch.Put(slice(format_key), encode_format());
  live->write(batch, true, "create");
  point_live_to(first, false);
  return first;
}

void leveldb_state_machine::internals::point_live_to(std::uint64_t number, bool observed) {
  const std::string contents = std::string(database_name_prefix) + std::to_string(number) + "\n";
  storage::replace_file_durably(directory / live_pointer_name, contents, [&](storage::replace_step step) {
    if (!observed || !options.install_observer) return;
    switch (step) {
      case storage::replace_step::temporary_synced:
        options.install_observer(install_step::pointer_staged);
        break;
      case storage::replace_step::renamed:
        options.install_observer(install_step::pointer_replaced);
        break;
      case storage::replace_step::directory_synced:
        options.install_observer(install_step::pointer_durable);
        break;
    }
  });
}

// ---------------------------------------------------------------- applying

void leveldb_state_machine::internals::check_writable(std::string_view operation) const {
  if (!failed) return;
  throw std::system_error(std::make_error_code(std::errc::io_error),
                          subject + ": refusing to " + std::string(operation) +
                              " after an earlier apply or install failed (reopen to learn what reached the disk)");
}

// Entries apply in log order from the one after the applied id, so that none
// is applied twice or skipped.
void leveldb_state_machine::internals::check_continues_log(const std::vector<log_entry>& entries) const {
  index_t expected = applied.last_applied.index + 1;
  for (const log_entry& entry : entries) {
    if (entry.index != expected) {
      std::ostringstream problem;
      problem << "apply of entry index " << entry.index.value << " where " << expected.value << " belongs";
      throw_invalid(subject, problem.str());
    }
    ++expected;
  }
}

// The whole batch is one WriteBatch: the application's writes, the session
// updates, the membership and the last applied id reach LevelDB together or
// not at all, so the applied id never disagrees with the data.
std::vector<std::string> leveldb_state_machine::internals::apply(const std::vector<log_entry>& entries) {
  check_writable("apply");
  check_continues_log(entries);
  std::vector<std::string> answers;
  answers.reserve(entries.size());
  if (entries.empty()) return answers;
  staged_state state(*live, checked_reads());
  applied_state next = applied;
  std::uint64_t sessions = session_count;
  for (const log_entry& entry : entries) {
    answers.push_back(apply_entry(entry, state, next.config, sessions));
    next.last_applied = entry.id();
  }
  state.put(applied_key, encode(next.last_applied));
  if (sessions > options.max_sessions) sessions -= evict_idle_sessions(state, sessions - options.max_sessions);
  commit(state);
  applied = std::move(next);
  session_count = sessions;
  return answers;
}

std::string leveldb_state_machine::internals::apply_entry(const log_entry& entry, staged_state& state,
                                                          membership& config, std::uint64_t& sessions) {
  switch (entry.kind) {
    case entry_kind::command:
      return apply_command_entry(entry, state, sessions);
    case entry_kind::membership:
      // As in the core, an entry that does not decode leaves the membership as it was.
      if (auto decoded = decode_membership(entry.payload.view())) {
        config = std::move(*decoded);
        state.put(membership_key, encode_membership(config));
      }
      return {};
    case entry_kind::noop:
      return {};
  }
  return {};
}

std::string leveldb_state_machine::internals::apply_command_entry(const log_entry& entry, staged_state& state,
                                                                  std::uint64_t& sessions) {
  const std::optional<session_command> command = decode_session_command(entry.payload.view());
  if (!command) return std::string(malformed_command_answer);
  application_state application(state);
  if (command->client == 0) return owner.apply_command(command->payload, application, application);

  const std::string key = session_key(command->client);
  std::optional<session> previous;
  if (const auto stored = state.get(key)) previous = decode_session(state.source().subject(), key, *stored);
  if (previous && command->sequence == previous->last_sequence) return previous->answer;
  if (previous && command->sequence < previous->last_sequence) return std::string(stale_request_answer);

  const session next{command->sequence, entry.index.value,
                     owner.apply_command(command->payload, application, application)};
  if (previous) {
    state.erase(idle_key(previous->last_active, command->client));
  } else {
    ++sessions;
  }
  state.put(idle_key(next.last_active, command->client), {});
  state.put(key, encode(next));
  return next.answer;
}

// Forgets the `excess` sessions whose last new command lies furthest back.
// Returns how many it forgot.
std::uint64_t leveldb_state_machine::internals::evict_idle_sessions(staged_state& state, std::uint64_t excess) const {
  std::vector<std::string> longest_idle;
  const std::string idle_space(1, idle_prefix);
  state.scan(idle_space, idle_space, [&](std::string_view key, std::string_view) {
    longest_idle.emplace_back(key);
    return longest_idle.size() < excess;
  });
  for (const std::string& key : longest_idle) {
    if (key.size() != idle_key_bytes) throw_corruption(state.source().subject(), key, "is not an idle entry");
    state.erase(session_key(storage::read_big_endian(std::string_view(key).substr(1 + storage::big_endian_bytes))));
    state.erase(key);
  }
  return longest_idle.size();
}

// Syncing is optional (options.sync_applies explains when it is needed): the
// Raft log is the durable record, and entries after the applied id that a
// crash lost are applied again from it.
void leveldb_state_machine::internals::commit(staged_state& state) {
  leveldb::WriteBatch batch = state.batch();
  try {
    live->write(batch, options.sync_applies, "apply");
  } catch (const std::system_error&) {
    failed = true;
    throw;
  }
}

// ---------------------------------------------------------------- snapshots

std::shared_ptr<const pinned_snapshot> leveldb_state_machine::internals::pin_live() {
  return std::make_shared<const pinned_snapshot>(live, snapshot_meta{applied.last_applied, applied.config});
}

// The live state at its applied id is a valid snapshot: after a restart it
// stands in for the one built before.
std::shared_ptr<const pinned_snapshot> leveldb_state_machine::internals::current_pin() {
  std::lock_guard lock(mutex);
  if (!snapshot && applied.last_applied.index > index_t()) snapshot = pin_live();
  return snapshot;
}

std::unique_ptr<snapshot_sink> leveldb_state_machine::internals::begin_receive(snapshot_meta meta) {
  std::uint64_t number = 0;
  {
    std::lock_guard lock(mutex);
    number = next_database_number++;
  }
  auto staging = std::make_unique<database>(database_path(number), database::mode::create_fresh, options.env);
  return std::make_unique<snapshot_receiver>(
      std::move(staging), std::move(meta),
      [this, number](const snapshot_meta& finished) { stage_received(finished, number); });
}

void leveldb_state_machine::internals::stage_received(const snapshot_meta& meta, std::uint64_t number) {
  std::optional<finished_snapshot> replaced;
  {
    std::lock_guard lock(mutex);
    replaced = std::exchange(received, finished_snapshot{meta, number});
  }
  if (replaced) remove_quietly(database_path(replaced->database_number));
}

// Removes the received database unless it opens and holds what `meta` says.
std::shared_ptr<database> leveldb_state_machine::internals::open_received(const snapshot_meta& meta,
                                                                          std::uint64_t number) const {
  std::shared_ptr<database> fresh;
  try {
    fresh = std::make_shared<database>(database_path(number), database::mode::open_existing, options.env);
  } catch (...) {
    remove_quietly(database_path(number));
    throw;
  }
  fresh->remove_when_closed(true);
  check_format(*fresh);
  const applied_state stored = read_applied(*fresh, checked_reads());
  if (stored != applied_state{meta.last_included, meta.config}) {
    throw_corruption(fresh->subject(), applied_key, "does not match " + describe(meta));
  }
  fresh->remove_when_closed(false);
  return fresh;
}

// The LIVE pointer decides: before its rename is durable the old database is
// live after a crash, afterwards the new one, and open() removes the other.
void leveldb_state_machine::internals::install(const snapshot_meta& meta) {
  check_writable("install a snapshot");
  std::uint64_t number = 0;
  {
    std::lock_guard lock(mutex);
    if (!received || received->meta != meta) throw_invalid(subject, "no finished snapshot matches " + describe(meta));
    number = std::exchange(received, std::nullopt)->database_number;
  }
  std::shared_ptr<database> fresh = open_received(meta, number);
  const std::uint64_t fresh_sessions = fresh->count_keys(session_prefix);
  try {
    point_live_to(number, true);
  } catch (const std::system_error&) {
    failed = true;
    throw;
  }
  auto pin = std::make_shared<const pinned_snapshot>(fresh, meta);
  std::shared_ptr<database> replaced;
  std::shared_ptr<const pinned_snapshot> replaced_pin;
  {
    std::lock_guard lock(mutex);
    replaced = std::exchange(live, fresh);
    replaced_pin = std::exchange(snapshot, std::move(pin));
  }
  replaced->remove_when_closed(true);
  applied = {meta.last_included, meta.config};
  session_count = fresh_sessions;
  // The replaced database closes and goes once its last reader lets go: now,
  // unless a snapshot stream still reads it.
  replaced_pin.reset();
  replaced.reset();
  if (options.install_observer) options.install_observer(install_step::installed);
}

// ---------------------------------------------------------------- the public face

leveldb_state_machine::leveldb_state_machine(const std::string& directory, leveldb_state_machine_options options)
    : internals_(std::make_unique<internals>(*this, directory, std::move(options))) {
  internals_->open();
}

leveldb_state_machine::~leveldb_state_machine() = default;

void leveldb_state_machine::read_state(const std::function<void(const state_reader&)>& read) const {
  const pinned_snapshot image(internals_->live_database(), {});
  staged_state state(image.source(), image.reads());
  read(application_state(state));
}

asio::awaitable<applied_state> leveldb_state_machine::read_applied_state() { co_return internals_->applied; }

asio::awaitable<std::vector<std::string>> leveldb_state_machine::apply(std::vector<log_entry> entries) {
  co_return internals_->apply(entries);
}

asio::awaitable<std::string> leveldb_state_machine::query(std::string request) {
  staged_state state(*internals_->live, checked_reads());
  co_return answer_query(request, application_state(state));
}

asio::awaitable<snapshot_meta> leveldb_state_machine::build_snapshot() {
  std::shared_ptr<const pinned_snapshot> pin = internals_->pin_live();
  std::shared_ptr<const pinned_snapshot> replaced;
  {
    std::lock_guard lock(internals_->mutex);
    replaced = std::exchange(internals_->snapshot, pin);
  }
  co_return pin->meta();
}

asio::awaitable<std::optional<snapshot_meta>> leveldb_state_machine::current_snapshot() {
  const auto pin = internals_->current_pin();
  if (!pin) co_return std::nullopt;
  co_return pin->meta();
}

asio::awaitable<std::unique_ptr<snapshot_source>> leveldb_state_machine::open_snapshot() {
  auto pin = internals_->current_pin();
  if (!pin) throw_invalid(internals_->subject, "there is no snapshot to open");
  co_return std::make_unique<snapshot_reader>(std::move(pin), internals_->options.snapshot_chunk_bytes);
}

asio::awaitable<std::unique_ptr<snapshot_sink>> leveldb_state_machine::begin_receive_snapshot(snapshot_meta meta) {
  co_return internals_->begin_receive(std::move(meta));
}

asio::awaitable<void> leveldb_state_machine::install_received_snapshot(snapshot_meta meta) {
  internals_->install(meta);
  co_return;
}

}  // namespace coraft
