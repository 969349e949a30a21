// The LevelDB write-ahead log written into zeroed space (storage/preallocated_log.h):
// the space is there, and what a crash leaves in it opens with every synced
// write, while damage to synced records is still refused.
#include <coraft/leveldb_log_storage.h>

#include "file_damage.h"
#include "storage/durable_files.h"
#include "storage/preallocated_log.h"
#include "storage_conformance.h"
#include "temporary_directory.h"

#include <algorithm>
#include <filesystem>
#include <map>

using namespace coraft;
using namespace coraft::testing;
using Catch::Contains;

namespace {

constexpr std::size_t block_bytes = 32 << 10;
constexpr std::size_t sector_bytes = 512;

// Entries of `payload_bytes` each, numbered from `first`.
std::vector<log_entry> entries_of_size(std::uint64_t first, std::uint64_t count, std::size_t payload_bytes) {
  std::vector<log_entry> entries;
  for (std::uint64_t index = first; index < first + count; ++index) {
    std::string payload(payload_bytes, static_cast<char>('a' + index % 26));
    entries.push_back({term_t(1), index_t(index), entry_kind::command, shared_bytes(std::move(payload))});
  }
  return entries;
}

// The write-ahead log LevelDB writes to now: the one with the highest number.
std::filesystem::path current_log_file(const std::filesystem::path& database) {
  std::vector<std::filesystem::path> logs;
  for (const auto& file : std::filesystem::directory_iterator(database)) {
    if (file.path().extension() == ".log") logs.push_back(file.path());
  }
  REQUIRE(!logs.empty());
  return *std::max_element(logs.begin(), logs.end());
}

std::string contents_of(const std::filesystem::path& file) { return storage::read_small_file(file).value(); }

// Each file's name and size; a file that vanished while listed reads as size 0.
std::map<std::string, std::uintmax_t> sizes_in(const std::filesystem::path& directory) {
  std::map<std::string, std::uintmax_t> sizes;
  for (const auto& file : std::filesystem::directory_iterator(directory)) {
    std::error_code vanished;
    const std::uintmax_t size = std::filesystem::file_size(file.path(), vanished);
    sizes[file.path().filename().string()] = vanished ? 0 : size;
  }
  return sizes;
}

// A database written and still open, and a copy of its files taken meanwhile:
// what a SIGKILL of the writer leaves on the disk.
class killed_writer {
 public:
  killed_writer() { storage_.emplace(leveldb_log_storage::open(original())); }

  std::filesystem::path original() const { return directory_.path() / "original"; }
  std::filesystem::path copy() const { return directory_.path() / "copy"; }

  void write(std::vector<log_entry> entries) {
    written_.insert(written_.end(), entries.begin(), entries.end());
    storage_->write(append(std::move(entries)));
  }
  const std::vector<log_entry>& written() const { return written_; }

  // The copy's current log file. LevelDB's background thread may still be
  // flushing a memtable (writing a table and the manifest, deleting the old
  // log): a copy counts only if no file changed while it was taken, since a
  // kill stops everything at one instant.
  std::filesystem::path kill() {
    for (int attempt = 0; attempt < 1'000; ++attempt) {
      const auto before = sizes_in(original());
      std::filesystem::remove_all(copy());
      std::error_code failed;
      std::filesystem::copy(original(), copy(), failed);
      if (!failed && sizes_in(original()) == before) return current_log_file(copy());
    }
    FAIL("the database's files kept changing while they were copied");
    return {};
  }

  // Every entry in the reopened copy.
  std::vector<log_entry> reopened_entries() const {
    blocking_log log(leveldb_log_storage::open(copy(), {.create_if_missing = false}));
    const log_state state = log.state();
    if (state.last.index == index_t(0)) return {};
    return log.entries(index_t(1), state.last.index);
  }

 private:
  temporary_directory directory_;
  std::optional<blocking_log> storage_;
  std::vector<log_entry> written_;
};

std::vector<log_entry> all_but_last(std::vector<log_entry> entries, std::size_t dropped) {
  entries.resize(entries.size() - dropped);
  return entries;
}

}  // namespace

TEST_CASE("written_length of a log with no record is 0") {
  CHECK(storage::written_length("") == 0);
  CHECK(storage::written_length(std::string(3 * block_bytes, '\0')) == 0);
}

TEST_CASE("the write-ahead log's records go into space zeroed ahead of them") {
  killed_writer writer;
  writer.write(entries_of_size(1, 20, 100));
  const std::string log = contents_of(current_log_file(writer.original()));
  const std::size_t records = storage::written_length(log);
  CHECK(records > 20 * 100);
  CHECK(log.size() % (1 << 20) == 0);
  CHECK(log.find_first_not_of('\0', records) == std::string::npos);
}

TEST_CASE("what a kill leaves in the zeroed space opens with every synced write") {
  killed_writer writer;
  writer.write(entries_of_size(1, 50, 300));
  SECTION("in the first log file") {}
  SECTION("after LevelDB moved on to a new log file") {
    const auto first_log = current_log_file(writer.original()).filename();
    for (std::uint64_t first = 51; first <= 1'250; first += 100) writer.write(entries_of_size(first, 100, 4'096));
    REQUIRE(current_log_file(writer.original()).filename() != first_log);
  }
  const auto log_file = writer.kill();
  INFO("the copy's log ends in zeros, as the writer left it");
  CHECK(std::filesystem::file_size(log_file) > storage::written_length(contents_of(log_file)));
  CHECK(writer.reopened_entries() == writer.written());
}

TEST_CASE("a record that a kill cut short at a sector's edge is dropped, and the writes before it kept") {
  killed_writer writer;
  writer.write(entries_of_size(1, 10, 200));
  SECTION("inside a record of one block") { writer.write(entries_of_size(11, 1, 3'000)); }
  SECTION("between the fragments of a record over several blocks") { writer.write(entries_of_size(11, 1, 40'000)); }
  const auto log_file = writer.kill();
  const std::size_t records = storage::written_length(contents_of(log_file));
  // The last record's final fragment starts in the last block it reaches;
  // its first bytes there stay, the rest of the write reads as never written.
  const std::size_t cut_at = std::max(records / block_bytes * block_bytes, (records - 1'000) / sector_bytes * sector_bytes);
  overwrite(log_file, cut_at, std::string(records - cut_at, '\0'));
  CHECK(storage::written_length(contents_of(log_file)) <= cut_at);
  CHECK(writer.reopened_entries() == all_but_last(writer.written(), 1));
}

TEST_CASE("damage to synced records in zeroed space is refused, not cut away") {
  killed_writer writer;
  writer.write(entries_of_size(1, 10, 200));
  writer.write(entries_of_size(11, 1, 3'000));
  const auto log_file = writer.kill();
  const std::string before = contents_of(log_file);
  const std::size_t records = storage::written_length(before);
  SECTION("a record before the last") { flip_byte(log_file, 100); }
  SECTION("the last record, whole but changed") { flip_byte(log_file, records - 10); }
  CHECK(storage::written_length(contents_of(log_file)) == before.size());
  CHECK_THROWS_WITH(writer.reopened_entries(), Contains("open failed") && Contains("Corruption"));
  CHECK(std::filesystem::file_size(log_file) == before.size());
}
