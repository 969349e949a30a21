// A writer process appends to a leveldb_log_storage and reports every write that
// returned; the test kills it with SIGKILL at a random moment, again and again
// on the same database, and checks that every acknowledged entry survived and
// that no write survived in part, while the writer also purges.
#include <coraft/leveldb_log_storage.h>

#include "child_process.h"
#include "storage_conformance.h"
#include "temporary_directory.h"

#include <signal.h>
#include <sys/wait.h>

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
// Every this many writes the writer purges all but the last entries_kept, so
// that kills also land amid purges and the deletions later writes carry.
constexpr int writes_per_purge = 8;
constexpr std::uint64_t entries_kept = 50;

// Every entry's content follows from its index, so that a reader can tell an
// intact entry from a damaged or misplaced one. Payloads up to 8 KiB make large
// writes that LevelDB's log spreads over several blocks and system calls, where
// a kill can tear them.
term_t expected_term(std::uint64_t index) { return term_t(1 + index / 100); }

log_entry expected_entry(std::uint64_t index) {
  std::string payload = "entry " + std::to_string(index) + " ";
  payload.resize(payload.size() + (index * 7'919) % 8'192, static_cast<char>('a' + index % 26));
  return {expected_term(index), index_t(index), entry_kind::command, shared_bytes(std::move(payload))};
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

// The child's whole life: report what the log holds after recovery (last index,
// hard state term, commit hint), then append and report each acknowledged last
// index until killed.
void run_writer(const std::string& path, std::uint64_t seed, const reporter& reports) {
  blocking_log log(leveldb_log_storage::open(path));
  std::uint64_t last = log.state().last.index.value;
  reports.send(std::to_string(last));
  reports.send(std::to_string(log.hard().term.value));
  reports.send(std::to_string(log.committed().value_or(index_t(0)).value));
  std::mt19937_64 random(seed);
  for (int write = 0; write < most_writes_per_writer; ++write) {
    const std::uint64_t first = last + 1;
    last += std::uniform_int_distribution<std::uint64_t>(1, most_entries_per_write)(random);
    log.write(write_through(first, last));
    reports.send(std::to_string(last));
    if (write % writes_per_purge == writes_per_purge - 1 && last > entries_kept) {
      const std::uint64_t upto = last - entries_kept;
      log.purge({expected_term(upto), index_t(upto)});
    }
  }
}

// The next number the writer reported, or nullopt once it is gone.
std::optional<std::uint64_t> next_number(child_process& writer) {
  const auto report = writer.next_report();
  if (!report) return std::nullopt;
  INFO(*report);
  REQUIRE_FALSE(report->starts_with("failed: "));
  return std::stoull(*report);
}

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
    const std::uint64_t writer_seed = random();
    child_process writer([&](const reporter& reports) { run_writer(path, writer_seed, reports); });
    const auto recovered_last = next_number(writer);
    const auto recovered_term = next_number(writer);
    const auto recovered_committed = next_number(writer);
    REQUIRE(recovered_committed);  // otherwise the writer failed to open or read the log
    CHECK(*recovered_last >= acknowledged);
    CHECK(*recovered_term == *recovered_last);
    CHECK(*recovered_committed == *recovered_last);

    const auto acknowledgements_before_kill = number(1, most_acknowledgements_before_kill);
    for (std::uint64_t count = 0; count < acknowledgements_before_kill; ++count) {
      const auto last = next_number(writer);
      REQUIRE(last);  // otherwise the writer failed to write
      acknowledged = *last;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(number(0, 5'000)));
    writer.kill();
    // Whatever the writer reported before it died was acknowledged too.
    while (const auto last = next_number(writer)) acknowledged = *last;
    const int status = writer.wait();
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
  }

  INFO(acknowledged << " entries acknowledged in all");
  blocking_log log(leveldb_log_storage::open(path, {false, nullptr}));
  const log_state state = log.state();
  REQUIRE(state.last.index.value >= acknowledged);
  REQUIRE(state.purged.index < state.last.index);  // a purge keeps entries_kept
  REQUIRE(state.purged.index > index_t(0));        // a round of more than writes_per_purge writes purged
  CHECK(state.purged.term == expected_term(state.purged.index.value));
  CHECK(log.hard() == hard_state{term_t(state.last.index.value), node_id(1)});
  CHECK(log.committed() == state.last.index);
  CHECK(log.entries(state.purged.index + 1, state.last.index) ==
        expected_entries(state.purged.index.value + 1, state.last.index.value));
}
