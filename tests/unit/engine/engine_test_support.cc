#include "engine_test_support.h"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <system_error>

namespace coraft::test {

// ---------------------------------------------------------------- io_threads

io_threads::io_threads(int count) : keep_running_(context_.get_executor()) {
  for (int i = 0; i < count; ++i) threads_.emplace_back([this] { context_.run(); });
}

io_threads::~io_threads() { join(); }

void io_threads::join() {
  keep_running_.reset();
  for (std::thread& thread : threads_)
    if (thread.joinable()) thread.join();
}

void eventually(const std::function<bool()>& condition, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + hang_limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("never happened: " << what);
    std::this_thread::sleep_for(5ms);
  }
}

asio::awaitable<void> pause_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

// ---------------------------------------------------------------- controlled_log

void controlled_log::hold_writes() {
  std::lock_guard lock(mutex_);
  held_ = true;
}

void controlled_log::release_writes() {
  {
    std::lock_guard lock(mutex_);
    held_ = false;
  }
  released_.notify_all();
}

void controlled_log::fail_writes() {
  std::lock_guard lock(mutex_);
  failing_ = true;
}

std::uint64_t controlled_log::writes_started() const {
  std::lock_guard lock(mutex_);
  return writes_started_;
}

asio::awaitable<void> controlled_log::write(log_write batch) {
  {
    std::unique_lock lock(mutex_);
    ++writes_started_;
    released_.wait(lock, [this] { return !held_; });
    if (failing_) throw std::system_error(std::make_error_code(std::errc::io_error), "injected disk failure");
  }
  co_await log_.write(std::move(batch));
}

// ---------------------------------------------------------------- key-value helpers

std::string put(const std::string& key, const std::string& value, std::uint64_t client, std::uint64_t sequence) {
  return kv::encode({client, sequence, kv::operation::put, key, value});
}

std::string append(const std::string& key, const std::string& value, std::uint64_t client, std::uint64_t sequence) {
  return kv::encode({client, sequence, kv::operation::append, key, value});
}

std::string get(const std::string& key) { return kv::encode({0, 0, kv::operation::get, key, {}}); }

bool is_error(const result<std::string>& answer, errc code) { return answer.error() == make_error_code(code); }

void snapshot_often(raft_options& options) {
  options.snapshot_every_entries = 20;
  options.log_entries_kept_after_snapshot = 5;
}

raft_options test_raft_options(node_id id, const membership& members) {
  raft_options options;
  options.id = id;
  options.tick_interval = 10ms;
  options.protocol.election_timeout_min_ticks = 25;
  options.protocol.election_timeout_max_ticks = 50;
  options.protocol.heartbeat_interval_ticks = 3;
  options.initial_members = members;
  options.request_timeout = 5s;
  return options;
}

// ---------------------------------------------------------------- test_cluster

test_cluster::test_cluster(cluster_setup setup) : setup_(std::move(setup)), io_(setup_.io_threads) {
  const std::size_t founders = setup_.founders == 0 ? setup_.size : setup_.founders;
  for (std::uint64_t i = 1; i <= setup_.size; ++i) {
    if (i <= founders) {
      founders_config_.voters.insert(node_id(i));
      founders_config_.addresses[node_id(i)] = address_of(node_id(i));
    }
    members_[node_id(i)];
  }
}

test_cluster::test_cluster(std::size_t size, std::function<void(raft_options&)> tweak, int io_thread_count)
    : test_cluster(cluster_setup{.size = size, .tweak = std::move(tweak), .io_threads = io_thread_count}) {}

std::string test_cluster::address_of(node_id id) { return "node-" + std::to_string(id.value); }

test_cluster::~test_cluster() {
  for (node_id id : ids())
    if (running(id)) stop(id);
  std::lock_guard lock(mutex_);
  for (auto& [id, m] : members_) m.node.reset();
  io_.join();
}

std::vector<node_id> test_cluster::ids() const {
  std::vector<node_id> all;
  for (const auto& [id, m] : members_) all.push_back(id);
  return all;
}

void test_cluster::start(node_id id) {
  raft_options options = test_raft_options(id, founders_config_);
  if (!founders_config_.contains(id)) options.initial_members.reset();
  if (setup_.tweak) setup_.tweak(options);
  member& m = members_.at(id);
  const member_storage storage = setup_.open_storage ? setup_.open_storage(id) : member_storage{m.log, m.machine};
  worker_executors workers;
  if (setup_.workers_on_io) workers = {.log = io_.executor(), .state_machine = io_.executor()};
  auto node = std::make_shared<raft>(io_.executor(), options, storage.log, storage.machine, network_.factory_for(id),
                                     std::move(workers));
  network_.attach(id, *node, io_.executor());
  io_.run(node->start());
  std::lock_guard lock(mutex_);
  m.node = std::move(node);
}

void test_cluster::start_all() {
  for (node_id id : ids()) start(id);
}

void test_cluster::stop(node_id id) {
  std::shared_ptr<raft> node;
  {
    std::lock_guard lock(mutex_);
    node = std::exchange(members_.at(id).node, nullptr);
  }
  io_.run(node->shutdown());
  network_.detach(id);
}

bool test_cluster::running(node_id id) const {
  std::lock_guard lock(mutex_);
  return members_.at(id).node != nullptr;
}

std::shared_ptr<raft> test_cluster::node(node_id id) const {
  std::lock_guard lock(mutex_);
  return members_.at(id).node;
}

void test_cluster::forget_state(node_id id) {
  REQUIRE_FALSE(running(id));
  members_.at(id).machine = std::make_shared<memory_kv_state_machine>();
}

std::string test_cluster::value(node_id id, const std::string& key) {
  return setup_.read_value ? setup_.read_value(id, key) : machine(id).get(key);
}

std::string test_cluster::command(const kv::command& cmd) const {
  return setup_.encode_command ? setup_.encode_command(cmd) : kv::encode(cmd);
}

std::set<node_id> test_cluster::running_ids() const {
  std::set<node_id> up;
  for (node_id id : ids())
    if (running(id)) up.insert(id);
  return up;
}

std::optional<node_id> test_cluster::leader(const std::set<node_id>& among) const {
  const std::set<node_id> candidates = among.empty() ? running_ids() : among;
  std::optional<node_id> found;
  term_t highest;
  for (node_id id : candidates) {
    std::shared_ptr<raft> n = node(id);
    if (!n) continue;
    const metrics m = n->get_metrics();
    if (m.term < highest) continue;
    if (m.term > highest) found.reset();
    highest = m.term;
    if (m.role == "leader") found = id;
  }
  return found;
}

node_id test_cluster::wait_for_leader(const std::set<node_id>& among) {
  std::optional<node_id> found;
  eventually([&] { return (found = leader(among)).has_value(); }, "a leader is elected");
  return *found;
}

index_t test_cluster::highest_commit() const {
  index_t commit;
  for (node_id id : running_ids())
    if (auto n = node(id)) commit = std::max(commit, n->get_metrics().commit);
  return commit;
}

void test_cluster::wait_applied(index_t index, const std::set<node_id>& among) {
  eventually(
      [&] {
        for (node_id id : among.empty() ? running_ids() : among) {
          auto n = node(id);
          if (n && n->get_metrics().applied < index) return false;
        }
        return true;
      },
      "every running node applies up to the index");
}

asio::awaitable<result<std::string>> propose_to_leader(test_cluster& cluster, std::string command,
                                                       std::set<node_id> among, int attempts) {
  result<std::string> answer(make_error_code(errc::not_leader));
  for (int attempt = 0; attempt < attempts; ++attempt) {
    std::optional<node_id> leader = cluster.leader(among);
    std::shared_ptr<raft> node = leader ? cluster.node(*leader) : nullptr;
    if (node) {
      answer = co_await node->propose(command);
      if (answer) co_return answer;
    }
    co_await pause_for(10ms);
  }
  co_return answer;
}

std::vector<std::future<result<std::string>>> propose_stale(test_cluster& cluster, node_id node, int count) {
  std::vector<std::future<result<std::string>>> answers;
  for (int i = 0; i < count; ++i)
    answers.push_back(asio::co_spawn(cluster.io().context(),
                                     cluster.node(node)->propose(put("stale-" + std::to_string(i), "x")),
                                     asio::use_future));
  return answers;
}

void check_no_stale_entry_applied(test_cluster& cluster, int count) {
  for (node_id id : cluster.ids())
    for (int i = 0; i < count; ++i) CHECK(cluster.machine(id).get("stale-" + std::to_string(i)).empty());
}

void check_same_state_everywhere(test_cluster& cluster) {
  cluster.wait_applied(cluster.highest_commit());
  const kv::store reference = cluster.machine(node_id(1)).contents();
  for (node_id id : cluster.ids()) {
    INFO("node " << id.value);
    CHECK(cluster.machine(id).contents() == reference);
  }
}

// ---------------------------------------------------------------- session_clients

session_clients::session_clients(test_cluster& cluster, int count, std::set<node_id> among)
    : cluster_(cluster), among_(std::move(among)), acknowledged_(count) {
  for (int client = 0; client < count; ++client)
    running_.push_back(asio::co_spawn(cluster.io().context(), run(client), asio::use_future));
}

std::uint64_t session_clients::total_acknowledged() const {
  std::uint64_t total = 0;
  for (const auto& count : acknowledged_) total += count;
  return total;
}

void session_clients::wait_for_total(std::uint64_t total) {
  eventually([&] { return total_acknowledged() >= total; }, "clients get their writes acknowledged");
}

void session_clients::stop() {
  stopping_ = true;
  for (auto& client : running_) {
    REQUIRE(client.wait_for(hang_limit) == std::future_status::ready);
    client.get();
  }
}

std::string session_clients::expected_value(int client) const {
  std::string value;
  for (std::uint64_t sequence = 1; sequence <= acknowledged_[client]; ++sequence)
    value += std::to_string(sequence) + ",";
  return value;
}

asio::awaitable<void> session_clients::run(int client) {
  const std::uint64_t session = static_cast<std::uint64_t>(client) + 1;
  for (std::uint64_t sequence = 1; !stopping_; ++sequence) {
    const std::string command =
        cluster_.command({session, sequence, kv::operation::append, key(client), std::to_string(sequence) + ","});
    result<std::string> answer = co_await propose_to_leader(cluster_, command, among_, 1'000'000);
    if (!answer) throw std::system_error(answer.error(), "a client write was never acknowledged");
    ++acknowledged_[client];
  }
}

void check_every_member_holds(test_cluster& cluster, const session_clients& clients, const std::set<node_id>& members) {
  cluster.wait_applied(cluster.highest_commit(), members);
  std::set<node_id> checked = members;
  if (checked.empty())
    for (node_id id : cluster.ids())
      if (cluster.running(id)) checked.insert(id);
  for (node_id id : checked)
    for (int client = 0; client < clients.count(); ++client) {
      INFO("node " << id.value << ", client " << client);
      CHECK(cluster.value(id, session_clients::key(client)) == clients.expected_value(client));
    }
}

std::set<node_id> all_but(test_cluster& cluster, node_id left_out) {
  std::set<node_id> others;
  for (node_id id : cluster.ids())
    if (id != left_out) others.insert(id);
  return others;
}

}  // namespace coraft::test
