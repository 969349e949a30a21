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
