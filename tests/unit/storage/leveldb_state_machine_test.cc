#include "leveldb_state_machine_support.h"
#include "temporary_directory.h"

#include <leveldb/db.h>
#include <leveldb/env.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <random>
#include <thread>

#if defined(__SANITIZE_THREAD__)
// The sanitizer runtime's interface; GCC ships no header for it.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

using namespace coraft;
using namespace coraft::testing;
using Catch::Contains;

namespace {

std::string stale() { return std::string(stale_request_answer); }

// The live database of a closed state machine, found as the header documents:
// LIVE names it.
std::filesystem::path live_database(const std::filesystem::path& directory) {
  std::ifstream pointer(directory / "LIVE");
  std::string name;
  REQUIRE(std::getline(pointer, name));
  return directory / name;
}

std::unique_ptr<leveldb::DB> open_raw(const std::filesystem::path& path) {
  leveldb::DB* db = nullptr;
  const leveldb::Status status = leveldb::DB::Open(leveldb::Options(), path.string(), &db);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return std::unique_ptr<leveldb::DB>(db);
}

// Every key of a closed state machine's database: application keys, sessions
// and meta alike.
std::map<std::string, std::string> stored_keys(const std::filesystem::path& directory) {
  auto db = open_raw(live_database(directory));
  std::map<std::string, std::string> keys;
  std::unique_ptr<leveldb::Iterator> cursor(db->NewIterator({}));
  for (cursor->SeekToFirst(); cursor->Valid(); cursor->Next())
    keys.emplace(cursor->key().ToString(), cursor->value().ToString());
  REQUIRE(cursor->status().ok());
  return keys;
}

void put_raw(const std::filesystem::path& directory, const std::string& key, const std::string& value) {
  auto db = open_raw(live_database(directory));
  REQUIRE(db->Put(leveldb::WriteOptions(), key, value).ok());
}

std::string session_key(std::uint64_t client) {
  std::string key = "s";
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(client >> shift));
  return key;
}

std::size_t count_with_prefix(const std::map<std::string, std::string>& keys, char prefix) {
  return std::count_if(keys.begin(), keys.end(), [&](const auto& key) { return key.first.front() == prefix; });
}

std::vector<std::string> read_all_chunks(snapshot_source& source) {
  std::vector<std::string> chunks;
  while (auto chunk = run_to_completion(source.next_chunk())) chunks.push_back(std::move(*chunk));
  return chunks;
}

std::vector<std::string> read_snapshot(state_machine& machine) {
  return read_all_chunks(*run_to_completion(machine.open_snapshot()));
}

// The same bytes cut at other places, as a network with smaller frames would.
std::vector<std::string> recut(const std::vector<std::string>& chunks, std::size_t piece_bytes) {
  std::string all;
  for (const std::string& chunk : chunks) all += chunk;
  std::vector<std::string> pieces;
  for (std::size_t offset = 0; offset < all.size(); offset += piece_bytes)
    pieces.push_back(all.substr(offset, piece_bytes));
  return pieces;
}

void receive(state_machine& machine, const snapshot_meta& meta, const std::vector<std::string>& chunks) {
  auto sink = run_to_completion(machine.begin_receive_snapshot(meta));
  for (const std::string& chunk : chunks) run_to_completion(sink->write_chunk(chunk));
  run_to_completion(sink->finish());
}

// A machine holding keys, two sessions and a membership.
void fill(kv_machine& machine, std::uint64_t first_index, int commands) {
  std::vector<log_entry> entries;
  entries.push_back(membership_entry(first_index, voters({1, 2, 3})));
  for (int n = 0; n < commands; ++n) {
    const std::uint64_t index = first_index + 1 + n;
    const std::uint64_t client = 1 + n % 2;
    entries.push_back(
        command_entry(index, {client, index, "put key/" + std::to_string(n) + " value-" + std::to_string(index)}));
  }
  apply_entries(machine, std::move(entries));
}

// 64-bit pseudo-random bytes that depend only on `seed`, so that LevelDB
// cannot compress them and a reader can check them.
std::string random_bytes(std::uint64_t seed, std::size_t size) {
  std::mt19937_64 generator(seed);
  std::string bytes(size, '\0');
  for (std::size_t offset = 0; offset < size; offset += 8) {
    const std::uint64_t word = generator();
    std::memcpy(bytes.data() + offset, &word, std::min<std::size_t>(8, size - offset));
  }
  return bytes;
}

// This process's memory, from /proc/self/status, in KiB.
struct memory_usage {
  std::size_t anonymous_kib = 0;      // RssAnon: the heap and other private memory
  std::size_t file_kib = 0;           // RssFile: mapped file pages, such as LevelDB's tables
  std::size_t peak_resident_kib = 0;  // VmHWM: the peak of anonymous and file pages together
  // What a bound on the heap checks: RssAnon, but under ThreadSanitizer, whose
  // shadow memory is anonymous too and grows with every address touched, its
  // allocator's count of live bytes.
  std::size_t heap_kib = 0;

  static memory_usage now() {
    std::ifstream status("/proc/self/status");
    memory_usage usage;
    std::string field;
    while (status >> field) {
      if (field == "RssAnon:") status >> usage.anonymous_kib;
      if (field == "RssFile:") status >> usage.file_kib;
      if (field == "VmHWM:") status >> usage.peak_resident_kib;
      status.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
#if defined(__SANITIZE_THREAD__)
    usage.heap_kib = __sanitizer_get_current_allocated_bytes() / 1024;
#else
    usage.heap_kib = usage.anonymous_kib;
#endif
    return usage;
  }

  // Starts VmHWM again from the current resident set.
  static void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }
};

// Fails every write to LevelDB's log files once armed, as a disk answering EIO would.
class failing_env final : public leveldb::EnvWrapper {
 public:
  failing_env() : EnvWrapper(leveldb::Env::Default()) {}

  void arm() { armed_ = true; }

  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** file) override {
    leveldb::Status status = target()->NewWritableFile(name, file);
    if (status.ok() && name.ends_with(".log")) *file = new failing_file(*file, armed_);
    return status;
  }

 private:
  class failing_file final : public leveldb::WritableFile {
   public:
    failing_file(leveldb::WritableFile* file, const std::atomic<bool>& armed) : file_(file), armed_(armed) {}

    leveldb::Status Append(const leveldb::Slice& data) override {
      return armed_ ? leveldb::Status::IOError("injected write failure") : file_->Append(data);
    }
    leveldb::Status Sync() override {
      return armed_ ? leveldb::Status::IOError("injected sync failure") : file_->Sync();
    }
    leveldb::Status Flush() override { return file_->Flush(); }
    leveldb::Status Close() override { return file_->Close(); }

   private:
    std::unique_ptr<leveldb::WritableFile> file_;
    const std::atomic<bool>& armed_;
  };

  std::atomic<bool> armed_ = false;
};

}  // namespace

// ---------------------------------------------------------------- sessions

TEST_CASE("a retried command is applied once and answered with its first answer") {
  temporary_directory directory;
  kv_machine machine(directory.path());

  CHECK(apply_one(machine, command_entry(1, {7, 1, "append log a"})) == "a");
  CHECK(apply_one(machine, command_entry(2, {7, 1, "append log a"})) == "a");
  CHECK(machine.commands_run == 1);

  SECTION("a retry in the same batch as the original") {
    CHECK(apply_entries(machine, {command_entry(3, {7, 2, "append log b"}),
                                  command_entry(4, {7, 2, "append log b"})}) == std::vector<std::string>{"ab", "ab"});
    CHECK(machine.commands_run == 2);
  }
  SECTION("an older sequence number answers the stale marker and changes nothing") {
    apply_one(machine, command_entry(3, {7, 2, "append log b"}));
    CHECK(apply_one(machine, command_entry(4, {7, 1, "append log c"})) == stale());
    CHECK(machine.commands_run == 2);
    CHECK(run_to_completion(machine.query("get log")) == "ab");
  }
  SECTION("sessions of different clients are apart") {
    CHECK(apply_one(machine, command_entry(3, {8, 1, "append log x"})) == "ax");
    CHECK(machine.commands_run == 2);
  }
  SECTION("client 0 has no session: every copy is applied") {
    CHECK(apply_entries(machine, {command_entry(3, "append log z"), command_entry(4, "append log z")}) ==
          std::vector<std::string>{"az", "azz"});
    CHECK(machine.commands_run == 3);
  }
  SECTION("a payload that is no session command is answered with a marker and applies nothing") {
    const log_entry garbage{term_t(1), index_t(3), entry_kind::command, shared_bytes(std::string("\x09junk"))};
    CHECK(apply_one(machine, garbage) == std::string(malformed_command_answer));
    CHECK(machine.commands_run == 1);
    CHECK(applied(machine).last_applied == log_id{term_t(1), index_t(3)});
  }
}

TEST_CASE("the session table survives a reopen") {
  temporary_directory directory;
  {
    kv_machine machine(directory.path());
    apply_one(machine, command_entry(1, {7, 5, "append log a"}));
  }
  kv_machine machine(directory.path());
  CHECK(apply_one(machine, command_entry(2, {7, 5, "append log a"})) == "a");
  CHECK(apply_one(machine, command_entry(3, {7, 4, "append log a"})) == stale());
  CHECK(machine.commands_run == 0);
  CHECK(run_to_completion(machine.query("get log")) == "a");
}

TEST_CASE("session command envelopes round-trip and reject other bytes") {
  const session_command command{12345678901234ULL, 42, std::string("pay\0load", 8)};
  CHECK(decode_session_command(encode_session_command(command)) == command);
  CHECK(decode_session_command(encode_session_command({})) == session_command{});
  std::string longer = encode_session_command(command) + "x";
  CHECK_FALSE(decode_session_command(longer));
  std::string shorter = encode_session_command(command);
  shorter.pop_back();
  CHECK_FALSE(decode_session_command(shorter));
  CHECK_FALSE(decode_session_command(""));
}

TEST_CASE("beyond max_sessions the sessions idle for longest are forgotten") {
  temporary_directory directory;
  leveldb_state_machine_options options;
  options.max_sessions = 2;
  {
    kv_machine machine(directory.path(), options);
    apply_one(machine, command_entry(1, {1, 1, "append one x"}));
    apply_one(machine, command_entry(2, {2, 1, "append two x"}));
    // Client 1 becomes active again, so client 2 is now idle for longest.
    apply_one(machine, command_entry(3, {1, 2, "append one y"}));
    apply_one(machine, command_entry(4, {3, 1, "append three x"}));
    CHECK(machine.commands_run == 4);

    // Clients 1 and 3 are remembered: their retries are answered, not applied.
    CHECK(apply_one(machine, command_entry(5, {1, 2, "append one y"})) == "xy");
    CHECK(apply_one(machine, command_entry(6, {3, 1, "append three x"})) == "x");
    CHECK(machine.commands_run == 4);
    // Client 2 was forgotten: its retry is applied again (the documented price).
    CHECK(apply_one(machine, command_entry(7, {2, 1, "append two x"})) == "xx");
    CHECK(machine.commands_run == 5);
  }
  // Client 2's retry made it the most recent session, and client 1 the idlest.
  const auto keys = stored_keys(directory.path());
  CHECK(count_with_prefix(keys, 's') == 2);
  CHECK(count_with_prefix(keys, 'i') == 2);
  CHECK_FALSE(keys.contains(session_key(1)));
  CHECK(keys.contains(session_key(2)));
  CHECK(keys.contains(session_key(3)));
}

// ---------------------------------------------------------------- applied state

TEST_CASE("membership entries and the applied id are recorded and survive a reopen") {
  temporary_directory directory;
  const membership joint = [] {
    membership config = voters({1, 2, 4});
    config.outgoing_voters = {node_id(1), node_id(2), node_id(3)};
    config.learners = {node_id(9)};
    config.addresses = {{node_id(9), "10.0.0.9:7000"}};
    return config;
  }();
  {
    kv_machine machine(directory.path());
    CHECK(applied(machine) == applied_state{});
    CHECK(run_to_completion(machine.current_snapshot()) == std::nullopt);
    const auto answers =
        apply_entries(machine, {membership_entry(1, voters({1, 2, 3})), command_entry(2, "put a 1"),
                                log_entry{term_t(2), index_t(3), entry_kind::noop, {}}, membership_entry(4, joint, 2)});
    CHECK(answers == std::vector<std::string>{"", "1", "", ""});
    CHECK(applied(machine) == applied_state{{term_t(2), index_t(4)}, joint});
  }
  kv_machine machine(directory.path());
  CHECK(applied(machine) == applied_state{{term_t(2), index_t(4)}, joint});
  // A membership entry that does not decode leaves the membership as it was, as in the core.
  apply_one(machine, log_entry{term_t(2), index_t(5), entry_kind::membership, shared_bytes(std::string("\xff"))});
  CHECK(applied(machine) == applied_state{{term_t(2), index_t(5)}, joint});
}

TEST_CASE("entries apply in log order from the one after the applied id") {
  temporary_directory directory;
  kv_machine machine(directory.path());
  CHECK_THROWS_MATCHES(apply_one(machine, command_entry(2, "put a 1")), std::system_error,
                       has_error_code(std::errc::invalid_argument));
  apply_one(machine, command_entry(1, "put a 1"));
  CHECK_THROWS_WITH(apply_one(machine, command_entry(1, "append a 1")),
                    Contains("apply of entry index 1 where 2 belongs"));
  CHECK_THROWS_WITH(apply_entries(machine, {command_entry(2, "append a 2"), command_entry(4, "append a 4")}),
                    Contains("apply of entry index 4 where 3 belongs"));
  CHECK(machine.commands_run == 1);
  CHECK(applied(machine).last_applied == log_id{term_t(1), index_t(1)});
  CHECK(apply_one(machine, command_entry(2, "append a 2")) == "12");
}

TEST_CASE("an empty batch changes nothing") {
  temporary_directory directory;
  kv_machine machine(directory.path());
  apply_one(machine, command_entry(1, "put a 1"));
  CHECK(apply_entries(machine, {}).empty());
  CHECK(applied(machine).last_applied == log_id{term_t(1), index_t(1)});
}

// ---------------------------------------------------------------- reads

TEST_CASE("commands see the writes of earlier commands in the same batch") {
  temporary_directory directory;
  kv_machine machine(directory.path());
  apply_entries(machine, {command_entry(1, "put room/b stored"), command_entry(2, "put room/d stored"),
                          command_entry(3, "put other x")});
  const auto answers = apply_entries(machine, {
                                                  command_entry(4, "put room/a staged"),
                                                  command_entry(5, "append room/a +"),
                                                  command_entry(6, "erase room/d"),
                                                  command_entry(7, "put room/c staged"),
                                                  command_entry(8, "list room/"),
                                                  command_entry(9, "erase-prefix room/"),
                                                  command_entry(10, "list room/"),
                                                  command_entry(11, "put room/e last"),
                                              });
  CHECK(answers[1] == "staged+");
  CHECK(answers[4] == "room/a=staged+;room/b=stored;room/c=staged;");
  CHECK(answers[5] == "3");
  CHECK(answers[6] == "");
  CHECK(application_keys(machine) == std::map<std::string, std::string>{{"other", "x"}, {"room/e", "last"}});
}

TEST_CASE("queries read the applied state and scan a key prefix in order") {
  temporary_directory directory;
  kv_machine machine(directory.path());
  apply_entries(machine,
                {command_entry(1, "put room/2 b"), command_entry(2, "put room/1 a"), command_entry(3, "put room/3 c"),
                 command_entry(4, "put roo x"), command_entry(5, "put rooms y"), command_entry(6, "put s z")});
  CHECK(run_to_completion(machine.query("get room/2")) == "b");
  CHECK(run_to_completion(machine.query("get room/9")) == "<none>");
  CHECK(run_to_completion(machine.query("list room/")) == "room/1=a;room/2=b;room/3=c;");
  CHECK(run_to_completion(machine.query("list room")) == "room/1=a;room/2=b;room/3=c;rooms=y;");
  CHECK(run_to_completion(machine.query("list-from room/ room/2 5")) == "room/2=b;room/3=c;");
  CHECK(run_to_completion(machine.query("list-from room/ room/0 2")) == "room/1=a;room/2=b;");
  // A start below the prefix starts at the prefix.
  CHECK(run_to_completion(machine.query("list-from room/ a 1")) == "room/1=a;");
  CHECK(run_to_completion(machine.query("list nothing")) == "");
  // The base's own keys never show in the application's key space.
  CHECK(application_keys(machine).size() == 6);
}

TEST_CASE("keys and values are arbitrary bytes") {
  temporary_directory directory;
  kv_machine machine(directory.path());
  const std::string key("bin\0\xff", 5);
  const std::string value("\0\x01\x02", 3);
  apply_one(machine, command_entry(1, "put " + key + " " + value));
  CHECK(application_keys(machine) == std::map<std::string, std::string>{{key, value}});
}

// ---------------------------------------------------------------- snapshots

TEST_CASE("a snapshot built while entries keep being applied streams the state frozen at its build") {
  temporary_directory source_directory, target_directory;
  kv_machine source(source_directory.path());
  fill(source, 1, 200);
  const auto frozen = application_keys(source);
  const snapshot_meta meta = run_to_completion(source.build_snapshot());
  CHECK(meta == snapshot_meta{{term_t(1), index_t(201)}, voters({1, 2, 3})});

  // Two readers stream on threads of their own while the machine keeps
  // applying: overwriting and erasing frozen keys, adding new ones.
  auto first_reader = run_to_completion(source.open_snapshot());
  auto second_reader = run_to_completion(source.open_snapshot());
  std::vector<std::string> first_chunks, second_chunks;
  std::thread first([&] { first_chunks = read_all_chunks(*first_reader); });
  std::thread second([&] { second_chunks = read_all_chunks(*second_reader); });
  for (std::uint64_t index = 202; index < 602; ++index) {
    apply_one(source, command_entry(index, index % 2 ? "erase key/" + std::to_string(index % 200)
                                                     : "put key/" + std::to_string(index % 250) + " changed"));
  }
  first.join();
  second.join();
  CHECK(first_chunks == second_chunks);
  CHECK(application_keys(source) != frozen);

  kv_machine target(target_directory.path());
  receive(target, meta, first_chunks);
  run_to_completion(target.install_received_snapshot(meta));
  CHECK(application_keys(target) == frozen);
  CHECK(applied(target) == applied_state{meta.last_included, meta.config});
  CHECK(run_to_completion(target.current_snapshot()) == meta);
}

TEST_CASE("a snapshot streamed into a second instance and installed makes both hold the same keys") {
  temporary_directory source_directory, target_directory;
  leveldb_state_machine_options small_chunks;
  small_chunks.snapshot_chunk_bytes = 512;
  snapshot_meta meta;
  {
    kv_machine source(source_directory.path(), small_chunks);
    kv_machine target(target_directory.path());
    fill(source, 1, 300);
    apply_entries(target, {command_entry(1, "put stale-key gone"), command_entry(2, {1, 9, "put other session"})});
    run_to_completion(source.build_snapshot());
    const auto chunks = read_snapshot(source);
    CHECK(chunks.size() > 10);
    meta = *run_to_completion(source.current_snapshot());

    SECTION("chunk by chunk") { receive(target, meta, chunks); }
    SECTION("however the network cuts the bytes") { receive(target, meta, recut(chunks, 77)); }
    SECTION("in one piece") { receive(target, meta, recut(chunks, SIZE_MAX)); }

    run_to_completion(target.install_received_snapshot(meta));
    CHECK(applied(target) == applied_state{meta.last_included, meta.config});
    CHECK(application_keys(target) == application_keys(source));
    // The sessions came along: a retry of client 2's last command is answered, not applied.
    const int commands_before = target.commands_run;
    CHECK(apply_one(target, command_entry(302, {2, 301, "put key/299 value-301"})) == "value-301");
    CHECK(apply_one(target, command_entry(303, {2, 300, "put key/299 again"})) == stale());
    CHECK(target.commands_run == commands_before);
    CHECK(apply_one(source, command_entry(302, {2, 301, "put key/299 value-301"})) == "value-301");
    CHECK(apply_one(source, command_entry(303, {2, 300, "put key/299 again"})) == stale());
  }
  // The replaced database is gone, and everything stored (sessions and meta too) is equal.
  CHECK(directory_names(target_directory.path()).size() == 2);
  CHECK(stored_keys(target_directory.path()) == stored_keys(source_directory.path()));

  kv_machine reopened(target_directory.path());
  CHECK(applied(reopened).last_applied == log_id{term_t(1), index_t(303)});
  CHECK(applied(reopened).config == meta.config);
  CHECK(run_to_completion(reopened.query("get key/299")) == "value-301");
}

TEST_CASE("a snapshot stream still being read survives the install of another one") {
  temporary_directory first_directory, second_directory;
  kv_machine first(first_directory.path());
  kv_machine second(second_directory.path());
  fill(first, 1, 50);
  fill(second, 1, 80);
  run_to_completion(first.build_snapshot());
  auto reader = run_to_completion(first.open_snapshot());
  const auto head = run_to_completion(reader->next_chunk());
  REQUIRE(head);
  // The database the reader reads is replaced under it; it stays readable
  // until the reader lets go, and then goes away.
  transfer_snapshot(second, first);
  std::vector<std::string> chunks{*head};
  for (auto& chunk : read_all_chunks(*reader)) chunks.push_back(std::move(chunk));
  CHECK(directory_names(first_directory.path()).size() == 3);
  reader.reset();
  CHECK(directory_names(first_directory.path()).size() == 2);

  temporary_directory third_directory;
  kv_machine third(third_directory.path());
  const snapshot_meta old_meta{{term_t(1), index_t(51)}, voters({1, 2, 3})};
  receive(third, old_meta, chunks);
  run_to_completion(third.install_received_snapshot(old_meta));
  CHECK(application_keys(third).size() == 50);
}

TEST_CASE("chunks stay within snapshot_chunk_bytes unless one record is larger") {
  temporary_directory directory;
  leveldb_state_machine_options options;
  options.snapshot_chunk_bytes = 4096;
  kv_machine machine(directory.path(), options);
  std::vector<log_entry> entries;
  for (int n = 0; n < 200; ++n)
    entries.push_back(command_entry(n + 1, "put small/" + std::to_string(n) + " " + std::string(100, 'v')));
  entries.push_back(command_entry(201, "put large " + std::string(10'000, 'L')));
  apply_entries(machine, std::move(entries));
  run_to_completion(machine.build_snapshot());
  int oversized = 0;
  for (const std::string& chunk : read_snapshot(machine)) {
    if (chunk.size() > 4096) {
      ++oversized;
      CHECK(chunk.size() < 10'100);
    }
  }
  CHECK(oversized == 1);
}

TEST_CASE("after a restart the live state at its applied id is the current snapshot") {
  temporary_directory source_directory, target_directory;
  {
    kv_machine source(source_directory.path());
    fill(source, 1, 20);
  }
  kv_machine source(source_directory.path());
  const auto meta = run_to_completion(source.current_snapshot());
  CHECK(meta == snapshot_meta{{term_t(1), index_t(21)}, voters({1, 2, 3})});
  // Pinned: entries applied after the first call do not move it.
  apply_one(source, command_entry(22, "put later x"));
  CHECK(run_to_completion(source.current_snapshot()) == meta);

  kv_machine target(target_directory.path());
  CHECK(transfer_snapshot(source, target) == *meta);
  CHECK(application_keys(target).size() == 20);
}

TEST_CASE("a damaged or incomplete stream is refused and the live state stays as it was") {
  temporary_directory source_directory, target_directory;
  leveldb_state_machine_options small_chunks;
  small_chunks.snapshot_chunk_bytes = 512;
  kv_machine source(source_directory.path(), small_chunks);
  kv_machine target(target_directory.path());
  fill(source, 1, 200);
  apply_entries(target, {command_entry(1, "put mine 1"), command_entry(2, {4, 1, "put theirs 2"})});
  const auto before_keys = application_keys(target);
  const applied_state before = applied(target);
  const snapshot_meta meta = run_to_completion(source.build_snapshot());
  std::vector<std::string> chunks = read_snapshot(source);
  REQUIRE(chunks.size() > 4);
  snapshot_meta expected = meta;
  std::string problem;

  SECTION("a flipped bit in a value") {
    const std::size_t value = chunks[2].find("value-");
    REQUIRE(value != std::string::npos);
    chunks[2][value + 6] ^= 0x01;
    problem = "CRC-32C";
  }
  SECTION("a flipped bit in a frame's length") {
    chunks[2][2] ^= 0x01;
    problem = "damaged";
  }
  SECTION("a chunk missing in the middle") {
    chunks.erase(chunks.begin() + 2);
    problem = "the sender sent";
  }
  SECTION("the end frame missing") {
    chunks.pop_back();
    problem = "before its end frame";
  }
  SECTION("a chunk cut short") {
    chunks.pop_back();
    chunks.back().pop_back();
    problem = "before its end frame";
  }
  SECTION("bytes after the end") {
    chunks.push_back("trailing");
    problem = "follows the end";
  }
  SECTION("the stream of another snapshot") {
    expected.last_included.index = expected.last_included.index + 1;
    problem = "expected the snapshot at";
  }

  auto sink = run_to_completion(target.begin_receive_snapshot(expected));
  auto deliver = [&] {
    for (const std::string& chunk : chunks) run_to_completion(sink->write_chunk(chunk));
    run_to_completion(sink->finish());
  };
  CHECK_THROWS_MATCHES(deliver(), std::system_error, has_error_code(std::errc::bad_message));
  try {
    deliver();
  } catch (const std::system_error& error) {
    CHECK_THAT(error.what(), Contains(problem));
  }
  CHECK_THROWS_MATCHES(run_to_completion(target.install_received_snapshot(expected)), std::system_error,
                       has_error_code(std::errc::invalid_argument));
  sink.reset();
  CHECK(directory_names(target_directory.path()).size() == 2);
  CHECK(applied(target) == before);
  CHECK(application_keys(target) == before_keys);
  // And the target keeps working.
  CHECK(apply_one(target, command_entry(3, {4, 1, "put theirs 2"})) == "2");
  CHECK(target.commands_run == 2);
}

TEST_CASE("a sink dropped before it finished leaves no staging database") {
  temporary_directory source_directory, target_directory;
  kv_machine source(source_directory.path());
  kv_machine target(target_directory.path());
  fill(source, 1, 50);
  const snapshot_meta meta = run_to_completion(source.build_snapshot());
  const auto chunks = read_snapshot(source);
  const auto live_only = directory_names(target_directory.path());
  {
    auto sink = run_to_completion(target.begin_receive_snapshot(meta));
    CHECK(directory_names(target_directory.path()).size() == 3);
    SECTION("after some chunks") { run_to_completion(sink->write_chunk(chunks.front())); }
    SECTION("after every chunk") {
      for (const std::string& chunk : chunks) run_to_completion(sink->write_chunk(chunk));
    }
    SECTION("without a chunk") {}
  }
  CHECK(directory_names(target_directory.path()) == live_only);
  CHECK_THROWS_MATCHES(run_to_completion(target.install_received_snapshot(meta)), std::system_error,
                       has_error_code(std::errc::invalid_argument));
}

TEST_CASE("a finished snapshot never installed is removed with its state machine") {
  temporary_directory source_directory, target_directory;
  kv_machine source(source_directory.path());
  fill(source, 1, 10);
  const snapshot_meta meta = run_to_completion(source.build_snapshot());
  const auto chunks = read_snapshot(source);
  {
    kv_machine target(target_directory.path());
    receive(target, meta, chunks);
    // A second one replaces the first.
    receive(target, meta, chunks);
    CHECK(directory_names(target_directory.path()).size() == 3);
  }
  CHECK(directory_names(target_directory.path()).size() == 2);
}

// ---------------------------------------------------------------- damage

TEST_CASE("damaged records of the state machine are reported with their key") {
  temporary_directory directory;
  {
    kv_machine machine(directory.path());
    apply_one(machine, command_entry(1, {5, 1, "put a 1"}));
  }
  SECTION("the applied id") {
    put_raw(directory.path(), "m/applied", "\xff");
    CHECK_THROWS_WITH(kv_machine(directory.path()), Contains("key 'm/applied' does not decode"));
  }
  SECTION("the membership") {
    put_raw(directory.path(), "m/membership", "\xff\xff");
    CHECK_THROWS_WITH(kv_machine(directory.path()), Contains("key 'm/membership' does not decode"));
  }
  SECTION("the format") {
    put_raw(directory.path(), "m/format", "\x07");
    CHECK_THROWS_WITH(kv_machine(directory.path()), Contains("key 'm/format' names format 7"));
  }
  SECTION("a session") {
    put_raw(directory.path(), session_key(5), "\xff");
    kv_machine machine(directory.path());
    CHECK_THROWS_MATCHES(apply_one(machine, command_entry(2, {5, 2, "put a 2"})), std::system_error,
                         has_error_code(std::errc::io_error));
    CHECK_THROWS_WITH(apply_one(machine, command_entry(2, {5, 2, "put a 2"})),
                      Contains("the session of client 5 (key 0x730000000000000005) does not decode"));
  }
  SECTION("the LIVE pointer") {
    std::ofstream(directory.path() / "LIVE") << "elsewhere\n";
    CHECK_THROWS_WITH(kv_machine(directory.path()), Contains("LIVE does not name a database"));
  }
}

TEST_CASE("after a failed write every apply is refused until a reopen") {
  temporary_directory directory;
  failing_env env;
  leveldb_state_machine_options options;
  options.env = &env;
  {
    kv_machine machine(directory.path(), options);
    apply_one(machine, command_entry(1, "put a 1"));
    env.arm();
    CHECK_THROWS_WITH(apply_one(machine, command_entry(2, "put b 2")), Contains("apply failed: IO error: injected"));
    CHECK_THROWS_MATCHES(apply_one(machine, command_entry(2, "put b 2")), std::system_error,
                         has_error_code(std::errc::io_error));
    CHECK_THROWS_WITH(apply_one(machine, command_entry(2, "put b 2")), Contains("refusing to apply"));
    CHECK(applied(machine).last_applied == log_id{term_t(1), index_t(1)});
  }
  kv_machine machine(directory.path());
  CHECK(applied(machine).last_applied == log_id{term_t(1), index_t(1)});
  CHECK(apply_one(machine, command_entry(2, "put b 2")) == "2");
}

// ---------------------------------------------------------------- a large state

// 256 MiB by default; CORAFT_TRANSFER_MIB=1024 for the figures of a 1 GiB run.
TEST_CASE("a large state streams between instances in memory bounded by a few chunks") {
  const char* configured = std::getenv("CORAFT_TRANSFER_MIB");
  const std::size_t state_mib = configured ? std::stoul(configured) : 256;
  constexpr std::size_t value_bytes = 16 << 10;
  const std::size_t keys = state_mib * (1 << 20) / value_bytes;
  constexpr std::size_t keys_per_batch = 64;

  temporary_directory source_directory, target_directory;
  leveldb_state_machine_options options;
  options.sync_applies = false;  // loading the test state, not measuring it
  kv_machine source(source_directory.path(), options);
  kv_machine target(target_directory.path(), options);
  for (std::size_t first = 0; first < keys; first += keys_per_batch) {
    std::vector<log_entry> entries;
    for (std::size_t key = first; key < std::min(keys, first + keys_per_batch); ++key) {
      entries.push_back(command_entry(
          key + 1, "put value/" + std::to_string(1'000'000 + key) + " " + random_bytes(key, value_bytes)));
    }
    apply_entries(source, std::move(entries));
  }
  const snapshot_meta meta = run_to_completion(source.build_snapshot());

  // LevelDB reads tables through mmap, so the resident set also counts file
  // pages of the tables read; the heap is what a chunked stream bounds.
  const memory_usage at_start = memory_usage::now();
  memory_usage::reset_peak();
  std::size_t peak_heap = at_start.heap_kib;
  std::size_t peak_file = at_start.file_kib;
  std::uint64_t streamed_bytes = 0;
  const auto started = std::chrono::steady_clock::now();
  {
    auto reader = run_to_completion(source.open_snapshot());
    auto sink = run_to_completion(target.begin_receive_snapshot(meta));
    while (auto chunk = run_to_completion(reader->next_chunk())) {
      streamed_bytes += chunk->size();
      run_to_completion(sink->write_chunk(std::move(*chunk)));
      const memory_usage current = memory_usage::now();
      peak_heap = std::max(peak_heap, current.heap_kib);
      peak_file = std::max(peak_file, current.file_kib);
    }
    run_to_completion(sink->finish());
    run_to_completion(target.install_received_snapshot(meta));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const memory_usage at_end = memory_usage::now();

  const double streamed_mib = static_cast<double>(streamed_bytes) / (1 << 20);
  std::cout << "snapshot transfer: " << streamed_mib << " MiB in " << seconds << " s = " << streamed_mib / seconds
            << " MiB/s; heap " << at_start.heap_kib / 1024 << " MiB before, peak " << peak_heap / 1024
            << " MiB; mapped file pages peak " << peak_file / 1024 << " MiB; resident peak "
            << at_end.peak_resident_kib / 1024 << " MiB\n";
  CHECK(streamed_bytes > state_mib << 20);
  // A few 1 MiB chunks plus LevelDB's write buffers and caches; a stream held
  // whole would take the state's size.
  CHECK((peak_heap - at_start.heap_kib) / 1024 < 96);

  std::size_t checked = 0;
  target.read_state([&](const state_reader& state) {
    state.scan("value/", [&](std::string_view key, std::string_view value) {
      const std::uint64_t number = std::stoull(std::string(key.substr(6))) - 1'000'000;
      if (value != random_bytes(number, value_bytes)) FAIL("value of " << key << " differs");
      ++checked;
      return true;
    });
  });
  CHECK(checked == keys);
  CHECK(applied(target) == applied_state{meta.last_included, meta.config});
}
