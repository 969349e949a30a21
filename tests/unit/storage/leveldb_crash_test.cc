// A writer process appends to a leveldb_log_storage and reports every write that
// returned; the test kills it with SIGKILL at a random moment, again and again
// on the same database, and checks that every acknowledged entry survived and
// that no write survived in part.
#include <coraft/leveldb_log_storage.h>

#include "storage_conformance.h"
#include "temporary_directory.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

using namespace coraft;
using namespace coraft::testing;

namespace {

constexpr int rounds = 20;
constexpr std::uint64_t most_acknowledgements_before_kill = 60;
constexpr std::uint64_t most_entries_per_write = 40;
// Stops a writer that nobody kills from filling the disk.
constexpr int most_writes_per_writer = 1'000;
constexpr auto report_timeout = std::chrono::seconds(60);

// Every entry's content follows from its index, so that a reader can tell an
// intact entry from a damaged or misplaced one. Payloads up to 8 KiB make large
// writes that LevelDB's log spreads over several blocks and system calls, where
// a kill can tear them.
log_entry expected_entry(std::uint64_t index) {
  std::string payload = "entry " + std::to_string(index) + " ";
  payload.resize(payload.size() + (index * 7'919) % 8'192, static_cast<char>('a' + index % 26));
  return {term_t(1 + index / 100), index_t(index), entry_kind::command, shared_bytes(std::move(payload))};
}

std::vector<log_entry> expected_entries(std::uint64_t first, std::uint64_t last) {
  std::vector<log_entry> entries;
  for (std::uint64_t index = first; index <= last; ++index) entries.push_back(expected_entry(index));
  return entries;
}

// Each write also records its last index as the term of the hard state and as
// the commit hint, so a recovered log shows whether its last write landed whole.
log_write write_through(std::uint64_t first, std::uint64_t last) {
  return {hard_state{term_t(last), node_id(1)}, expected_entries(first, last), index_t(last)};
}

void send(int pipe, std::uint64_t number) {
  if (::write(pipe, &number, sizeof number) != sizeof number) ::_exit(4);
}

// The child's whole life: report what the log holds after recovery (last index,
// hard state term, commit hint), then append and report each acknowledged last
// index until killed. It never returns into the test framework.
[[noreturn]] void run_writer(const std::string& path, int reports, std::uint64_t seed) {
  try {
    blocking_log log(leveldb_log_storage::open(path));
    std::uint64_t last = log.state().last.index.value;
    send(reports, last);
    send(reports, log.hard().term.value);
    send(reports, log.committed().value_or(index_t(0)).value);
    std::mt19937_64 random(seed);
    for (int write = 0; write < most_writes_per_writer; ++write) {
      const std::uint64_t first = last + 1;
      last += std::uniform_int_distribution<std::uint64_t>(1, most_entries_per_write)(random);
      log.write(write_through(first, last));
      send(reports, last);
    }
    ::_exit(3);
  } catch (...) {
    ::_exit(2);
  }
}

class writer_process {
 public:
  writer_process(const std::string& path, std::uint64_t seed) {
    int ends[2];
    REQUIRE(::pipe(ends) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(ends[0]);
      run_writer(path, ends[1], seed);
    }
    ::close(ends[1]);
    reports_ = ends[0];
  }

  // Also when a check failed half-way through a round.
  ~writer_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(reports_);
  }

  writer_process(const writer_process&) = delete;
  writer_process& operator=(const writer_process&) = delete;

  // The next number the writer reported, or nullopt once it is gone.
  std::optional<std::uint64_t> next_report() {
    std::uint64_t number = 0;
    std::size_t received = 0;
    while (received < sizeof number) {
      pollfd readable{reports_, POLLIN, 0};
      const int ready = ::poll(&readable, 1, std::chrono::milliseconds(report_timeout).count());
      REQUIRE(ready == 1);  // otherwise the writer hangs
      const ssize_t count = ::read(reports_, reinterpret_cast<char*>(&number) + received, sizeof number - received);
      REQUIRE(count >= 0);
      if (count == 0) return std::nullopt;
      received += static_cast<std::size_t>(count);
    }
    return number;
  }

  void kill() { ::kill(pid_, SIGKILL); }

  // The writer's exit status, once it has ended.
  int wait() {
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = 0;
    return status;
  }

 private:
  pid_t pid_ = 0;
  int reports_ = -1;
};

}  // namespace

TEST_CASE("every write acknowledged before a SIGKILL survives it, and no write survives in part") {
  const unsigned seed = test_seed();
  INFO("seed " << seed << " (rerun with --rng-seed " << seed << ")");
  std::mt19937_64 random(seed);
  auto number = [&](std::uint64_t low, std::uint64_t high) {
    return std::uniform_int_distribution<std::uint64_t>(low, high)(random);
  };
  temporary_directory directory;
  const std::string path = directory.path() / "log";
  std::uint64_t acknowledged = 0;

  // The parent opens LevelDB only after the last writer is gone: LevelDB starts
  // a background thread on first use, and a child forked after that would
  // believe that thread runs its compactions.
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round << ", " << acknowledged << " entries acknowledged before it");
    writer_process writer(path, random());
    const auto recovered_last = writer.next_report();
    const auto recovered_term = writer.next_report();
    const auto recovered_committed = writer.next_report();
    REQUIRE(recovered_committed);  // otherwise the writer failed to open or read the log
    CHECK(*recovered_last >= acknowledged);
    CHECK(*recovered_term == *recovered_last);
    CHECK(*recovered_committed == *recovered_last);

    const auto acknowledgements_before_kill = number(1, most_acknowledgements_before_kill);
    for (std::uint64_t count = 0; count < acknowledgements_before_kill; ++count) {
      const auto last = writer.next_report();
      REQUIRE(last);  // otherwise the writer failed to write
      acknowledged = *last;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(number(0, 5'000)));
    writer.kill();
    // Whatever the writer reported before it died was acknowledged too.
    while (const auto last = writer.next_report()) acknowledged = *last;
    const int status = writer.wait();
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
  }

  INFO(acknowledged << " entries acknowledged in all");
  blocking_log log(leveldb_log_storage::open(path, {false, nullptr}));
  const log_state state = log.state();
  CHECK(state.purged == log_id{});
  REQUIRE(state.last.index.value >= acknowledged);
  CHECK(log.hard() == hard_state{term_t(state.last.index.value), node_id(1)});
  CHECK(log.committed() == state.last.index);
  CHECK(log.entries(index_t(1), state.last.index) == expected_entries(1, state.last.index.value));
}
