#include <coraft/raft.h>

#include "engine/raft_impl.h"

#include <system_error>

namespace coraft {
namespace {

template <class T>
std::shared_ptr<T> required(std::shared_ptr<T> pointer, const char* name) {
  if (!pointer) throw std::system_error(make_error_code(errc::invalid_argument), std::string(name) + " must not be null");
  return pointer;
}

}  // namespace

std::optional<std::string> raft_options::validate() const {
  if (id == no_node) return "id must not be 0";
  if (tick_interval <= std::chrono::milliseconds::zero()) return "tick_interval must be positive";
  if (auto problem = protocol.validate()) return "protocol." + *problem;
  if (initial_members) {
    if (initial_members->voters.empty()) return "initial_members must have at least one voter";
    if (!initial_members->contains(id)) return "initial_members must include id";
  }
  if (max_pending_proposals == 0) return "max_pending_proposals must be at least 1";
  if (max_pending_bytes == 0) return "max_pending_bytes must be at least 1";
  if (max_apply_queue_bytes == 0) return "max_apply_queue_bytes must be at least 1";
  if (max_pending_reads == 0) return "max_pending_reads must be at least 1";
  if (request_timeout <= std::chrono::milliseconds::zero()) return "request_timeout must be positive";
  return std::nullopt;
}

raft::raft(asio::any_io_executor executor, raft_options options, std::shared_ptr<log_storage> log,
           std::shared_ptr<state_machine> machine, std::shared_ptr<network_factory> network,
           worker_executors workers)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options), required(std::move(log), "log"),
                                   required(std::move(machine), "machine"), required(std::move(network), "network"),
                                   std::move(workers))) {}

raft::~raft() { impl_->abandon(); }

asio::awaitable<void> raft::start() { return impl::start(impl_); }
asio::awaitable<void> raft::shutdown() { return impl::shutdown(impl_); }

asio::awaitable<result<std::string>> raft::propose(std::string command) { return impl_->propose(std::move(command)); }

asio::awaitable<std::vector<result<std::string>>> raft::propose_batch(std::vector<std::string> commands) {
  return impl_->propose_batch(std::move(commands));
}

asio::awaitable<result<std::string>> raft::read(std::string query, read_mode mode) {
  return impl_->read(std::move(query), mode);
}

asio::awaitable<result<void>> raft::add_learner(node_id id, std::string address) {
  return impl_->add_learner(id, std::move(address));
}

asio::awaitable<result<void>> raft::change_membership(std::set<node_id> voters) {
  return impl_->change_membership(std::move(voters));
}

asio::awaitable<result<void>> raft::remove_member(node_id id) { return impl_->remove_member(id); }

asio::awaitable<result<void>> raft::transfer_leadership(node_id to) { return impl_->transfer_leadership(to); }

asio::awaitable<result<log_id>> raft::trigger_snapshot() { return impl_->trigger_snapshot(); }

metrics raft::get_metrics() const { return impl_->get_metrics(); }

asio::awaitable<bool> raft::wait_for(std::function<bool(const metrics&)> condition, std::chrono::milliseconds timeout) {
  return impl::wait_for(impl_, std::move(condition), timeout);
}

asio::awaitable<vote_response> raft::handle_vote(vote_request request) {
  return impl::handle<vote_response>(impl_, std::move(request));
}

asio::awaitable<append_response> raft::handle_append(append_request request) {
  return impl::handle<append_response>(impl_, std::move(request));
}

void raft::handle_append(append_request request, append_reply reply) {
  impl::handle_in_place(impl_, std::move(request), std::move(reply));
}

asio::awaitable<heartbeat_response> raft::handle_heartbeat(heartbeat_request request) {
  return impl::handle<heartbeat_response>(impl_, std::move(request));
}

asio::awaitable<timeout_now_response> raft::handle_timeout_now(timeout_now_request request) {
  return impl::handle<timeout_now_response>(impl_, std::move(request));
}

asio::awaitable<read_index_response> raft::handle_read_index(read_index_request request) {
  return impl::handle<read_index_response>(impl_, std::move(request));
}

asio::awaitable<snapshot_response> raft::handle_snapshot(snapshot_request request, snapshot_source& data) {
  return impl::handle_snapshot(impl_, std::move(request), data);
}

}  // namespace coraft
