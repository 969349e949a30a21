// What the engine tests share: io_context threads, a log storage whose writes
// a test can hold back or make fail, clusters of real nodes over the
// in-process network, and a key-value client that finds the leader.
#pragma once

#include <coraft/in_process_network.h>
#include <coraft/kv_store.h>
#include <coraft/memory_kv_state_machine.h>
#include <coraft/memory_log_storage.h>
#include <coraft/raft.h>

#include "../support/awaited.h"

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace coraft::test {

using namespace std::chrono_literals;

// An io_context run by a few threads for the lifetime of the object.
class io_threads {
 public:
  explicit io_threads(int count = 2);
  ~io_threads();
  asio::io_context& context() { return context_; }
  asio::any_io_executor executor() { return context_.get_executor(); }
  // Lets the threads run out of work and joins them.
  void join();

  // Runs `work` on the context and waits for it from the calling (test)
  // thread, as awaited<T>::get().
  template <class T>
  T run(asio::awaitable<T> work) {
    return run_awaited(context_.get_executor(), std::move(work));
  }

 private:
  asio::io_context context_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running_;
  std::vector<std::thread> threads_;
};

// Polls `condition` from the test thread until it holds; fails on a hang.
void eventually(const std::function<bool()>& condition, const char* what);

// A memory log whose writes a test can hold back (the writing thread blocks)
// or make fail (they throw, as a broken disk would).
class controlled_log final : public log_storage {
 public:
  void hold_writes();
  void release_writes();
  void fail_writes();
  std::uint64_t writes_started() const;

  asio::awaitable<log_state> read_log_state() override { return log_.read_log_state(); }
  asio::awaitable<hard_state> read_hard_state() override { return log_.read_hard_state(); }
  asio::awaitable<std::optional<index_t>> read_committed() override { return log_.read_committed(); }
  asio::awaitable<std::vector<log_entry>> read_entries(index_t first, index_t last) override {
    return log_.read_entries(first, last);
  }
  asio::awaitable<void> write(log_write batch) override;
  asio::awaitable<void> purge(log_id upto) override { return log_.purge(upto); }

 private:
  memory_log_storage log_;
  mutable std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
  bool failing_ = false;
  std::uint64_t writes_started_ = 0;
};

// Commands and queries of the key-value store.
std::string put(const std::string& key, const std::string& value, std::uint64_t client = 0, std::uint64_t sequence = 0);
std::string append(const std::string& key, const std::string& value, std::uint64_t client = 0,
                   std::uint64_t sequence = 0);
std::string get(const std::string& key);

bool is_error(const result<std::string>& answer, errc code);

// Snapshots every 20 applied entries, keeping 5 entries behind each.
void snapshot_often(raft_options& options);

// Test-friendly protocol settings: slow enough elections that a loaded
// machine (sanitizers, two shared cores) does not flap leaders all the time.
raft_options test_raft_options(node_id id, const membership& members);

// A member's log and state machine for one run of its node.
struct member_storage {
  std::shared_ptr<log_storage> log;
  std::shared_ptr<state_machine> machine;
};

struct cluster_setup {
  std::size_t size = 3;
  // Nodes 1..founders found the group; the others start without
  // initial_members and take part once added (0: every node founds it).
  std::size_t founders = 0;
  std::function<void(raft_options&)> tweak = {};
  int io_threads = 2;
  // Each node calls its log and state machine on the cluster's io threads
  // (worker_executors) instead of threads of its own.
  bool workers_on_io = false;
  // Opens a member's storage at each start of its node (a restart opens it
  // again). By default: a controlled_log and a memory_kv_state_machine of its
  // own, the same objects at every start.
  std::function<member_storage(node_id)> open_storage = {};
  // The value of a key in a member's applied state; by default read from its
  // memory_kv_state_machine.
  std::function<std::string(node_id, const std::string&)> read_value = {};
  // The command that carries a key-value command to the state machine; by
  // default kv::encode.
  std::function<std::string(const kv::command&)> encode_command = {};
};

// Nodes 1..size of one group, all in this process. Nodes may be stopped and
// started again with the same log and state machine (a restart).
class test_cluster {
 public:
  explicit test_cluster(cluster_setup setup);
  explicit test_cluster(std::size_t size, std::function<void(raft_options&)> tweak = {}, int io_thread_count = 2);
  ~test_cluster();

  std::vector<node_id> ids() const;
  // Where the network reaches `id` (its entry in membership::addresses).
  static std::string address_of(node_id id);
  void start(node_id id);
  void start_all();
  // shutdown() and detach from the network; the storage stays for a restart.
  void stop(node_id id);
  bool running(node_id id) const;

  // The node object while it runs (kept alive by the pointer).
  std::shared_ptr<raft> node(node_id id) const;
  // Gives a stopped node an empty state machine, as if it had lost its state:
  // on its next start it applies the log again from the beginning.
  void forget_state(node_id id);
  // The default storage (see cluster_setup).
  memory_kv_state_machine& machine(node_id id) { return *members_.at(id).machine; }
  controlled_log& log(node_id id) { return *members_.at(id).log; }
  std::string value(node_id id, const std::string& key);
  std::string command(const kv::command& cmd) const;
  in_process_network& network() { return network_; }
  io_threads& io() { return io_; }

  // A running node among `among` (default: all running) that leads with the
  // highest term among them.
  std::optional<node_id> leader(const std::set<node_id>& among = {}) const;
  node_id wait_for_leader(const std::set<node_id>& among = {});
  // Waits until every running node among `among` (default: all) has applied
  // at least `index`.
  void wait_applied(index_t index, const std::set<node_id>& among = {});
  index_t highest_commit() const;

 private:
  struct member {
    std::shared_ptr<controlled_log> log = std::make_shared<controlled_log>();
    std::shared_ptr<memory_kv_state_machine> machine = std::make_shared<memory_kv_state_machine>();
    std::shared_ptr<raft> node;
  };
  std::set<node_id> running_ids() const;

  cluster_setup setup_;
  io_threads io_;
  in_process_network network_;
  membership founders_config_;
  mutable std::mutex mutex_;  // guards each member's `node` (tests start and stop nodes from the test thread)
  std::map<node_id, member> members_;
};

// Proposes `command` to whichever running node leads (among `among`),
// retrying while the outcome says it was not applied or may not have been;
// with a kv session in the command, retries are applied at most once.
// Returns the last answer: success, or the error after `attempts` tries.
// Proposes put("stale-<i>", "x") for i in [0, count) to `node` without
// waiting: for a leader about to be cut off, whose entries never commit.
std::vector<std::future<result<std::string>>> propose_stale(test_cluster& cluster, node_id node, int count);
// Whether no member holds any of propose_stale's keys.
void check_no_stale_entry_applied(test_cluster& cluster, int count);

asio::awaitable<result<std::string>> propose_to_leader(test_cluster& cluster, std::string command,
                                                       std::set<node_id> among = {}, int attempts = 2000);

// Sleeps on the calling coroutine's executor.
asio::awaitable<void> pause_for(std::chrono::milliseconds duration);

// Waits until every node has applied the highest commit, then checks that
// their key-value stores are equal.
void check_same_state_everywhere(test_cluster& cluster);

// Clients that each append "1,2,3,..." to a key of their own through kv
// sessions, retrying until acknowledged: the final value must be exactly the
// acknowledged sequence, with nothing lost, repeated or reordered.
class session_clients {
 public:
  // The clients write to the leader among `among` (any node when empty).
  session_clients(test_cluster& cluster, int count, std::set<node_id> among = {});

  std::uint64_t total_acknowledged() const;
  // Waits until the clients have `total` writes acknowledged together.
  void wait_for_total(std::uint64_t total);
  // Waits for `more` writes acknowledged from now on.
  void wait_for_more(std::uint64_t more) { wait_for_total(total_acknowledged() + more); }
  // Lets every client finish its current write, then waits for them.
  void stop();

  static std::string key(int client) { return "client-" + std::to_string(client); }
  std::string expected_value(int client) const;
  int count() const { return static_cast<int>(acknowledged_.size()); }

 private:
  asio::awaitable<void> run(int client);

  test_cluster& cluster_;
  const std::set<node_id> among_;
  std::vector<std::atomic<std::uint64_t>> acknowledged_;
  std::atomic<bool> stopping_{false};
  std::vector<std::future<void>> running_;
};

// Runs `operation` on whichever running node (among `among`) leads, again
// while it answers not_leader (nothing was done); fails on a hang.
template <class T>
result<T> run_on_leader(test_cluster& cluster, const std::function<asio::awaitable<result<T>>(raft&)>& operation,
                        const std::set<node_id>& among = {}) {
  const auto deadline = std::chrono::steady_clock::now() + hang_limit;
  for (;;) {
    std::shared_ptr<raft> node = cluster.node(cluster.wait_for_leader(among));
    if (node) {
      result<T> answer = cluster.io().run(operation(*node));
      if (answer.error() != errc::not_leader) return answer;
    }
    if (std::chrono::steady_clock::now() > deadline) FAIL("no leader took the operation: hang");
    std::this_thread::sleep_for(10ms);
  }
}

// Every node of `members` (default: every running node) applies the whole
// group's commits and holds each client's acknowledged writes exactly once.
void check_every_member_holds(test_cluster& cluster, const session_clients& clients,
                              const std::set<node_id>& members = {});

std::set<node_id> all_but(test_cluster& cluster, node_id left_out);

}  // namespace coraft::test
