#include <coraft/leveldb_log_storage.h>

#include "file_damage.h"
#include "storage/durable_files.h"
#include "storage/preallocated_log.h"
#include "storage_conformance.h"
#include "temporary_directory.h"

#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/helpers/memenv.h>

#include <atomic>
#include <filesystem>

using namespace coraft;
using namespace coraft::testing;
using Catch::Contains;

namespace {

// Makes a leveldb_log_storage on the real disk (in a temporary directory) or on
// an in-memory file system; reopening closes the database and opens it again.
class leveldb_storage_factory final : public log_storage_factory {
 public:
  static std::unique_ptr<leveldb_storage_factory> on_disk() {
    auto directory = std::make_unique<temporary_directory>();
    const std::string path = directory->path() / "log";
    return std::unique_ptr<leveldb_storage_factory>(new leveldb_storage_factory(std::move(directory), nullptr, path));
  }

  static std::unique_ptr<leveldb_storage_factory> in_memory() {
    std::unique_ptr<leveldb::Env> memory(leveldb::NewMemEnv(leveldb::Env::Default()));
    return std::unique_ptr<leveldb_storage_factory>(new leveldb_storage_factory(nullptr, std::move(memory), "/log"));
  }

  // On a file system the caller owns; it must outlive the factory.
  static std::unique_ptr<leveldb_storage_factory> on(leveldb::Env& env) {
    auto factory = std::unique_ptr<leveldb_storage_factory>(new leveldb_storage_factory(nullptr, nullptr, "/log"));
    factory->env_ = &env;
    return factory;
  }

  std::unique_ptr<log_storage> create() override { return open(true); }

  std::unique_ptr<log_storage> reopen(std::unique_ptr<log_storage> storage) override {
    storage.reset();
    return open(false);
  }

  std::unique_ptr<leveldb_log_storage> open(bool create_if_missing) const {
    return leveldb_log_storage::open(path_, {create_if_missing, env_});
  }

  // The database under the storage, for damaging it the way a faulty disk would.
  // Precondition: no storage has it open.
  std::unique_ptr<leveldb::DB> open_database() const {
    leveldb::Options options;
    if (env_) options.env = env_;
    leveldb::DB* db = nullptr;
    REQUIRE(leveldb::DB::Open(options, path_, &db).ok());
    return std::unique_ptr<leveldb::DB>(db);
  }

  const std::string& path() const { return path_; }

 private:
  leveldb_storage_factory(std::unique_ptr<temporary_directory> directory, std::unique_ptr<leveldb::Env> memory_env,
                          std::string path)
      : directory_(std::move(directory)),
        memory_env_(std::move(memory_env)),
        env_(memory_env_.get()),
        path_(std::move(path)) {}

  std::unique_ptr<temporary_directory> directory_;
  std::unique_ptr<leveldb::Env> memory_env_;
  leveldb::Env* env_;  // nullptr: the real file system
  std::string path_;
};

// An entry's key as leveldb_log_storage.h documents it: 'e' and the index in
// 8 bytes, most significant first.
std::string entry_key(std::uint64_t index) {
  std::string key(1, 'e');
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(index >> shift));
  return key;
}

std::vector<std::uint64_t> stored_entry_indexes(leveldb::DB& db) {
  std::vector<std::uint64_t> indexes;
  std::unique_ptr<leveldb::Iterator> cursor(db.NewIterator({}));
  for (cursor->Seek("e"); cursor->Valid() && cursor->key().starts_with("e"); cursor->Next()) {
    REQUIRE(cursor->key().size() == 9);
    std::uint64_t index = 0;
    for (std::size_t byte = 1; byte < 9; ++byte) index = (index << 8) | static_cast<unsigned char>(cursor->key()[byte]);
    indexes.push_back(index);
  }
  REQUIRE(cursor->status().ok());
  return indexes;
}

std::vector<std::uint64_t> sequence(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> numbers;
  for (std::uint64_t number = first; number <= last; ++number) numbers.push_back(number);
  return numbers;
}

void put(leveldb::DB& db, const std::string& key, const std::string& value) {
  REQUIRE(db.Put(leveldb::WriteOptions(), key, value).ok());
}

void remove(leveldb::DB& db, const std::string& key) { REQUIRE(db.Delete(leveldb::WriteOptions(), key).ok()); }

std::string value_of(leveldb::DB& db, const std::string& key) {
  std::string value;
  REQUIRE(db.Get(leveldb::ReadOptions(), key, &value).ok());
  return value;
}

// Fails the write-ahead log's appends or syncs on demand, as a disk that
// answers EIO would.
class faulty_env final : public leveldb::EnvWrapper {
 public:
  enum class fault { none, append, sync };

  explicit faulty_env(leveldb::Env* target) : EnvWrapper(target) {}

  void inject(fault kind) { fault_ = kind; }

  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** file) override {
    leveldb::Status status = target()->NewWritableFile(name, file);
    if (status.ok() && name.ends_with(".log")) *file = new faulty_file(*file, fault_);
    return status;
  }

 private:
  class faulty_file final : public leveldb::WritableFile {
   public:
    faulty_file(leveldb::WritableFile* file, const std::atomic<fault>& fault) : file_(file), fault_(fault) {}

    leveldb::Status Append(const leveldb::Slice& data) override {
      if (fault_ == fault::append) return leveldb::Status::IOError("injected append failure");
      return file_->Append(data);
    }
    leveldb::Status Sync() override {
      if (fault_ == fault::sync) return leveldb::Status::IOError("injected sync failure");
      return file_->Sync();
    }
    leveldb::Status Flush() override { return file_->Flush(); }
    leveldb::Status Close() override { return file_->Close(); }

   private:
    std::unique_ptr<leveldb::WritableFile> file_;
    const std::atomic<fault>& fault_;
  };

  std::atomic<fault> fault_ = fault::none;
};

}  // namespace

TEST_CASE("leveldb_log_storage on the real disk conforms to log_storage") {
  check_log_storage_conformance([] { return leveldb_storage_factory::on_disk(); });
}

TEST_CASE("leveldb_log_storage on an in-memory Env conforms to log_storage") {
  check_log_storage_conformance([] { return leveldb_storage_factory::in_memory(); });
}

TEST_CASE("leveldb_log_storage refuses calls that break the preconditions of log_storage") {
  check_log_storage_preconditions([] { return leveldb_storage_factory::in_memory(); });
}

TEST_CASE("leveldb_log_storage keys entries by big-endian index and leaves no replaced or purged key behind") {
  auto factory = leveldb_storage_factory::in_memory();
  {
    blocking_log log(factory->create());
    log.write(append(make_entries(1, 300, 1)));
    log.write(append(make_entries(290, 295, 2)));
    log.purge({term_t(1), index_t(100)});
    log.write(append(make_entries(296, 296, 2)));
  }
  auto db = factory->open_database();
  CHECK(stored_entry_indexes(*db) == sequence(101, 296));
}

TEST_CASE("leveldb_log_storage leaves a purge's keys to the writes after it, and they delete them all") {
  auto factory = leveldb_storage_factory::in_memory();
  auto stored = [&] { return stored_entry_indexes(*factory->open_database()); };
  auto log = std::make_unique<blocking_log>(factory->create());
  log->write(append(make_entries(1, 1000, 1)));
  log->purge({term_t(1), index_t(900)});
  CHECK(log->state().purged == log_id{term_t(1), index_t(900)});

  SECTION("the purge alone deletes nothing, and a reopen still starts the log after the purged id") {
    log.reset();
    CHECK(stored() == sequence(1, 1000));
    blocking_log reopened(factory->open(false));
    CHECK(reopened.state().purged == log_id{term_t(1), index_t(900)});
    CHECK(reopened.entries(index_t(901), index_t(1000)) == make_entries(901, 1000, 1));
  }
  SECTION("a one-entry write deletes 128 keys, and a reopen goes on from there") {
    log->write(append(make_entries(1001, 1001, 1)));
    log.reset();
    CHECK(stored() == sequence(129, 1001));
    {
      blocking_log reopened(factory->open(false));
      for (std::uint64_t index = 1002; index <= 1008; ++index) reopened.write(append(make_entries(index, index, 1)));
      CHECK(reopened.entries(index_t(901), index_t(1008)) == make_entries(901, 1008, 1));
    }
    CHECK(stored() == sequence(901, 1008));
  }
  SECTION("a write of more entries deletes as many keys") {
    log->write(append(make_entries(1001, 1300, 1)));
    log.reset();
    CHECK(stored() == sequence(301, 1300));
  }
  SECTION("writes delete no key beyond the purged id") {
    for (std::uint64_t index = 1001; index <= 1010; ++index) log->write(append(make_entries(index, index, 1)));
    log.reset();
    CHECK(stored() == sequence(901, 1010));
  }
  SECTION("a purge the log does not hold deletes every key at once") {
    log->purge({term_t(2), index_t(2000)});
    log.reset();
    CHECK(stored().empty());
    blocking_log reopened(factory->open(false));
    CHECK(reopened.state().last == log_id{term_t(2), index_t(2000)});
  }
}

TEST_CASE("leveldb_log_storage reports a damaged record with its key instead of skipping it") {
  auto factory = leveldb_storage_factory::in_memory();
  {
    blocking_log log(factory->create());
    log.write({hard_state{term_t(1), node_id(1)}, make_entries(1, 5, 1), index_t(3)});
  }
  auto damage = [&](auto&& change) {
    auto db = factory->open_database();
    change(*db);
  };
  const std::string key_of_3 = "key 0x650000000000000003";

  SECTION("a value under an entry key that does not decode") {
    damage([&](leveldb::DB& db) { put(db, entry_key(3), "\xff\xff\xff\xff"); });
    blocking_log log(factory->open(false));
    CHECK(log.entries(index_t(1), index_t(2)) == make_entries(1, 2, 1));
    CHECK_THROWS_WITH(log.entries(index_t(1), index_t(5)),
                      Contains("entry index 3") && Contains(key_of_3) && Contains("does not decode"));
  }
  SECTION("an entry stored under another entry's key") {
    damage([&](leveldb::DB& db) { put(db, entry_key(3), value_of(db, entry_key(4))); });
    blocking_log log(factory->open(false));
    CHECK_THROWS_WITH(log.entries(index_t(3), index_t(3)),
                      Contains(key_of_3) && Contains("holds the entry of index 4"));
  }
  SECTION("an entry missing inside the log") {
    damage([&](leveldb::DB& db) { remove(db, entry_key(3)); });
    blocking_log log(factory->open(false));
    CHECK_THROWS_WITH(log.entries(index_t(2), index_t(4)), Contains(key_of_3) && Contains("is missing"));
  }
  SECTION("a first entry missing is found when the database opens") {
    damage([&](leveldb::DB& db) { remove(db, entry_key(1)); });
    CHECK_THROWS_WITH(factory->open(false), Contains("entry index 1") && Contains("is missing"));
  }
  SECTION("a last entry that does not decode is found when the database opens") {
    damage([&](leveldb::DB& db) { put(db, entry_key(5), "\xff"); });
    CHECK_THROWS_WITH(factory->open(false), Contains("entry index 5") && Contains("does not decode"));
  }
  SECTION("a purged id that does not decode is found when the database opens") {
    damage([&](leveldb::DB& db) { put(db, "m/purged", "\xff"); });
    CHECK_THROWS_WITH(factory->open(false), Contains("m/purged") && Contains("does not decode"));
  }
  SECTION("a deletion mark that does not decode is found when the database opens") {
    damage([&](leveldb::DB& db) { put(db, "m/deleted", "\xff"); });
    CHECK_THROWS_WITH(factory->open(false), Contains("m/deleted") && Contains("does not decode"));
  }
  SECTION("a deletion mark beyond the purged id is found when the database opens") {
    damage([&](leveldb::DB& db) { put(db, "m/deleted", std::string("\x08\x02", 2)); });
    CHECK_THROWS_WITH(factory->open(false), Contains("m/deleted") && Contains("beyond the purged id"));
  }
  SECTION("a hard state that does not decode") {
    damage([&](leveldb::DB& db) { put(db, "m/hard_state", "\xff"); });
    blocking_log log(factory->open(false));
    CHECK_THROWS_WITH(log.hard(), Contains("m/hard_state") && Contains("does not decode"));
  }
  SECTION("a commit hint that does not decode") {
    damage([&](leveldb::DB& db) { put(db, "m/committed", "\xff"); });
    blocking_log log(factory->open(false));
    CHECK_THROWS_WITH(log.committed(), Contains("m/committed") && Contains("does not decode"));
  }
}

TEST_CASE("leveldb_log_storage refuses to open over a damaged write-ahead log instead of skipping records") {
  auto factory = leveldb_storage_factory::on_disk();
  {
    blocking_log log(factory->create());
    for (std::uint64_t first = 1; first <= 50; first += 10) log.write(append(make_entries(first, first + 9, 1)));
  }
  std::vector<std::filesystem::path> write_ahead_logs;
  for (const auto& file : std::filesystem::directory_iterator(factory->path())) {
    if (file.path().extension() == ".log") write_ahead_logs.push_back(file.path());
  }
  REQUIRE(write_ahead_logs.size() == 1);
  // The records, not the zeroed space after them (storage/preallocated_log.h).
  const auto records = storage::written_length(storage::read_small_file(write_ahead_logs.front()).value());
  REQUIRE(records > 0);
  flip_byte(write_ahead_logs.front(), records / 2);
  CHECK_THROWS_WITH(factory->open(false), Contains("open failed") && Contains("Corruption"));
}

TEST_CASE("leveldb_log_storage acknowledges nothing a failing disk may have lost, and stops writing") {
  std::unique_ptr<leveldb::Env> memory(leveldb::NewMemEnv(leveldb::Env::Default()));
  faulty_env disk(memory.get());
  auto factory = leveldb_storage_factory::on(disk);
  const auto acknowledged = make_entries(1, 3, 1);
  const expected_log before_failure{
      {{term_t(0), index_t(0)}, {term_t(1), index_t(3)}}, acknowledged, {term_t(1), node_id(1)}, index_t(2)};
  const auto failed_entries = make_entries(4, 6, 2);
  const expected_log after_failed_write{{{term_t(0), index_t(0)}, {term_t(2), index_t(6)}},
                                        concat(acknowledged, failed_entries),
                                        {term_t(2), node_id(2)},
                                        index_t(5)};
  auto log = std::make_unique<blocking_log>(factory->create());
  log->write({hard_state{term_t(1), node_id(1)}, acknowledged, index_t(2)});

  const auto injected = GENERATE(faulty_env::fault::append, faulty_env::fault::sync);
  INFO((injected == faulty_env::fault::append ? "appends fail" : "syncs fail"));
  disk.inject(injected);
  CHECK_THROWS_WITH(log->write({hard_state{term_t(2), node_id(2)}, failed_entries, index_t(5)}),
                    Contains("write failed") && Contains("injected"));
  disk.inject(faulty_env::fault::none);
  check_holds(*log, before_failure);
  CHECK_THROWS_WITH(log->write(append(make_entries(4, 4, 1))), Contains("refusing to write"));
  CHECK_THROWS_WITH(log->purge({term_t(1), index_t(2)}), Contains("refusing to purge"));
  CHECK(log->state() == before_failure.state);

  log.reset();
  blocking_log reopened(factory->open(false));
  if (injected == faulty_env::fault::append) {
    INFO("nothing of a write whose append failed reached the disk");
    check_holds(reopened, before_failure);
  } else if (reopened.state() == before_failure.state) {
    INFO("a write whose sync failed is either lost whole");
    check_holds(reopened, before_failure);
  } else {
    INFO("or kept whole");
    check_holds(reopened, after_failed_write);
  }
}

TEST_CASE("leveldb_log_storage stops writing after a purge fails") {
  std::unique_ptr<leveldb::Env> memory(leveldb::NewMemEnv(leveldb::Env::Default()));
  faulty_env disk(memory.get());
  auto factory = leveldb_storage_factory::on(disk);
  blocking_log log(factory->create());
  log.write(append(make_entries(1, 5, 1)));
  disk.inject(faulty_env::fault::sync);
  CHECK_THROWS_WITH(log.purge({term_t(1), index_t(3)}), Contains("purge failed") && Contains("injected"));
  disk.inject(faulty_env::fault::none);
  CHECK(log.state() == log_state{{term_t(0), index_t(0)}, {term_t(1), index_t(5)}});
  CHECK_THROWS_WITH(log.write(append(make_entries(6, 6, 1))), Contains("refusing to write"));
}

TEST_CASE("leveldb_log_storage names the path when a database cannot be opened") {
  SECTION("a missing database without create_if_missing") {
    auto factory = leveldb_storage_factory::in_memory();
    CHECK_THROWS_WITH(factory->open(false), Contains("open failed") && Contains(factory->path()));
  }
  SECTION("a database that another storage holds open") {
    auto factory = leveldb_storage_factory::on_disk();
    auto first = factory->open(true);
    CHECK_THROWS_WITH(factory->open(false), Contains("open failed") && Contains(factory->path()));
  }
}
