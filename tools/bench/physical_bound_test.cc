#include "physical_bound.h"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace coraft::bench {
namespace {

namespace fs = std::filesystem;

// A fresh directory, removed with everything in it afterwards.
class scratch_directory {
 public:
  scratch_directory() {
    std::string pattern = (fs::temp_directory_path() / "coraft-bound-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = pattern;
  }
  ~scratch_directory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  scratch_directory(const scratch_directory&) = delete;
  scratch_directory& operator=(const scratch_directory&) = delete;

  const fs::path& path() const { return path_; }
  bool empty() const { return fs::is_empty(path_); }

 private:
  fs::path path_;
};

TEST_CASE("the bare replication records every sample and leaves no file behind") {
  scratch_directory dir;
  SECTION("3 nodes: 2 followers, 1 answer") {
    const histogram samples = measure_bare_replication(dir.path(), 20, 2, 1, 64);
    CHECK(samples.count() == 20);
    CHECK(samples.min() > 0);
  }
  SECTION("5 nodes: 4 followers, 2 answers") {
    const histogram samples = measure_bare_replication(dir.path(), 10, 4, 2, 100);
    CHECK(samples.count() == 10);
  }
  CHECK(dir.empty());
}

TEST_CASE("a follower that cannot write fails the bare replication with its own error") {
  scratch_directory dir;
  fs::create_directory(dir.path() / "replication-probe-2");  // where follower 2's file would go
  CHECK_THROWS_WITH(measure_bare_replication(dir.path(), 20, 2, 1, 64),
                    Catch::Contains("replication-probe-2") && Catch::Contains("open"));
}

TEST_CASE("a leader that cannot write fails the bare replication and ends its followers") {
  scratch_directory dir;
  fs::create_directory(dir.path() / "replication-probe-0");
  CHECK_THROWS_WITH(measure_bare_replication(dir.path(), 20, 2, 1, 64), Catch::Contains("replication-probe-0"));
}

TEST_CASE("the loopback round trip records every sample") {
  CHECK(measure_loopback_round_trip(50).count() == 50);
}

}  // namespace
}  // namespace coraft::bench
