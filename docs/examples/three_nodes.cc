// A replicated counter on three coraft nodes in one process. docs/embedding.md
// walks through this file; tests/unit/engine builds and runs it.
#include <coraft/in_process_network.h>
#include <coraft/memory_log_storage.h>
#include <coraft/raft.h>
#include <coraft/state_machine.h>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <chrono>
#include <cstdint>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

// ---------------------------------------------------------------- the state machine

// Commands are decimal numbers to add; every command answers the new total.
// The only query, "total", answers the current total.
class counter final : public coraft::state_machine {
 public:
  asio::awaitable<coraft::applied_state> read_applied_state() override {
    std::lock_guard lock(mutex_);
    co_return applied_;
  }

  asio::awaitable<std::vector<std::string>> apply(std::vector<coraft::log_entry> entries) override {
    std::lock_guard lock(mutex_);
    std::vector<std::string> answers;
    for (const coraft::log_entry& entry : entries) {
      applied_.last_applied = entry.id();
      answers.push_back(apply_one(entry));
    }
    co_return answers;
  }

  asio::awaitable<std::string> query(std::string request) override {
    std::lock_guard lock(mutex_);
    co_return request == "total" ? std::to_string(total_) : "unknown query";
  }

  // Snapshots: the whole state is one number, so a snapshot is its text.
  asio::awaitable<coraft::snapshot_meta> build_snapshot() override {
    std::lock_guard lock(mutex_);
    snapshot_ = {coraft::snapshot_meta{applied_.last_applied, applied_.config}, std::to_string(total_)};
    co_return snapshot_->meta;
  }

  asio::awaitable<std::optional<coraft::snapshot_meta>> current_snapshot() override {
    std::lock_guard lock(mutex_);
    if (!snapshot_) co_return std::nullopt;
    co_return snapshot_->meta;
  }

  asio::awaitable<std::unique_ptr<coraft::snapshot_source>> open_snapshot() override {
    std::lock_guard lock(mutex_);
    co_return std::make_unique<one_chunk>(snapshot_->data);
  }

  asio::awaitable<std::unique_ptr<coraft::snapshot_sink>> begin_receive_snapshot(coraft::snapshot_meta meta) override {
    co_return std::make_unique<receiver>(*this, std::move(meta));
  }

  asio::awaitable<void> install_received_snapshot(coraft::snapshot_meta meta) override {
    std::lock_guard lock(mutex_);
    if (!received_ || received_->meta != meta) throw std::system_error(std::make_error_code(std::errc::invalid_argument));
    total_ = std::stoll(received_->data);
    applied_ = {meta.last_included, meta.config};
    snapshot_ = std::move(received_);
    received_.reset();
    co_return;
  }

 private:
  struct stored_snapshot {
    coraft::snapshot_meta meta;
    std::string data;
  };

  // A snapshot source that yields its (frozen) copy of the data once.
  class one_chunk final : public coraft::snapshot_source {
   public:
    explicit one_chunk(std::string data) : data_(std::move(data)) {}
    asio::awaitable<std::optional<std::string>> next_chunk() override {
      if (done_) co_return std::nullopt;
      done_ = true;
      co_return data_;
    }

   private:
    std::string data_;
    bool done_ = false;
  };

  // Collects chunks beside the live state until install_received_snapshot.
  class receiver final : public coraft::snapshot_sink {
   public:
    receiver(counter& machine, coraft::snapshot_meta meta) : machine_(machine), meta_(std::move(meta)) {}
    asio::awaitable<void> write_chunk(std::string chunk) override {
      data_ += chunk;
      co_return;
    }
    asio::awaitable<void> finish() override {
      std::lock_guard lock(machine_.mutex_);
      machine_.received_ = stored_snapshot{meta_, data_};
      co_return;
    }

   private:
    counter& machine_;
    coraft::snapshot_meta meta_;
    std::string data_;
  };

  std::string apply_one(const coraft::log_entry& entry) {
    switch (entry.kind) {
      case coraft::entry_kind::command:
        try {
          total_ += std::stoll(std::string(entry.payload.view()));
          return std::to_string(total_);
        } catch (const std::exception&) {
          return "not a number";  // a bad command is answered, never fatal
        }
      case coraft::entry_kind::membership:
        if (auto config = coraft::decode_membership(entry.payload.view())) applied_.config = *config;
        return {};
      case coraft::entry_kind::noop: return {};
    }
    return {};
  }

  std::mutex mutex_;
  std::int64_t total_ = 0;
  coraft::applied_state applied_;
  std::optional<stored_snapshot> snapshot_;
  std::optional<stored_snapshot> received_;
};

// ---------------------------------------------------------------- the cluster

struct member {
  std::shared_ptr<coraft::memory_log_storage> log = std::make_shared<coraft::memory_log_storage>();
  std::shared_ptr<counter> machine = std::make_shared<counter>();
  std::unique_ptr<coraft::raft> node;
};

// Sends `command` to node 1 first and then wherever not_leader answers point.
// `leader` ends up naming the node that accepted it.
asio::awaitable<coraft::result<std::string>> propose(std::vector<member>& members, coraft::node_id& leader,
                                                     std::string command) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    coraft::result<std::string> answer = co_await members[leader.value - 1].node->propose(command);
    if (answer.error() != coraft::errc::not_leader) co_return answer;
    if (answer.leader().id != coraft::no_node) {
      leader = answer.leader().id;
    } else {  // no leader known yet: an election is under way
      asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::use_awaitable);
    }
  }
  co_return coraft::make_error_code(coraft::errc::not_leader);
}

asio::awaitable<int> run_client(std::vector<member>& members) {
  coraft::node_id leader(1);
  for (int amount : {5, 10, 27}) {
    coraft::result<std::string> answer = co_await propose(members, leader, std::to_string(amount));
    if (!answer) {
      std::cerr << "proposal failed: " << answer.error().message() << "\n";
      co_return 1;
    }
    std::cout << "node " << leader.value << " added " << amount << ", total " << *answer << "\n";
  }
  coraft::result<std::string> total = co_await members[leader.value - 1].node->read("total");
  std::cout << "linearizable read of the total: " << (total ? *total : total.error().message()) << "\n";
  co_return total && *total == "42" ? 0 : 1;
}

int main() {
  asio::io_context io;
  coraft::in_process_network network;

  coraft::membership founders;
  for (std::uint64_t id = 1; id <= 3; ++id) founders.voters.insert(coraft::node_id(id));

  std::vector<member> members(3);
  for (std::uint64_t id = 1; id <= 3; ++id) {
    coraft::raft_options options;
    options.id = coraft::node_id(id);
    options.initial_members = founders;
    member& m = members[id - 1];
    m.node = std::make_unique<coraft::raft>(io.get_executor(), options, m.log, m.machine,
                                            network.factory_for(options.id));
    network.attach(options.id, *m.node, io.get_executor());
  }

  auto program = [&]() -> asio::awaitable<int> {
    for (member& m : members) co_await m.node->start();
    const int status = co_await run_client(members);
    for (member& m : members) co_await m.node->shutdown();
    co_return status;
  };
  std::future<int> status = asio::co_spawn(io, program(), asio::use_future);

  // Two threads run every node's strand and the client.
  auto keep_running = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&io] { io.run(); });
  const int exit_code = status.get();
  keep_running.reset();
  for (std::thread& thread : threads) thread.join();
  return exit_code;
}
