#include "core/raft_log.h"

#include "driver.h"

using namespace coraft;
using coraft::test::command_entry;

namespace {

core::raft_log log_with_terms(log_id base, std::initializer_list<std::uint64_t> terms) {
  core::raft_log log(base);
  std::uint64_t index = base.index.value;
  for (auto term : terms) log.append(command_entry(term, ++index));
  return log;
}

}  // namespace

TEST_CASE("the log knows the term of its base and of every entry, and nothing else") {
  auto log = log_with_terms({term_t(2), index_t(5)}, {2, 3, 3});
  CHECK(log.first_index() == index_t(6));
  CHECK(log.last_id() == log_id{term_t(3), index_t(8)});
  CHECK(log.term_at(index_t(5)) == term_t(2));
  CHECK(log.term_at(index_t(7)) == term_t(3));
  CHECK_FALSE(log.term_at(index_t(4)));
  CHECK_FALSE(log.term_at(index_t(9)));
  CHECK(log.contains({term_t(3), index_t(8)}));
  CHECK_FALSE(log.contains({term_t(2), index_t(8)}));
}

TEST_CASE("truncation removes a suffix and keeps the prefix") {
  auto log = log_with_terms({}, {1, 1, 2, 2});
  log.truncate_from(index_t(3));
  CHECK(log.last_id() == log_id{term_t(1), index_t(2)});
  log.append(command_entry(3, 3));
  CHECK(log.last_id() == log_id{term_t(3), index_t(3)});
}

TEST_CASE("a slice stops at the byte budget but always carries one entry") {
  core::raft_log log;
  for (std::uint64_t i = 1; i <= 5; ++i) log.append(command_entry(1, i, std::string(100, 'a')));
  CHECK(log.slice(index_t(1), index_t(5), 250).size() == 2);
  CHECK(log.slice(index_t(1), index_t(5), 10).size() == 1);
  CHECK(log.slice(index_t(4), index_t(9), 1000).size() == 2);
  CHECK(log.payload_bytes(index_t(2), index_t(4)) == 300);
}

TEST_CASE("term searches find the edges of a term") {
  auto log = log_with_terms({}, {1, 1, 3, 3, 3, 4});
  CHECK(log.first_index_of_term_at(index_t(5)) == index_t(3));
  CHECK(log.first_index_of_term_at(index_t(2)) == index_t(1));
  CHECK(log.last_index_of_term(term_t(3)) == index_t(5));
  CHECK(log.last_index_of_term(term_t(1)) == index_t(2));
  CHECK_FALSE(log.last_index_of_term(term_t(2)));
}

TEST_CASE("compaction moves the base and keeps later entries") {
  auto log = log_with_terms({}, {1, 1, 2, 2});
  const std::deque<log_entry> compacted = log.compact({term_t(1), index_t(2)});
  REQUIRE(compacted.size() == 2);
  CHECK(compacted.front().id() == log_id{term_t(1), index_t(1)});
  CHECK(compacted.back().id() == log_id{term_t(1), index_t(2)});
  CHECK(log.compact({term_t(1), index_t(2)}).empty());
  CHECK(log.base() == log_id{term_t(1), index_t(2)});
  CHECK(log.first_index() == index_t(3));
  CHECK(log.at(index_t(4)).term == term_t(2));
  CHECK(log.at(index_t(3)) == command_entry(2, 3));
  CHECK(log.last_index() == index_t(4));
  CHECK(log.last_index_of_term(term_t(1)) == index_t(2));
  log.reset({term_t(5), index_t(10)});
  CHECK(log.empty());
  CHECK(log.last_id() == log_id{term_t(5), index_t(10)});
}
