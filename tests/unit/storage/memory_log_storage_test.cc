#include <coraft/memory_log_storage.h>

#include "storage_conformance.h"

using namespace coraft;
using namespace coraft::testing;

namespace {

// The object itself is the durable medium, so a restart keeps using it.
class memory_storage_factory final : public log_storage_factory {
 public:
  std::unique_ptr<log_storage> create() override { return std::make_unique<memory_log_storage>(); }
  std::unique_ptr<log_storage> reopen(std::unique_ptr<log_storage> storage) override { return storage; }
};

std::unique_ptr<log_storage_factory> make_memory_storage_factory() {
  return std::make_unique<memory_storage_factory>();
}

}  // namespace

TEST_CASE("memory_log_storage conforms to log_storage") { check_log_storage_conformance(make_memory_storage_factory); }

TEST_CASE("memory_log_storage refuses calls that break the preconditions of log_storage") {
  check_log_storage_preconditions(make_memory_storage_factory);
}

TEST_CASE("memory_log_storage hands out the written payload buffers without copying them") {
  blocking_log log(std::make_unique<memory_log_storage>());
  const auto entries = make_entries(1, 3, 1);
  log.write(append(entries));
  const auto stored = log.entries(index_t(1), index_t(3));
  REQUIRE(stored.size() == entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    CHECK(stored[i].payload.view().data() == entries[i].payload.view().data());
  }
}

TEST_CASE("memory_log_storage frees purged entries a slice per later call, at least as many as each write adds") {
  constexpr std::uint64_t slice = memory_log_storage::min_entries_freed;
  auto owned = std::make_unique<memory_log_storage>();
  const memory_log_storage& memory = *owned;
  blocking_log log(std::move(owned));
  log.write(append(make_entries(1, 6 * slice, 1)));
  const log_id purged{term_t(1), index_t(5 * slice)};
  log.purge(purged);
  CHECK(memory.held_entries() == 5 * slice);
  CHECK(log.state().purged == purged);
  CHECK(log.entries(index_t(5 * slice + 1), index_t(6 * slice)) == make_entries(5 * slice + 1, 6 * slice, 1));

  log.write(append(make_entries(6 * slice + 1, 6 * slice + 10, 1)));
  CHECK(memory.held_entries() == 4 * slice + 10);
  const std::uint64_t last = 7 * slice + 110;
  log.write(append(make_entries(6 * slice + 11, last, 1)));
  CHECK(memory.held_entries() == 4 * slice + 10);

  SECTION("until only the log is left") {
    log_write commit_only;
    commit_only.committed = index_t(5 * slice);
    log.write(commit_only);
    log.write(commit_only);
    CHECK(memory.held_entries() == last - 5 * slice);
    log.write(commit_only);
    CHECK(memory.held_entries() == last - 5 * slice);
    CHECK(log.entries(index_t(5 * slice + 1), index_t(last)) == make_entries(5 * slice + 1, last, 1));
  }

  SECTION("a purge the log does not hold discards the rest, freed the same way") {
    const log_id beyond{term_t(2), index_t(last + 1'000)};
    log.purge(beyond);
    CHECK(memory.held_entries() == 3 * slice + 10);
    CHECK(log.state().last == beyond);
    log.write(append(make_entries(last + 1'001, last + 1'002, 2)));
    CHECK(log.entries(index_t(last + 1'001), index_t(last + 1'002)) == make_entries(last + 1'001, last + 1'002, 2));
    CHECK(memory.held_entries() == 2 * slice + 10 + 2);
  }
}
