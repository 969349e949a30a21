// The engine's pieces that need no running node: group commit merging, the
// persistence loop's order, the waiter registries and membership changes.
#include "engine/membership.h"
#include "engine/persistence.h"
#include "engine/waiters.h"

#include <asio/co_spawn.hpp>

#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
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
  std::map<std::string, result<void>> void_by_name;

  completion<std::string> waiter(const std::string& name) {
    return completion<std::string>(asio::bind_executor(io, [this, name](result<std::string> answer) {
      REQUIRE_FALSE(by_name.contains(name));
      by_name.emplace(name, std::move(answer));
    }));
  }
  completion<void> void_waiter(const std::string& name) {
    return completion<void>(asio::bind_executor(io, [this, name](result<void> answer) {
      REQUIRE_FALSE(void_by_name.contains(name));
      void_by_name.emplace(name, std::move(answer));
    }));
  }
  void deliver() {
    io.restart();
    io.run();
  }
  std::error_code error_of(const std::string& name) const { return by_name.at(name).error(); }
};

const clock::time_point later = clock::now() + std::chrono::hours(1);

log_entry config_entry(std::uint64_t term, std::uint64_t index, const membership& config) {
  return {term_t(term), index_t(index), entry_kind::membership, shared_bytes(encode_membership(config))};
}

membership voters(std::set<node_id> ids, std::set<node_id> outgoing = {}) {
  membership config;
  config.voters = std::move(ids);
  config.outgoing_voters = std::move(outgoing);
  return config;
}

// A log storage that records the order of the calls it gets.
class recording_log final : public log_storage {
 public:
  std::vector<std::string> calls;

  asio::awaitable<log_state> read_log_state() override { co_return log_state{}; }
  asio::awaitable<hard_state> read_hard_state() override { co_return hard_state{}; }
  asio::awaitable<std::optional<index_t>> read_committed() override { co_return std::nullopt; }
  asio::awaitable<std::vector<log_entry>> read_entries(index_t, index_t) override { co_return std::vector<log_entry>{}; }
  bool fail_writes = false;

  asio::awaitable<void> write(log_write batch) override {
    if (fail_writes) throw std::runtime_error("the disk failed");
    std::string call = "write";
    for (const log_entry& e : batch.entries) call += " " + std::to_string(e.index.value);
    calls.push_back(call);
    co_return;
  }
  asio::awaitable<void> purge(log_id upto) override {
    calls.push_back("purge " + std::to_string(upto.index.value));
    co_return;
  }
};

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

TEST_CASE("the persistence loop purges between the writes queued around the purge, never merging across it") {
  asio::io_context io;
  recording_log log;
  work_queue<log_item> queue(io.get_executor());
  std::vector<std::uint64_t> durable;
  persistence_hooks hooks{
      .on_durable = [&](std::uint64_t write_id, std::size_t) { durable.push_back(write_id); },
      .on_failure = [](std::string reason) { FAIL("the log failed: " << reason); },
  };
  queue.push(pending_write{1, std::nullopt, {entry(1, 5)}, index_t(0)});
  queue.push(pending_write{2, std::nullopt, {entry(1, 6)}, index_t(0)});
  queue.push(log_purge{{term_t(1), index_t(9)}});
  queue.push(pending_write{3, std::nullopt, {entry(2, 10)}, index_t(0)});
  asio::co_spawn(io, run_persistence(log, queue, hooks), [](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
  });
  io.poll();  // until the loop waits for more
  queue.close();
  io.run();
  CHECK(log.calls == std::vector<std::string>{"write 5 6", "purge 9", "write 10"});
  CHECK(durable == std::vector<std::uint64_t>{2, 3});
}

TEST_CASE("proposals whose entries a received snapshot replaced learn what this node can know of them") {
  answers got;
  proposal_waiters waiters;
  waiters.add({term_t(2), index_t(4)}, later, 1, got.waiter("older term"));
  waiters.add({term_t(3), index_t(5)}, later, 1, got.waiter("snapshot's term"));
  waiters.add({term_t(5), index_t(6)}, later, 1, got.waiter("newer term"));
  waiters.add({term_t(5), index_t(9)}, later, 1, got.waiter("after the snapshot"));
  waiters.settle_replaced({term_t(3), index_t(8)});
  got.deliver();
  // The committed entry at 4 may or may not be ours; at 5 it is ours (term 3
  // ends at 8), but its answer was produced elsewhere; at 6 the committed log
  // holds a term no newer than 3, so ours (term 5) is not there.
  CHECK(got.error_of("older term") == make_error_code(errc::timeout));
  CHECK(got.error_of("snapshot's term") == make_error_code(errc::timeout));
  CHECK(got.error_of("newer term") == make_error_code(errc::leadership_lost));
  CHECK_FALSE(got.by_name.contains("after the snapshot"));
  CHECK(waiters.size() == 1);
}

TEST_CASE("a change of learners is answered once its entry commits, and an overwritten one never succeeds") {
  answers got;
  membership_change ours({term_t(2), index_t(7)}, false, later, got.void_waiter("ours"));
  membership_change lost({term_t(2), index_t(8)}, false, later, got.void_waiter("lost"));
  const std::vector<log_entry> committed = {entry(2, 6), config_entry(2, 7, voters({node_id(1)})), entry(3, 8)};
  ours.on_committed(committed);
  lost.on_committed(committed);
  got.deliver();
  CHECK(got.void_by_name.at("ours"));
  CHECK(got.void_by_name.at("lost").error() == make_error_code(errc::leadership_lost));
  CHECK(ours.finished());
}

TEST_CASE("a change of voters is answered once the configuration that leaves the joint one commits") {
  answers got;
  membership_change change({term_t(2), index_t(7)}, true, later, got.void_waiter("change"));
  change.on_committed({config_entry(2, 7, voters({node_id(1), node_id(4)}, {node_id(1), node_id(2)})), entry(2, 8)});
  got.deliver();
  CHECK_FALSE(got.void_by_name.contains("change"));
  // A new leader in term 3 leaves the joint configuration.
  change.on_committed({entry(3, 9), config_entry(3, 10, voters({node_id(1), node_id(4)}))});
  got.deliver();
  CHECK(got.void_by_name.at("change"));
}

TEST_CASE("a membership change whose entries a snapshot replaced is settled from the snapshot") {
  answers got;
  const snapshot_meta plain{{term_t(2), index_t(20)}, voters({node_id(1), node_id(4)})};
  const snapshot_meta joint{{term_t(2), index_t(20)}, voters({node_id(1), node_id(4)}, {node_id(1), node_id(2)})};

  membership_change done_before({term_t(2), index_t(7)}, true, later, got.void_waiter("left joint in the snapshot"));
  done_before.on_snapshot_installed(plain);
  membership_change still_joint({term_t(2), index_t(7)}, true, later, got.void_waiter("joint in the snapshot"));
  still_joint.on_snapshot_installed(joint);
  membership_change unknown({term_t(1), index_t(7)}, false, later, got.void_waiter("older term"));
  unknown.on_snapshot_installed(plain);
  membership_change overwritten({term_t(3), index_t(7)}, false, later, got.void_waiter("newer term"));
  overwritten.on_snapshot_installed(plain);
  got.deliver();
  CHECK(got.void_by_name.at("left joint in the snapshot"));
  CHECK_FALSE(got.void_by_name.contains("joint in the snapshot"));
  CHECK(got.void_by_name.at("older term").error() == make_error_code(errc::timeout));
  CHECK(got.void_by_name.at("newer term").error() == make_error_code(errc::leadership_lost));

  still_joint.on_committed({config_entry(3, 21, voters({node_id(1), node_id(4)}))});
  got.deliver();
  CHECK(got.void_by_name.at("joint in the snapshot"));
}

TEST_CASE("membership targets keep the other members and the addresses the joint configuration needs") {
  membership current = voters({node_id(1), node_id(2), node_id(3)});
  current.addresses = {{node_id(1), "a"}, {node_id(2), "b"}, {node_id(3), "c"}};
  const membership grown = with_learner(current, node_id(4), "d");
  CHECK(grown.learners == std::set<node_id>{node_id(4)});
  CHECK(grown.addresses.at(node_id(4)) == "d");
  const membership promoted = with_voters(grown, {node_id(1), node_id(2), node_id(4)});
  CHECK(promoted.voters == std::set<node_id>{node_id(1), node_id(2), node_id(4)});
  CHECK(promoted.learners.empty());
  CHECK(promoted.addresses.contains(node_id(3)));
  CHECK(without_learner(grown, node_id(4)) == current);
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

// Records where each answer was given: after how many calls to the log, or
// with which error.
struct answer_log {
  const recording_log& log;
  std::vector<std::string> given;

  answers_after_write answer(std::string name) {
    auto record = [this, name](result<message_body> answer) {
      given.push_back(answer ? name + " after " + std::to_string(log.calls.size()) + " log calls"
                             : name + ": " + answer.error().message());
    };
    answers_after_write due;
    due.answers.emplace_back(completion<message_body>(answered_in_place<decltype(record)>{record}), append_response{});
    return due;
  }
};

TEST_CASE("answers leave as soon as the writes queued before them are durable, before on_durable") {
  asio::io_context io;
  recording_log log;
  answer_log answers{log, {}};
  work_queue<log_item> queue(io.get_executor());
  persistence_hooks hooks{
      .on_durable = [&](std::uint64_t write_id,
                        std::size_t) { answers.given.push_back("durable " + std::to_string(write_id)); },
      .on_failure = [](std::string reason) { FAIL("the log failed: " << reason); },
  };
  queue.push(answers.answer("a0"));
  queue.push(pending_write{1, std::nullopt, {entry(1, 5)}, index_t(0)});
  queue.push(answers.answer("a1"));
  queue.push(pending_write{2, std::nullopt, {entry(1, 6)}, index_t(0)});
  queue.push(answers.answer("a2"));
  queue.push(log_purge{{term_t(1), index_t(9)}});
  queue.push(answers.answer("a3"));
  asio::co_spawn(io, run_persistence(log, queue, hooks), [](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
  });
  io.poll();
  queue.close();
  io.run();
  CHECK(log.calls == std::vector<std::string>{"write 5 6", "purge 9"});
  CHECK(answers.given == std::vector<std::string>{"a0 after 0 log calls", "a1 after 1 log calls",
                                                  "a2 after 1 log calls", "durable 2", "a3 after 2 log calls"});
}

TEST_CASE("answers waiting for a write that fails hear shutting_down, never a success") {
  asio::io_context io;
  recording_log log;
  log.fail_writes = true;
  answer_log answers{log, {}};
  work_queue<log_item> queue(io.get_executor());
  std::vector<std::string> failures;
  persistence_hooks hooks{
      .on_durable = [](std::uint64_t, std::size_t) { FAIL("a failed write was reported durable"); },
      .on_failure = [&](std::string reason) { failures.push_back(reason); },
  };
  queue.push(pending_write{1, std::nullopt, {entry(1, 5)}, index_t(0)});
  queue.push(answers.answer("a1"));
  asio::co_spawn(io, run_persistence(log, queue, hooks), [](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
  });
  io.run();
  CHECK(failures == std::vector<std::string>{"the disk failed"});
  CHECK(answers.given == std::vector<std::string>{"a1: " + make_error_code(errc::shutting_down).message()});
}

TEST_CASE("a waiter dropped without an answer still hears shutting_down") {
  answers got;
  { completion<std::string> dropped = got.waiter("dropped"); }
  got.deliver();
  CHECK(got.error_of("dropped") == make_error_code(errc::shutting_down));
}

TEST_CASE("answers given together reach each waiter on its own executor, in order, and never before post()") {
  asio::io_context first;
  asio::io_context second;
  std::vector<std::string> heard;
  auto waiter = [&heard](asio::io_context& io, std::string name) {
    return completion<std::string>(asio::bind_executor(io, [&heard, name](result<std::string> answer) {
      heard.push_back(name + "=" + *answer);
    }));
  };
  std::vector<completion<std::string>> waiting;
  waiting.push_back(waiter(first, "a"));
  waiting.push_back(waiter(first, "b"));
  waiting.push_back(waiter(second, "c"));
  waiting.push_back(waiter(first, "d"));
  answer_batch<std::string> batch;
  for (completion<std::string>& done : waiting) batch.add(done, std::string("1"));
  for (const completion<std::string>& done : waiting) CHECK_FALSE(done);
  first.run();
  CHECK(heard.empty());
  batch.post();
  first.restart();
  first.run();
  CHECK(heard == std::vector<std::string>{"a=1", "b=1", "d=1"});
  second.run();
  CHECK(heard.back() == "c=1");
}

TEST_CASE("a batch of answers left without post() still delivers them") {
  answers got;
  {
    completion<std::string> done = got.waiter("left");
    answer_batch<std::string> batch;
    batch.add(done, std::string("answer"));
  }
  got.deliver();
  CHECK(*got.by_name.at("left") == "answer");
}

TEST_CASE("a split waiter resumes once, with every part's answer in its place, whatever order the parts come in") {
  asio::io_context waiter_io;
  using all_answers = result<std::vector<result<std::string>>>;
  std::vector<all_answers> heard;
  completion<std::vector<result<std::string>>> whole(
      asio::bind_executor(waiter_io, [&heard](all_answers all) { heard.push_back(std::move(all)); }));
  std::vector<completion<std::string>> parts = split(std::move(whole), 4);
  REQUIRE(parts.size() == 4);
  std::thread other([&] {
    parts[3](std::string("d"));
    parts[1](std::string("b"));
  });
  other.join();
  { completion<std::string> dropped = std::move(parts[2]); }
  waiter_io.run();
  CHECK(heard.empty());
  parts[0](std::string("a"));
  waiter_io.restart();
  waiter_io.run();
  REQUIRE(heard.size() == 1);
  REQUIRE(heard.front());
  const std::vector<result<std::string>>& all = *heard.front();
  REQUIRE(all.size() == 4);
  CHECK(*all[0] == "a");
  CHECK(*all[1] == "b");
  CHECK(all[2].error() == make_error_code(errc::shutting_down));
  CHECK(*all[3] == "d");
}

TEST_CASE("a waiter split into no parts hears an empty answer") {
  asio::io_context waiter_io;
  std::optional<result<std::vector<result<std::string>>>> heard;
  completion<std::vector<result<std::string>>> whole(
      asio::bind_executor(waiter_io, [&heard](result<std::vector<result<std::string>>> all) { heard = std::move(all); }));
  CHECK(split(std::move(whole), 0).empty());
  waiter_io.run();
  REQUIRE(heard);
  REQUIRE(*heard);
  CHECK((*heard)->empty());
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
