// The storage conformance suite: what every coraft::log_storage must do, stated
// as Catch2 checks that run against any implementation.
//
// To check your own storage:
//  1. Derive a factory from log_storage_factory. create() returns a storage that
//     has never been written; reopen() closes the storage it is given as a clean
//     restart of the process would and opens its durable state again (a storage
//     that lives only in memory may hand the same object back).
//  2. Compile storage_conformance.cc into a Catch2 test executable linked with
//     coraft, and call the suite from a test case of yours:
//
//       TEST_CASE("my storage conforms to log_storage") {
//         coraft::testing::check_log_storage_conformance(
//             [] { return std::make_unique<my_storage_factory>(); });
//       }
//
// Every check is a Catch2 SECTION with a factory of its own, so nothing one check
// writes is seen by another; run a single one with `-c "<section name>"`.
#pragma once

#include <coraft/log_storage.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace coraft::testing {

class log_storage_factory {
 public:
  virtual ~log_storage_factory() = default;
  // A storage holding nothing. Called once per factory.
  virtual std::unique_ptr<log_storage> create() = 0;
  // The durable state of `storage`, as the process would find it after a clean
  // restart. `storage` is destroyed (or handed back) by this call.
  virtual std::unique_ptr<log_storage> reopen(std::unique_ptr<log_storage> storage) = 0;
};

using log_storage_factory_maker = std::function<std::unique_ptr<log_storage_factory>()>;

// Runs every conformance check; call it from one TEST_CASE.
void check_log_storage_conformance(const log_storage_factory_maker& make_factory);

// Optional checks for a storage that validates the preconditions of log_storage
// instead of trusting its caller, as coraft's storages do: a call that breaks
// them throws std::system_error with std::errc::invalid_argument and changes
// nothing.
void check_log_storage_preconditions(const log_storage_factory_maker& make_factory);

// Runs one storage call on an io_context of its own and returns its result (or
// rethrows its exception).
template <class T>
T run_to_completion(asio::awaitable<T> call) {
  asio::io_context io;
  auto result = asio::co_spawn(io, std::move(call), asio::use_future);
  io.run();
  return result.get();
}

// A storage under test whose calls block until they complete.
class blocking_log {
 public:
  explicit blocking_log(std::unique_ptr<log_storage> storage) : storage_(std::move(storage)) {}

  log_state state() { return run_to_completion(storage_->read_log_state()); }
  hard_state hard() { return run_to_completion(storage_->read_hard_state()); }
  std::optional<index_t> committed() { return run_to_completion(storage_->read_committed()); }
  std::vector<log_entry> entries(index_t first, index_t last) {
    return run_to_completion(storage_->read_entries(first, last));
  }
  void write(log_write batch) { run_to_completion(storage_->write(std::move(batch))); }
  void purge(log_id upto) { run_to_completion(storage_->purge(upto)); }

  void reopen(log_storage_factory& factory) { storage_ = factory.reopen(std::move(storage_)); }

 private:
  std::unique_ptr<log_storage> storage_;
};

// Entries first..last of one term, each with a payload naming its term and index,
// so that entries of different terms at one index differ.
std::vector<log_entry> make_entries(std::uint64_t first, std::uint64_t last, std::uint64_t term);
std::vector<log_entry> concat(std::vector<log_entry> head, const std::vector<log_entry>& tail);
// A write of entries alone.
log_write append(std::vector<log_entry> entries);

// Everything a storage is expected to hold.
struct expected_log {
  log_state state;
  std::vector<log_entry> entries;  // exactly the entries (state.purged.index, state.last.index]
  hard_state hard;
  std::optional<index_t> committed;
};

// Checks that `log` holds exactly `expected`.
void check_holds(blocking_log& log, const expected_log& expected);

// Matches a std::system_error that carries `code`.
inline Catch::Matchers::Generic::PredicateMatcher<std::system_error> has_error_code(std::errc code) {
  return Catch::Predicate<std::system_error>(
      [code](const std::system_error& error) { return error.code() == std::make_error_code(code); },
      "has error code " + std::make_error_code(code).message());
}

// A seed for randomized tests: Catch's --rng-seed when given, otherwise a fresh one.
unsigned test_seed();

}  // namespace coraft::testing

namespace Catch {

template <>
struct StringMaker<coraft::log_state> {
  static std::string convert(const coraft::log_state& state) {
    std::ostringstream out;
    out << "{purged " << state.purged << ", last " << state.last << "}";
    return out.str();
  }
};

template <>
struct StringMaker<coraft::hard_state> {
  static std::string convert(const coraft::hard_state& state) {
    std::ostringstream out;
    out << "{term " << state.term << ", voted for " << state.voted_for << "}";
    return out.str();
  }
};

template <>
struct StringMaker<std::optional<coraft::index_t>> {
  static std::string convert(const std::optional<coraft::index_t>& index) {
    if (!index) return "nullopt";
    std::ostringstream out;
    out << *index;
    return out.str();
  }
};

template <>
struct StringMaker<coraft::log_entry> {
  static std::string convert(const coraft::log_entry& entry) {
    std::ostringstream out;
    out << "{" << entry.id() << ", kind " << static_cast<int>(entry.kind) << ", " << entry.payload.size()
        << " payload bytes}";
    return out.str();
  }
};

}  // namespace Catch
