#include "storage_conformance.h"

#include <algorithm>
#include <random>

namespace coraft::testing {

std::vector<log_entry> make_entries(std::uint64_t first, std::uint64_t last, std::uint64_t term) {
  std::vector<log_entry> entries;
  for (std::uint64_t index = first; index <= last; ++index) {
    entries.push_back({term_t(term), index_t(index), entry_kind::command,
                       shared_bytes("entry t" + std::to_string(term) + " i" + std::to_string(index))});
  }
  return entries;
}

std::vector<log_entry> concat(std::vector<log_entry> head, const std::vector<log_entry>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

log_write append(std::vector<log_entry> entries) { return {std::nullopt, std::move(entries), std::nullopt}; }

void check_holds(blocking_log& log, const expected_log& expected) {
  CHECK(log.state() == expected.state);
  CHECK(log.hard() == expected.hard);
  CHECK(log.committed() == expected.committed);
  if (expected.state.last.index == expected.state.purged.index) return;
  const auto stored = log.entries(expected.state.purged.index + 1, expected.state.last.index);
  CHECK(stored.size() == expected.entries.size());
  auto [stored_at, expected_at] = std::ranges::mismatch(stored, expected.entries);
  if (stored_at != stored.end() && expected_at != expected.entries.end()) CHECK(*stored_at == *expected_at);
}

unsigned test_seed() { return Catch::rngSeed() != 0 ? Catch::rngSeed() : std::random_device()(); }

namespace {

log_id id(std::uint64_t term, std::uint64_t index) { return {term_t(term), index_t(index)}; }

void check_holds_across_reopen(blocking_log& log, log_storage_factory& factory, const expected_log& expected) {
  {
    INFO("before reopening");
    check_holds(log, expected);
  }
  log.reopen(factory);
  INFO("after reopening");
  check_holds(log, expected);
}

// Entries 1..5 of term 1 and 6..10 of term 2, with a hard state and a commit hint.
expected_log write_two_terms(blocking_log& log) {
  const auto entries = concat(make_entries(1, 5, 1), make_entries(6, 10, 2));
  log.write({hard_state{term_t(2), node_id(1)}, entries, index_t(6)});
  return {{id(0, 0), id(2, 10)}, entries, hard_state{term_t(2), node_id(1)}, index_t(6)};
}

// The contract of log_storage restated as plainly as possible, to check an
// implementation against.
class reference_log {
 public:
  const expected_log& expected() const { return log_; }

  void write(const log_write& batch) {
    if (!batch.entries.empty()) {
      const index_t front = batch.entries.front().index;
      std::erase_if(log_.entries, [&](const log_entry& entry) { return entry.index >= front; });
      log_.entries.insert(log_.entries.end(), batch.entries.begin(), batch.entries.end());
      log_.state.last = batch.entries.back().id();
    }
    if (batch.state) log_.hard = *batch.state;
    if (batch.committed) log_.committed = batch.committed;
  }

  void purge(log_id upto) {
    if (upto.index <= log_.state.purged.index) return;
    const bool holds_upto =
        std::ranges::any_of(log_.entries, [&](const log_entry& entry) { return entry.id() == upto; });
    std::erase_if(log_.entries, [&](const log_entry& entry) { return !holds_upto || entry.index <= upto.index; });
    log_.state.purged = upto;
    if (!holds_upto) log_.state.last = upto;
  }

  std::optional<term_t> term_at(index_t index) const {
    auto found = std::ranges::find(log_.entries, index, &log_entry::index);
    if (found == log_.entries.end()) return std::nullopt;
    return found->term;
  }

 private:
  expected_log log_;
};

// Drives a storage and the reference model through the same random operations,
// the kind a Raft node issues: appends, suffix replacements by a newer term,
// hard state and commit updates, purges (matching, mismatching, beyond the log)
// and restarts.
class random_workload {
 public:
  random_workload(blocking_log& log, log_storage_factory& factory, unsigned seed)
      : log_(log), factory_(factory), random_(seed) {}

  void step() {
    const auto choice = number(0, 99);
    if (choice < 55) {
      write(random_entries());
    } else if (choice < 65) {
      write(random_metadata());
    } else if (choice < 85) {
      purge(random_purge_id());
    } else if (choice < 92) {
      log_.reopen(factory_);
    } else {
      check_random_range();
    }
    REQUIRE(log_.state() == model_.expected().state);
  }

  const expected_log& expected() const { return model_.expected(); }

 private:
  std::uint64_t number(std::uint64_t low, std::uint64_t high) {
    return std::uniform_int_distribution<std::uint64_t>(low, high)(random_);
  }
  bool chance(std::uint64_t percent) { return number(1, 100) <= percent; }

  void write(const log_write& batch) {
    log_.write(batch);
    model_.write(batch);
  }

  void purge(log_id upto) {
    log_.purge(upto);
    model_.purge(upto);
  }

  log_write random_entries() {
    const log_state state = model_.expected().state;
    const std::uint64_t first =
        chance(70) ? state.last.index.value + 1 : number(state.purged.index.value + 1, state.last.index.value + 1);
    if (first <= state.last.index.value) ++term_;  // only a newer leader replaces a suffix
    const std::uint64_t last = first + number(0, 19);
    log_write batch = append(make_entries(first, last, term_));
    if (chance(30)) batch.state = hard_state{term_t(term_), node_id(number(0, 5))};
    if (chance(30)) batch.committed = index_t(number(0, last));
    return batch;
  }

  log_write random_metadata() {
    if (chance(30)) ++term_;
    return {hard_state{term_t(term_), node_id(number(0, 5))},
            {},
            chance(50) ? std::optional(index_t(number(0, 100))) : std::nullopt};
  }

  log_id random_purge_id() {
    const log_state state = model_.expected().state;
    const std::uint64_t low = state.purged.index.value >= 2 ? state.purged.index.value - 2 : 0;
    const index_t index(number(low, state.last.index.value + 3));
    const auto stored_term = model_.term_at(index);
    if (stored_term && chance(75)) return {*stored_term, index};
    return {term_t(term_ + number(0, 1)), index};
  }

  void check_random_range() {
    const auto& expected = model_.expected();
    if (expected.entries.empty()) return;
    const auto first = number(0, expected.entries.size() - 1);
    const auto last = number(first, expected.entries.size() - 1);
    const std::vector<log_entry> wanted(expected.entries.begin() + static_cast<std::ptrdiff_t>(first),
                                        expected.entries.begin() + static_cast<std::ptrdiff_t>(last + 1));
    REQUIRE(log_.entries(wanted.front().index, wanted.back().index) == wanted);
  }

  blocking_log& log_;
  log_storage_factory& factory_;
  std::mt19937_64 random_;
  reference_log model_;
  std::uint64_t term_ = 1;
};

}  // namespace

void check_log_storage_conformance(const log_storage_factory_maker& make_factory) {
  auto factory = make_factory();
  blocking_log log(factory->create());

  SECTION("a new storage holds nothing") { check_holds_across_reopen(log, *factory, expected_log{}); }

  SECTION("written entries read back with their terms, kinds and payloads") {
    std::string every_byte;
    for (int byte = 0; byte < 256; ++byte) every_byte.push_back(static_cast<char>(byte));
    membership config;
    config.voters = {node_id(1), node_id(2), node_id(3)};
    const std::vector<log_entry> entries = {
        {term_t(1), index_t(1), entry_kind::command, shared_bytes(std::string_view("first"))},
        {term_t(1), index_t(2), entry_kind::noop, shared_bytes()},
        {term_t(2), index_t(3), entry_kind::membership, shared_bytes(encode_membership(config))},
        {term_t(2), index_t(4), entry_kind::command, shared_bytes(every_byte)},
        {term_t(3), index_t(5), entry_kind::command, shared_bytes(std::string(1 << 20, 'x'))},
    };
    log.write(append(entries));
    check_holds_across_reopen(log, *factory, {{id(0, 0), id(3, 5)}, entries, {}, std::nullopt});
  }

  SECTION("a write of a hard state alone changes only the hard state") {
    const auto entries = make_entries(1, 3, 1);
    log.write(append(entries));
    log.write({hard_state{term_t(2), node_id(3)}, {}, std::nullopt});
    check_holds_across_reopen(log, *factory, {{id(0, 0), id(1, 3)}, entries, {term_t(2), node_id(3)}, std::nullopt});
    log.write({hard_state{term_t(3), no_node}, {}, std::nullopt});
    check_holds_across_reopen(log, *factory, {{id(0, 0), id(1, 3)}, entries, {term_t(3), no_node}, std::nullopt});
  }

  SECTION("a write of entries alone keeps the saved hard state") {
    log.write({hard_state{term_t(5), node_id(1)}, {}, std::nullopt});
    const auto entries = make_entries(1, 4, 5);
    log.write(append(entries));
    check_holds_across_reopen(log, *factory, {{id(0, 0), id(5, 4)}, entries, {term_t(5), node_id(1)}, std::nullopt});
  }

  SECTION("a write of hard state, entries and commit hint saves all three") {
    const auto entries = make_entries(1, 6, 4);
    log.write({hard_state{term_t(4), node_id(2)}, entries, index_t(5)});
    check_holds_across_reopen(log, *factory, {{id(0, 0), id(4, 6)}, entries, {term_t(4), node_id(2)}, index_t(5)});
  }

  SECTION("the commit hint read back is the last one written") {
    CHECK(log.committed() == std::nullopt);
    log.write({std::nullopt, make_entries(1, 3, 1), index_t(2)});
    log.write(append(make_entries(4, 5, 1)));
    CHECK(log.committed() == index_t(2));
    log.write({std::nullopt, {}, index_t(5)});
    log.reopen(*factory);
    CHECK(log.committed() == index_t(5));
  }

  SECTION("a write starting inside the log replaces the suffix from its first index") {
    auto expected = write_two_terms(log);
    const auto replacement = make_entries(7, 8, 3);
    log.write(append(replacement));
    expected.state.last = id(3, 8);
    expected.entries = concat(concat(make_entries(1, 5, 1), make_entries(6, 6, 2)), replacement);
    check_holds_across_reopen(log, *factory, expected);

    SECTION("and the replaced entries never come back") {
      const auto next = make_entries(9, 10, 3);
      log.write(append(next));
      expected.state.last = id(3, 10);
      expected.entries = concat(expected.entries, next);
      check_holds_across_reopen(log, *factory, expected);
    }
  }

  SECTION("a write at the first index replaces the whole log") {
    auto expected = write_two_terms(log);
    const auto replacement = make_entries(1, 2, 3);
    log.write(append(replacement));
    expected.state.last = id(3, 2);
    expected.entries = replacement;
    check_holds_across_reopen(log, *factory, expected);
  }

  SECTION("a write at the last index replaces the last entry and may extend the log") {
    auto expected = write_two_terms(log);
    const auto replacement = make_entries(10, 14, 3);
    log.write(append(replacement));
    expected.state.last = id(3, 14);
    expected.entries = concat(concat(make_entries(1, 5, 1), make_entries(6, 9, 2)), replacement);
    check_holds_across_reopen(log, *factory, expected);
  }

  SECTION("writes starting at last + 1 append") {
    std::vector<log_entry> all;
    std::uint64_t next = 1;
    for (std::uint64_t size = 1; size <= 20; ++size) {
      const auto batch = make_entries(next, next + size - 1, 1 + size / 5);
      log.write(append(batch));
      all = concat(all, batch);
      next += size;
      CHECK(log.state().last == all.back().id());
    }
    check_holds_across_reopen(log, *factory, {{id(0, 0), all.back().id()}, all, {}, std::nullopt});
  }

  SECTION("any range of stored entries reads back, single entries included") {
    const auto expected = write_two_terms(log);
    for (std::uint64_t first = 1; first <= 10; ++first) {
      for (std::uint64_t last = first; last <= 10; ++last) {
        INFO("reading " << first << ".." << last);
        const std::vector<log_entry> wanted(expected.entries.begin() + static_cast<std::ptrdiff_t>(first - 1),
                                            expected.entries.begin() + static_cast<std::ptrdiff_t>(last));
        CHECK(log.entries(index_t(first), index_t(last)) == wanted);
      }
    }
    // A range that ends before it starts holds no entry.
    CHECK(log.entries(index_t(6), index_t(5)).empty());
  }

  SECTION("a purge at or below the purged id changes nothing") {
    auto expected = write_two_terms(log);
    log.purge(id(1, 4));
    for (log_id again : {id(1, 4), id(1, 2), id(0, 0)}) log.purge(again);
    expected.state.purged = id(1, 4);
    expected.entries.erase(expected.entries.begin(), expected.entries.begin() + 4);
    check_holds_across_reopen(log, *factory, expected);
  }

  SECTION("a purge of nothing on an empty storage changes nothing") {
    log.purge(id(0, 0));
    check_holds_across_reopen(log, *factory, expected_log{});
  }

  SECTION("a purge in the middle keeps the tail, the hard state and the commit hint") {
    auto expected = write_two_terms(log);
    log.purge(id(2, 7));
    expected.state.purged = id(2, 7);
    expected.entries = make_entries(8, 10, 2);
    check_holds_across_reopen(log, *factory, expected);

    SECTION("and a later purge moves further") {
      log.purge(id(2, 9));
      expected.state.purged = id(2, 9);
      expected.entries = make_entries(10, 10, 2);
      check_holds_across_reopen(log, *factory, expected);
    }
    SECTION("and appends continue after the last entry") {
      const auto next = make_entries(11, 12, 3);
      log.write(append(next));
      expected.state.last = id(3, 12);
      expected.entries = concat(expected.entries, next);
      check_holds_across_reopen(log, *factory, expected);
    }
    SECTION("and a write right after the purged id replaces every stored entry") {
      const auto replacement = make_entries(8, 9, 3);
      log.write(append(replacement));
      expected.state.last = id(3, 9);
      expected.entries = replacement;
      check_holds_across_reopen(log, *factory, expected);
    }
  }

  SECTION("a purge of the last entry empties the log") {
    auto expected = write_two_terms(log);
    log.purge(id(2, 10));
    expected.state = {id(2, 10), id(2, 10)};
    expected.entries.clear();
    check_holds_across_reopen(log, *factory, expected);
  }

  SECTION("a purge of an id whose term differs from the stored entry discards the whole log") {
    auto expected = write_two_terms(log);
    log.purge(id(3, 7));
    expected.state = {id(3, 7), id(3, 7)};
    expected.entries.clear();
    check_holds_across_reopen(log, *factory, expected);
  }

  SECTION("a purge beyond the last entry empties the log and makes the purged id the last") {
    auto expected = write_two_terms(log);
    log.purge(id(4, 15));
    expected.state = {id(4, 15), id(4, 15)};
    expected.entries.clear();
    check_holds_across_reopen(log, *factory, expected);

    SECTION("and the log grows again right after the purged id") {
      const auto next = make_entries(16, 18, 4);
      log.write(append(next));
      expected.state.last = id(4, 18);
      expected.entries = next;
      check_holds_across_reopen(log, *factory, expected);

      log.purge(id(4, 17));
      expected.state.purged = id(4, 17);
      expected.entries = make_entries(18, 18, 4);
      check_holds_across_reopen(log, *factory, expected);
    }
  }

  SECTION("a purge beyond the last entry of an empty storage makes the purged id the last") {
    log.purge(id(2, 5));
    check_holds_across_reopen(log, *factory, {{id(2, 5), id(2, 5)}, {}, {}, std::nullopt});
  }

  SECTION("a large batch is written, replaced, purged and read back whole") {
    std::vector<log_entry> entries;
    for (std::uint64_t index = 1; index <= 10'000; ++index) {
      entries.push_back({term_t(1), index_t(index), entry_kind::command,
                         shared_bytes(std::string(index % 301, static_cast<char>('a' + index % 26)))});
    }
    log.write({hard_state{term_t(1), node_id(1)}, entries, index_t(9'000)});
    expected_log expected{{id(0, 0), id(1, 10'000)}, entries, {term_t(1), node_id(1)}, index_t(9'000)};
    check_holds_across_reopen(log, *factory, expected);

    const auto replacement = make_entries(5'001, 12'000, 2);
    log.write(append(replacement));
    log.purge(id(1, 2'500));
    expected.state = {id(1, 2'500), id(2, 12'000)};
    expected.entries = concat({entries.begin() + 2'500, entries.begin() + 5'000}, replacement);
    check_holds_across_reopen(log, *factory, expected);
  }

  SECTION("many small writes each stay durable") {
    std::vector<log_entry> all;
    for (std::uint64_t index = 1; index <= 300; ++index) {
      const auto entry = make_entries(index, index, 1);
      log.write({hard_state{term_t(1), node_id(index % 3)}, entry, index_t(index)});
      all = concat(std::move(all), entry);
    }
    check_holds_across_reopen(log, *factory, {{id(0, 0), id(1, 300)}, all, {term_t(1), node_id(0)}, index_t(300)});
  }

  SECTION("random writes, purges and restarts agree with a plain model of the contract") {
    const unsigned seed = test_seed();
    INFO("seed " << seed << " (rerun with --rng-seed " << seed << ")");
    random_workload workload(log, *factory, seed);
    for (int step = 0; step < 400; ++step) {
      INFO("step " << step);
      workload.step();
    }
    check_holds_across_reopen(log, *factory, workload.expected());
  }
}

void check_log_storage_preconditions(const log_storage_factory_maker& make_factory) {
  auto factory = make_factory();
  blocking_log log(factory->create());
  const auto entries = make_entries(1, 5, 1);
  log.write(append(entries));
  log.purge(id(1, 2));
  const expected_log expected{{id(1, 2), id(1, 5)}, {entries.begin() + 2, entries.end()}, {}, std::nullopt};
  const auto refused = has_error_code(std::errc::invalid_argument);

  SECTION("a write that would leave a gap after the last entry is refused") {
    CHECK_THROWS_MATCHES(log.write(append(make_entries(7, 8, 1))), std::system_error, refused);
  }
  SECTION("a write that starts inside the purged prefix is refused") {
    CHECK_THROWS_MATCHES(log.write(append(make_entries(2, 8, 2))), std::system_error, refused);
  }
  SECTION("a write of entries that are not contiguous is refused") {
    auto gapped = make_entries(6, 8, 1);
    gapped.erase(gapped.begin() + 1);
    CHECK_THROWS_MATCHES(log.write({hard_state{term_t(9), node_id(1)}, gapped, std::nullopt}), std::system_error,
                         refused);
  }
  SECTION("a read of purged entries is refused") {
    CHECK_THROWS_MATCHES(log.entries(index_t(2), index_t(4)), std::system_error, refused);
  }
  SECTION("a read past the last entry is refused") {
    CHECK_THROWS_MATCHES(log.entries(index_t(3), index_t(6)), std::system_error, refused);
  }
  check_holds_across_reopen(log, *factory, expected);
}

}  // namespace coraft::testing
