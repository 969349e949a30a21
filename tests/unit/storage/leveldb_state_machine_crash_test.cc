// Crashes of processes that apply to or install into a leveldb_state_machine.
//
// The parent process never opens LevelDB: LevelDB starts a background thread on
// first use, and a child forked after that would wait forever for compactions
// that thread was to run. Every LevelDB access happens in a child, which
// reports what it saw over a pipe; the parent checks the reports.
#include "child_process.h"
#include "leveldb_state_machine_support.h"
#include "storage/leveldb_support.h"
#include "temporary_directory.h"

#include <leveldb/db.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

using namespace coraft;
using namespace coraft::testing;

namespace {

bool exited_cleanly(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// ---------------------------------------------------------------- a scripted log

// The log every writer applies, entry by entry, so that the state after any
// applied index follows from the index alone: every 4th entry retries the
// last command, entries 10k+5 change the membership, 10k+7 are no-ops, and
// the rest are new commands of client 1 incrementing "counter".
enum class scripted { retry, membership, noop, command };

scripted kind_of(std::uint64_t index) {
  if (index % 4 == 0) return scripted::retry;
  if (index % 10 == 5) return scripted::membership;
  if (index % 10 == 7) return scripted::noop;
  return scripted::command;
}

// Up to 32 KiB, so that a batch of entries spans several system calls and
// LevelDB log blocks, where a kill can tear it.
std::string padding(std::uint64_t sequence) {
  return std::string((sequence * 7'919) % 32'768, static_cast<char>('a' + sequence % 26));
}

session_command increment(std::uint64_t sequence) { return {1, sequence, "incr counter " + padding(sequence)}; }

struct scripted_state {
  std::uint64_t commands = 0;  // new commands applied: the counter's value
  std::uint64_t voter = 0;     // the one voter of the last membership entry (0: none yet)
};

scripted_state state_after(std::uint64_t index) {
  scripted_state state;
  for (std::uint64_t entry = 1; entry <= index; ++entry) {
    if (kind_of(entry) == scripted::command) ++state.commands;
    if (kind_of(entry) == scripted::membership) state.voter = entry;
  }
  return state;
}

log_entry scripted_entry(std::uint64_t index, const scripted_state& before) {
  switch (kind_of(index)) {
    case scripted::retry:
      return command_entry(index, increment(before.commands));
    case scripted::membership:
      return membership_entry(index, voters({index}));
    case scripted::noop:
      return {term_t(1), index_t(index), entry_kind::noop, {}};
    case scripted::command:
      return command_entry(index, increment(before.commands + 1));
  }
  return {};
}

// What a writer found after opening: the applied index, the counter, how many
// "k/<n>" keys exist, whether they are exactly k/1..k/counter, and the voter.
struct recovered_state {
  std::uint64_t applied = 0;
  std::uint64_t counter = 0;
  std::uint64_t numbered_keys = 0;
  bool numbered_keys_complete = false;
  std::uint64_t voter = 0;
};

recovered_state recover(kv_machine& machine) {
  recovered_state found;
  const applied_state state = applied(machine);
  found.applied = state.last_applied.index.value;
  found.voter = state.config.voters.empty() ? 0 : state.config.voters.begin()->value;
  machine.read_state([&](const state_reader& reader) {
    found.counter = std::stoull(reader.get("counter").value_or("0"));
    reader.scan("k/", [&](std::string_view, std::string_view) {
      ++found.numbered_keys;
      return true;
    });
    found.numbered_keys_complete = true;
    for (std::uint64_t n = 1; n <= found.counter; ++n) {
      if (reader.get("k/" + std::to_string(n)) != padding(n)) found.numbered_keys_complete = false;
    }
  });
  return found;
}

std::string encode(const recovered_state& found) {
  std::ostringstream out;
  out << found.applied << ' ' << found.counter << ' ' << found.numbered_keys << ' ' << found.numbered_keys_complete
      << ' ' << found.voter;
  return out.str();
}

recovered_state decode_recovered(const std::string& report) {
  std::istringstream in(report);
  recovered_state found;
  in >> found.applied >> found.counter >> found.numbered_keys >> found.numbered_keys_complete >> found.voter;
  REQUIRE(in);
  return found;
}

// The child's whole life: report the recovered state, then apply batches of the
// scripted log and report each applied index, until killed. The sessions are
// checked on the way: a retry must answer what its command answered.
void run_writer(const std::string& path, std::uint64_t seed, const reporter& reports) {
  leveldb_state_machine_options options;
  // A killed process keeps what it wrote in the page cache: no sync is needed
  // to survive it, and this is the configuration that relies on it.
  options.sync_applies = false;
  kv_machine machine(path, options);
  const recovered_state found = recover(machine);
  reports.send(encode(found));
  std::mt19937_64 random(seed);
  std::uint64_t next = found.applied + 1;
  scripted_state state = state_after(found.applied);
  for (int batch = 0; batch < 2'000; ++batch) {
    std::vector<log_entry> entries;
    std::vector<std::string> expected;
    for (auto count = std::uniform_int_distribution<int>(1, 30)(random); count > 0; --count, ++next) {
      entries.push_back(scripted_entry(next, state));
      if (kind_of(next) == scripted::command) ++state.commands;
      const bool answers_count = kind_of(next) == scripted::command || kind_of(next) == scripted::retry;
      expected.push_back(answers_count ? std::to_string(state.commands) : std::string());
    }
    if (apply_entries(machine, std::move(entries)) != expected) throw std::runtime_error("unexpected answers");
    reports.send(std::to_string(next - 1));
  }
}

// ---------------------------------------------------------------- installs

// Every key of a closed state machine's live database, one per line.
std::string dump_stored_keys(const std::filesystem::path& directory) {
  std::ifstream pointer(directory / "LIVE");
  std::string name;
  std::getline(pointer, name);
  leveldb::DB* opened = nullptr;
  const leveldb::Status status = leveldb::DB::Open(leveldb::Options(), (directory / name).string(), &opened);
  if (!status.ok()) throw std::runtime_error(status.ToString());
  std::unique_ptr<leveldb::DB> db(opened);
  std::string dump;
  std::unique_ptr<leveldb::Iterator> cursor(db->NewIterator({}));
  for (cursor->SeekToFirst(); cursor->Valid(); cursor->Next()) {
    dump += storage::hex(cursor->key().ToString()) + "=" + storage::hex(cursor->value().ToString()) + "\n";
  }
  if (!cursor->status().ok()) throw std::runtime_error(cursor->status().ToString());
  return dump;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += name + " ";
  return out;
}

// Where the installing child ends: at a step of install_received_snapshot, or
// before it while receiving, or between finish() and install.
struct crash_point {
  std::string name;
  std::optional<install_step> step;
  bool new_state_expected;
};

// Builds a source and a target with different states, reports both as stored,
// and transfers the source's snapshot into the target until `crash` ends the
// process.
void run_installer(const std::filesystem::path& source_path, const std::filesystem::path& target_path,
                   const crash_point& crash, const reporter& reports) {
  {
    kv_machine source(source_path);
    std::vector<log_entry> entries{membership_entry(1, voters({1, 2, 3}))};
    for (std::uint64_t index = 2; index <= 400; ++index) {
      entries.push_back(
          command_entry(index, {index % 3, index, "put x/" + std::to_string(index) + " " + padding(index)}));
    }
    apply_entries(source, std::move(entries));
    kv_machine target(target_path);
    apply_entries(target, {membership_entry(1, voters({7})), command_entry(2, {5, 1, "put y/1 old"}),
                           command_entry(3, "put y/2 old")});
  }
  reports.send(dump_stored_keys(target_path));
  reports.send(dump_stored_keys(source_path));

  leveldb_state_machine_options options;
  options.install_observer = [&crash](install_step step) {
    if (step == crash.step) ::_exit(0);
  };
  leveldb_state_machine_options small_chunks;
  small_chunks.snapshot_chunk_bytes = 4096;
  kv_machine source(source_path, small_chunks);
  kv_machine target(target_path, options);
  const snapshot_meta meta = run_to_completion(source.current_snapshot()).value();
  auto reader = run_to_completion(source.open_snapshot());
  auto sink = run_to_completion(target.begin_receive_snapshot(meta));
  int chunks = 0;
  while (auto chunk = run_to_completion(reader->next_chunk())) {
    run_to_completion(sink->write_chunk(std::move(*chunk)));
    if (crash.name == "while receiving" && ++chunks == 10) ::_exit(0);
  }
  run_to_completion(sink->finish());
  if (crash.name == "between finish and install") ::_exit(0);
  run_to_completion(target.install_received_snapshot(meta));
  throw std::runtime_error("the install went past its crash point");
}

}  // namespace

TEST_CASE("a process killed while applying leaves the applied id, the data and the sessions in agreement") {
  constexpr int rounds = 40;
  const unsigned seed = test_seed();
  INFO("seed " << seed << " (rerun with --rng-seed " << seed << ")");
  std::mt19937_64 random(seed);
  temporary_directory directory;
  const std::string path = directory.path() / "machine";
  std::uint64_t acknowledged = 0;

  auto check_recovered = [&](child_process& child) {
    const recovered_state found = decode_recovered(child.expect_report());
    INFO("recovered applied index " << found.applied << ", " << acknowledged << " acknowledged");
    CHECK(found.applied >= acknowledged);
    const scripted_state expected = state_after(found.applied);
    CHECK(found.counter == expected.commands);
    CHECK(found.numbered_keys == expected.commands);
    CHECK(found.numbered_keys_complete);
    CHECK(found.voter == expected.voter);
    return found;
  };

  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    child_process writer([&](const reporter& reports) { run_writer(path, random(), reports); });
    check_recovered(writer);
    const auto reports_before_kill = std::uniform_int_distribution<int>(1, 40)(random);
    for (int count = 0; count < reports_before_kill; ++count) acknowledged = std::stoull(writer.expect_report());
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3'000)(random)));
    writer.kill();
    // What the writer reported before it died was acknowledged too.
    while (const auto report = writer.next_report()) {
      INFO(*report);
      REQUIRE_FALSE(report->starts_with("failed: "));
      acknowledged = std::stoull(*report);
    }
    const int status = writer.wait();
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
  }
  child_process last_reader([&](const reporter& reports) {
    leveldb_state_machine_options options;
    options.sync_applies = false;
    kv_machine machine(path, options);
    reports.send(encode(recover(machine)));
  });
  const recovered_state final_state = check_recovered(last_reader);
  CHECK(exited_cleanly(last_reader.wait()));
  CHECK(final_state.applied > 0);
}

TEST_CASE("a crash at any point of receiving or installing a snapshot leaves the old or the new state whole") {
  const crash_point crash =
      GENERATE(crash_point{"while receiving", std::nullopt, false},
               crash_point{"between finish and install", std::nullopt, false},
               crash_point{"after the new pointer is synced", install_step::pointer_staged, false},
               crash_point{"after the rename", install_step::pointer_replaced, true},
               crash_point{"after the directory sync", install_step::pointer_durable, true},
               crash_point{"after the install", install_step::installed, true});
  INFO("crash " << crash.name);
  temporary_directory directory;
  const auto source_path = directory.path() / "source";
  const auto target_path = directory.path() / "target";

  child_process installer([&](const reporter& reports) { run_installer(source_path, target_path, crash, reports); });
  const std::string old_state = installer.expect_report();
  const std::string new_state = installer.expect_report();
  REQUIRE(old_state != new_state);
  const auto last = installer.next_report();
  INFO("the installer said: " << last.value_or("nothing"));
  CHECK_FALSE(last);
  CHECK(exited_cleanly(installer.wait()));

  child_process reopener([&](const reporter& reports) {
    { kv_machine target(target_path); }
    reports.send(dump_stored_keys(target_path));
    reports.send(joined(directory_names(target_path)));
  });
  const std::string reopened_state = reopener.expect_report();
  const std::string names = reopener.expect_report();
  CHECK(exited_cleanly(reopener.wait()));
  CHECK(reopened_state == (crash.new_state_expected ? new_state : old_state));
  // Opening removed whatever the crash left beside the live database.
  INFO("directory: " << names);
  CHECK(std::count(names.begin(), names.end(), ' ') == 2);
  CHECK(names.starts_with("LIVE db-"));
}
