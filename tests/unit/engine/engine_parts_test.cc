// The engine's pieces that need no running node: group commit merging and the
// waiter registries.
#include "engine/persistence.h"
#include "engine/waiters.h"

#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

namespace coraft::engine {
namespace {

log_entry entry(std::uint64_t term, std::uint64_t index, std::string payload = "x") {
  return {term_t(term), index_t(index), entry_kind::command, shared_bytes(std::move(payload))};
}

// (term, index) of each entry.
using id_list = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

id_list ids_of(const std::vector<log_entry>& entries) {
  id_list ids;
  for (const log_entry& e : entries) ids.emplace_back(e.term.value, e.index.value);
  return ids;
}

// Answers delivered to completions, by a name the test gives each waiter.
struct answers {
  asio::io_context io;
  std::map<std::string, result<std::string>> by_name;

  completion<std::string> waiter(const std::string& name) {
    return completion<std::string>(asio::bind_executor(io, [this, name](result<std::string> answer) {
      REQUIRE_FALSE(by_name.contains(name));
      by_name.emplace(name, std::move(answer));
    }));
  }
  void deliver() {
    io.restart();
    io.run();
  }
  std::error_code error_of(const std::string& name) const { return by_name.at(name).error(); }
};

const clock::time_point later = clock::now() + std::chrono::hours(1);

}  // namespace

TEST_CASE("group commit keeps the last hard state, the highest commit and the last write id") {
  std::vector<pending_write> writes;
  writes.push_back({1, hard_state{term_t(1), node_id(2)}, {entry(1, 1)}, index_t(0)});
  writes.push_back({2, std::nullopt, {entry(1, 2)}, index_t(1)});
  writes.push_back({3, hard_state{term_t(2), no_node}, {}, index_t(2)});
  merged_write merged = merge_writes(std::move(writes));
  CHECK(merged.last_id == 3);
  REQUIRE(merged.batch.state);
  CHECK(*merged.batch.state == hard_state{term_t(2), no_node});
  CHECK(merged.batch.committed == index_t(2));
  CHECK(ids_of(merged.batch.entries) == id_list{{1, 1}, {1, 2}});
}

TEST_CASE("group commit lets a later write replace the tail it overlaps, as storage would") {
  std::vector<pending_write> writes;
  writes.push_back({1, std::nullopt, {entry(1, 5), entry(1, 6), entry(1, 7)}, index_t(0)});
  writes.push_back({2, std::nullopt, {entry(2, 6)}, index_t(0)});
  writes.push_back({3, std::nullopt, {entry(2, 7), entry(2, 8)}, index_t(0)});
  merged_write merged = merge_writes(std::move(writes));
  CHECK(ids_of(merged.batch.entries) == id_list{{1, 5}, {2, 6}, {2, 7}, {2, 8}});
  CHECK_FALSE(merged.batch.committed);
  CHECK_FALSE(merged.batch.state);
}

TEST_CASE("group commit lets a later write that starts below every earlier entry replace them all") {
  std::vector<pending_write> writes;
  writes.push_back({4, std::nullopt, {entry(1, 5), entry(1, 6)}, index_t(0)});
  writes.push_back({5, std::nullopt, {entry(3, 4)}, index_t(0)});
  merged_write merged = merge_writes(std::move(writes));
  CHECK(ids_of(merged.batch.entries) == id_list{{3, 4}});
  CHECK(merged.last_id == 5);
}

TEST_CASE("a proposer learns its answer only for the entry it proposed, by index and term") {
  answers got;
  proposal_waiters waiters;
  waiters.add({term_t(2), index_t(3)}, later, 10, got.waiter("ours"));
  waiters.add({term_t(2), index_t(4)}, later, 10, got.waiter("overwritten"));
  CHECK(waiters.size() == 2);
  CHECK(waiters.bytes() == 20);

  std::vector<proposal_waiter> applying = waiters.take_committed({entry(2, 3), entry(3, 4)});
  REQUIRE(applying.size() == 1);
  CHECK(applying[0].id == log_id{term_t(2), index_t(3)});
  got.deliver();
  CHECK(got.error_of("overwritten") == make_error_code(errc::leadership_lost));
  CHECK_FALSE(got.by_name.contains("ours"));
  CHECK(waiters.size() == 0);
  CHECK(waiters.bytes() == 0);
}

TEST_CASE("a proposal of an earlier term may still commit after the node leads again") {
  answers got;
  proposal_waiters waiters;
  // Proposed at index 7 in term 2; the node lost leadership, its log was cut
  // back, and it leads again in term 4 with new proposals at 5 and 6.
  waiters.add({term_t(2), index_t(7)}, later, 1, got.waiter("old"));
  waiters.add({term_t(4), index_t(5)}, later, 1, got.waiter("new5"));
  waiters.add({term_t(4), index_t(6)}, later, 1, got.waiter("new6"));

  std::vector<proposal_waiter> new_ones = waiters.take_committed({entry(4, 5), entry(4, 6)});
  CHECK(new_ones.size() == 2);
  CHECK(waiters.size() == 1);  // the old proposal is still unresolved

  std::vector<proposal_waiter> old_one = waiters.take_committed({entry(2, 7)});
  REQUIRE(old_one.size() == 1);
  CHECK(old_one[0].id == log_id{term_t(2), index_t(7)});
  got.deliver();
  CHECK(got.by_name.empty());
}

TEST_CASE("proposals past their deadline are answered with timeout, the others keep waiting") {
  answers got;
  proposal_waiters waiters;
  const clock::time_point now = clock::now();
  waiters.add({term_t(1), index_t(1)}, now - std::chrono::seconds(1), 1, got.waiter("late"));
  waiters.add({term_t(1), index_t(2)}, now + std::chrono::hours(1), 1, got.waiter("early"));
  waiters.add({term_t(2), index_t(2)}, now - std::chrono::seconds(1), 1, got.waiter("late, newer term"));
  waiters.expire(now);
  got.deliver();
  CHECK(got.error_of("late") == make_error_code(errc::timeout));
  CHECK(got.error_of("late, newer term") == make_error_code(errc::timeout));
  CHECK_FALSE(got.by_name.contains("early"));
  CHECK(waiters.size() == 1);

  waiters.fail_all(make_error_code(errc::shutting_down));
  got.deliver();
  CHECK(got.error_of("early") == make_error_code(errc::shutting_down));
}

TEST_CASE("a waiter dropped without an answer still hears shutting_down") {
  answers got;
  { completion<std::string> dropped = got.waiter("dropped"); }
  got.deliver();
  CHECK(got.error_of("dropped") == make_error_code(errc::shutting_down));
}

TEST_CASE("confirmed reads are served in index order once the entries before them are queued") {
  answers got;
  read_waiters reads;
  const std::uint64_t a = reads.add(later, "a", got.waiter("a"));
  const std::uint64_t b = reads.add(later, "b", got.waiter("b"));
  const std::uint64_t c = reads.add(later, "c", got.waiter("c"));
  reads.ready(a, index_t(9));
  reads.ready(b, index_t(4));
  reads.fail(c, result<std::string>(make_error_code(errc::not_leader), leader_hint{node_id(3), "n3"}));
  got.deliver();
  CHECK(got.by_name.at("c").leader().id == node_id(3));
  CHECK(reads.size() == 2);

  CHECK(reads.take_servable(index_t(3)).empty());
  std::vector<read_job> servable = reads.take_servable(index_t(9));
  REQUIRE(servable.size() == 2);
  CHECK(servable[0].query == "b");
  CHECK(servable[1].query == "a");
  CHECK(reads.size() == 0);
}

TEST_CASE("reads past their deadline time out, even once confirmed") {
  answers got;
  read_waiters reads;
  const clock::time_point now = clock::now();
  const std::uint64_t late = reads.add(now - std::chrono::seconds(1), "late", got.waiter("late"));
  reads.add(now + std::chrono::hours(1), "early", got.waiter("early"));
  reads.ready(late, index_t(1));
  reads.expire(now);
  CHECK(reads.take_servable(index_t(5)).empty());
  got.deliver();
  CHECK(got.error_of("late") == make_error_code(errc::timeout));
  CHECK(reads.size() == 1);
}

}  // namespace coraft::engine
