// Real nodes on LevelDB: the log in leveldb_log_storage, the state in a
// leveldb_state_machine, both reopened from their directories at every
// restart. Snapshots stream from one LevelDB state machine into another.
#include "engine_test_support.h"

#include "../storage/temporary_directory.h"

#include <coraft/leveldb_log_storage.h>
#include <coraft/leveldb_state_machine.h>

#include <catch2/catch.hpp>

#include <filesystem>

namespace coraft::test {
namespace {

// kv::command on leveldb_state_machine: put and append answer the key's new
// value. The base applies each client's command once (its sessions), so the
// command itself carries no session.
class leveldb_kv final : public leveldb_state_machine {
 public:
  explicit leveldb_kv(const std::string& directory) : leveldb_state_machine(directory, options()) {}

  std::string get(std::string_view key) const {
    std::string value;
    read_state([&](const state_reader& state) { value = state.get(key).value_or(""); });
    return value;
  }

 protected:
  std::string apply_command(std::string_view command, const state_reader& state, state_writer& batch) override {
    const std::optional<kv::command> cmd = kv::decode(command);
    if (!cmd) return "error: not a key-value command";
    std::string value = state.get(cmd->key).value_or("");
    if (cmd->op == kv::operation::get) return value;
    value = cmd->op == kv::operation::put ? cmd->value : value + cmd->value;
    batch.put(cmd->key, value);
    return value;
  }

  std::string answer_query(std::string_view request, const state_reader& state) override {
    const std::optional<kv::command> cmd = kv::decode(request);
    return cmd ? state.get(cmd->key).value_or("") : "error: a query must be an encoded get";
  }

 private:
  // The test restarts nodes, not the machine: what a killed process leaves
  // in the page cache is enough, and skipping the sync keeps the test quick.
  static leveldb_state_machine_options options() {
    leveldb_state_machine_options options;
    options.sync_applies = false;
    return options;
  }
};

std::string leveldb_command(const kv::command& cmd) {
  kv::command plain = cmd;
  plain.client = 0;
  plain.sequence = 0;
  return encode_session_command({cmd.client, cmd.sequence, kv::encode(plain)});
}

// Each member's directories, opened again at every start of its node.
class leveldb_members {
 public:
  member_storage open(node_id id) {
    const std::filesystem::path directory = root_.path() / ("node-" + std::to_string(id.value));
    std::filesystem::create_directories(directory);
    std::lock_guard lock(mutex_);
    opened& previous = opened_[id];
    // LevelDB opens a database once: the previous run must have let go of it
    // (calls of the stopped node still under way may hold it for a moment).
    eventually([&] { return previous.log.expired() && previous.machine.expired(); },
               "the previous run closes its databases");
    std::shared_ptr<log_storage> log = leveldb_log_storage::open((directory / "log").string());
    auto machine = std::make_shared<leveldb_kv>((directory / "state").string());
    previous = {log, machine};
    return {log, machine};
  }

  std::string value(node_id id, const std::string& key) {
    std::lock_guard lock(mutex_);
    std::shared_ptr<leveldb_kv> machine = opened_.at(id).machine.lock();
    if (!machine) FAIL("node " << id.value << " is not running");
    return machine->get(key);
  }

 private:
  struct opened {
    std::weak_ptr<log_storage> log;
    std::weak_ptr<leveldb_kv> machine;
  };
  testing::temporary_directory root_;
  std::mutex mutex_;
  std::map<node_id, opened> opened_;
};

}  // namespace

TEST_CASE("LevelDB members compact, catch a follower up by snapshot, and restart from snapshot and log tail") {
  leveldb_members storage;
  test_cluster cluster(cluster_setup{
      .size = 3,
      .tweak =
          [](raft_options& options) {
            options.snapshot_every_entries = 30;
            options.log_entries_kept_after_snapshot = 10;
          },
      .open_storage = [&storage](node_id id) { return storage.open(id); },
      .read_value = [&storage](node_id id, const std::string& key) { return storage.value(id, key); },
      .encode_command = leveldb_command,
  });
  cluster.start_all();
  const node_id leader = cluster.wait_for_leader();
  const node_id lagging(leader.value % 3 + 1);
  session_clients clients(cluster, 3);
  clients.wait_for_more(20);

  cluster.network().isolate(lagging);
  clients.wait_for_more(150);
  cluster.network().heal();
  std::shared_ptr<raft> follower = cluster.node(lagging);
  eventually([&] { return follower->get_metrics().totals.snapshots_installed > 0; }, "the follower installs a snapshot");
  follower.reset();
  clients.wait_for_more(30);

  // Every node reopens its databases: the state machine's snapshot (its live
  // state, pinned) and the log after it.
  for (node_id id : cluster.ids()) cluster.stop(id);
  for (node_id id : cluster.ids()) {
    cluster.start(id);
    CHECK(cluster.node(id)->get_metrics().snapshot.index > index_t(100));
  }
  clients.wait_for_more(60);
  clients.stop();
  check_every_member_holds(cluster, clients);
  for (node_id id : cluster.ids()) CHECK(cluster.node(id)->get_metrics().snapshot.index > index_t(150));
}

}  // namespace coraft::test
