#include "engine/raft_impl.h"

#include "engine/spawn.h"

#include <coraft/logging.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <random>
#include <type_traits>
#include <utility>
#include <variant>

namespace coraft {
namespace {

using engine::clock;

template <class Body>
constexpr bool is_response = std::is_same_v<Body, vote_response> || std::is_same_v<Body, append_response> ||
                             std::is_same_v<Body, heartbeat_response> || std::is_same_v<Body, timeout_now_response> ||
                             std::is_same_v<Body, snapshot_response> || std::is_same_v<Body, read_index_response>;

// The network call that carries each kind of request.
asio::awaitable<vote_response> rpc(network& client, vote_request request) { return client.vote(std::move(request)); }
asio::awaitable<append_response> rpc(network& client, append_request request) {
  return client.append(std::move(request));
}
asio::awaitable<heartbeat_response> rpc(network& client, heartbeat_request request) {
  return client.heartbeat(std::move(request));
}
asio::awaitable<timeout_now_response> rpc(network& client, timeout_now_request request) {
  return client.timeout_now(std::move(request));
}
asio::awaitable<read_index_response> rpc(network& client, read_index_request request) {
  return client.read_index(std::move(request));
}

std::uint64_t random_seed() {
  std::random_device device;
  return (std::uint64_t{device()} << 32) | device();
}

}  // namespace

raft::impl::impl(asio::any_io_executor executor, raft_options options, std::shared_ptr<log_storage> log,
                 std::shared_ptr<state_machine> machine, std::shared_ptr<network_factory> network,
                 worker_executors workers)
    : options_(std::move(options)),
      log_(std::move(log)),
      machine_(std::move(machine)),
      strand_(asio::make_strand(executor)),
      log_worker_(std::move(workers.log)),
      apply_worker_(std::move(workers.state_machine)),
      writes_(log_worker_.executor()),
      applies_(apply_worker_.executor()),
      loops_finished_(executor, 2),
      peers_(std::move(network)),
      tick_timer_(strand_) {
  published_.id = options_.id;
  published_.role = "stopped";
}

// ---------------------------------------------------------------- starting

asio::awaitable<void> raft::impl::start(std::shared_ptr<impl> self) {
  if (auto problem = self->options_.validate())
    throw std::system_error(make_error_code(errc::invalid_argument), "raft_options: " + *problem);
  if (self->start_called_.exchange(true))
    throw std::system_error(make_error_code(errc::invalid_argument), "raft::start() may be called once");
  self->log_worker_.start();
  self->apply_worker_.start();
  try {
    core::restored_state restored = co_await restore(self);
    const bool brand_new = restored.snapshot.last_included == log_id{} && restored.entries.empty() &&
                           restored.applied == index_t{};
    const bool bootstrap = brand_new && self->options_.initial_members.has_value();
    auto serve = [self, &restored, bootstrap]() -> asio::awaitable<void> {
      self->begin_serving(std::move(restored), bootstrap);
      co_return;
    };  // named: see engine::async_answer
    co_await asio::co_spawn(self->strand_, std::move(serve), asio::use_awaitable);
  } catch (...) {
    self->writes_.close();
    self->applies_.close();
    self->log_worker_.join();
    self->apply_worker_.join();
    self->shut_down_ = true;
    throw;
  }
}

void raft::impl::begin_serving(core::restored_state restored, bool bootstrap) {
  if (phase_ != phase::created)
    throw std::system_error(make_error_code(errc::shutting_down), "raft::shutdown() came before start() finished");
  node_.emplace(options_.id, options_.protocol, std::move(restored), random_seed());
  if (bootstrap) node_->bootstrap(*options_.initial_members);
  handed_to_apply_ = node_->applying_index();
  last_snapshot_index_ = node_->snapshot().last_included.index;
  last_term_ = node_->term();
  phase_ = phase::serving;
  spawn_loops();
  asio::co_spawn(strand_, tick_loop(shared_from_this()), engine::logging_completion("coraft tick loop"));
  log(log_level::info, "node ", options_.id, " started at term ", node_->term(), " with log up to ",
      node_->log().last_id());
  publish_metrics(true);
  schedule_drain();
}

void raft::impl::spawn_loops() {
  engine::persistence_hooks persisted{
      .on_durable =
          [this](std::uint64_t write_id, std::size_t entries) {
            log_writes_.fetch_add(1, std::memory_order_relaxed);
            entries_written_.fetch_add(entries, std::memory_order_relaxed);
            // Sequentially consistent with the strand's side in
            // ask_for_durable_news(): it sees this write, or this thread sees it waiting.
            durable_write_id_.store(write_id);
            if (waits_for_own_write_.load()) on_strand([](impl& e) { e.on_durable(); });
          },
      .on_failure = [this](std::string reason) { on_strand([=](impl& e) { e.fail_stop("log storage: " + reason); }); },
  };
  engine::apply_hooks applied{
      .on_applied = [this](index_t last, std::uint64_t bytes,
                           std::size_t entries) { on_strand([=](impl& e) { e.on_applied(last, bytes, entries); }); },
      .on_snapshot_built = [this](snapshot_meta meta,
                                  std::uint64_t request) { on_strand([=](impl& e) { e.on_snapshot_built(meta, request); }); },
      .on_snapshot_installed = [this](snapshot_meta meta) { on_strand([=](impl& e) { e.on_snapshot_installed(meta); }); },
      .on_failure = [this](std::string reason) { on_strand([=](impl& e) { e.fail_stop("state machine: " + reason); }); },
  };
  // The completions hold the engine, so it outlives both loops; ~raft() and
  // shutdown() join the loops before letting go of it.
  asio::co_spawn(log_worker_.executor(), engine::run_persistence(*log_, writes_, std::move(persisted)),
                 [self = shared_from_this()](std::exception_ptr error) { self->loop_finished("persistence loop", error); });
  asio::co_spawn(apply_worker_.executor(), engine::run_apply_loop(*machine_, applies_, std::move(applied)),
                 [self = shared_from_this()](std::exception_ptr error) { self->loop_finished("apply loop", error); });
}

void raft::impl::loop_finished(std::string_view loop, std::exception_ptr error) {
  engine::log_exception(loop, error);
  loops_finished_.try_send(asio::error_code(), true);
}

// Ticks follow the wall clock: each wake-up ticks as often as intervals have
// passed, so a busy strand does not slow the node's clock (a leader whose
// clock runs slow would overrate its lease). After a long stall at most one
// election timeout's worth is ticked at once: enough to expire any lease and
// start an election, without a burst of stale heartbeats.
asio::awaitable<void> raft::impl::tick_loop(std::shared_ptr<impl> self) {
  const auto interval = self->options_.tick_interval;
  const std::uint64_t max_catch_up = self->options_.protocol.election_timeout_max_ticks;
  const clock::time_point epoch = clock::now();
  std::uint64_t ticked = 0;
  while (self->phase_ == phase::serving) {
    self->tick_timer_.expires_at(epoch + interval * static_cast<std::int64_t>(ticked + 1));
    auto [error] = co_await self->tick_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (error || self->phase_ != phase::serving) co_return;
    const std::uint64_t due = static_cast<std::uint64_t>((clock::now() - epoch) / interval);
    self->on_ticks(std::min(due - ticked, max_catch_up));
    ticked = due;
  }
}

void raft::impl::on_ticks(std::uint64_t ticks) {
  for (std::uint64_t i = 0; i < ticks; ++i) node_->tick();
  const clock::time_point now = clock::now();
  proposals_.expire(now);
  reads_.expire(now);
  expire_membership_and_transfers(now);
  drain(true);
}

// ---------------------------------------------------------------- public operations

namespace {

// Holds places among the admitted proposals until the proposals are answered.
class admission {
 public:
  admission(std::atomic<std::size_t>& admitted, std::size_t places) : admitted_(admitted), places_(places) {}
  admission(const admission&) = delete;
  admission& operator=(const admission&) = delete;
  ~admission() { admitted_.fetch_sub(places_, std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t>& admitted_;
  std::size_t places_;
};

}  // namespace

std::optional<result<std::string>> raft::impl::refuse_at_admission(std::size_t bytes) {
  if (bytes > options_.max_pending_bytes) {
    proposals_refused_at_admission_.fetch_add(1, std::memory_order_relaxed);
    return result<std::string>(make_error_code(errc::invalid_argument));
  }
  if (proposals_admitted_.fetch_add(1, std::memory_order_relaxed) >= options_.max_pending_proposals) {
    proposals_admitted_.fetch_sub(1, std::memory_order_relaxed);
    proposals_refused_at_admission_.fetch_add(1, std::memory_order_relaxed);
    return result<std::string>(make_error_code(errc::overloaded), published_hint(options_.id));
  }
  return std::nullopt;
}

asio::awaitable<result<std::string>> raft::impl::propose(std::string command) {
  const std::shared_ptr<impl> self = shared_from_this();
  if (std::optional<result<std::string>> refusal = refuse_at_admission(command.size())) co_return std::move(*refusal);
  const admission admitted(proposals_admitted_, 1);
  auto registrar = [self, command = std::move(command)](auto done) mutable {
    self->enqueue_proposal(std::move(command), std::move(done));
  };  // named: see engine::async_answer
  co_return co_await engine::async_answer<std::string>(std::move(registrar));
}

asio::awaitable<std::vector<result<std::string>>> raft::impl::propose_batch(std::vector<std::string> commands) {
  const std::shared_ptr<impl> self = shared_from_this();
  std::vector<result<std::string>> answers(commands.size());
  std::vector<std::size_t> admitted_at;  // where the admitted commands' answers go
  std::vector<std::string> admitted_commands;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (std::optional<result<std::string>> refusal = refuse_at_admission(commands[i].size())) {
      answers[i] = std::move(*refusal);
    } else {
      admitted_at.push_back(i);
      admitted_commands.push_back(std::move(commands[i]));
    }
  }
  if (admitted_at.empty()) co_return answers;
  const admission admitted(proposals_admitted_, admitted_at.size());
  auto registrar = [self, commands = std::move(admitted_commands)](auto done) mutable {
    const std::size_t count = commands.size();
    self->enqueue_proposals(std::move(commands), engine::split(std::move(done), count));
  };  // named: see engine::async_answer
  // split() answers with every part's answer, never with an error of its own.
  result<std::vector<result<std::string>>> parts =
      co_await engine::async_answer<std::vector<result<std::string>>>(std::move(registrar));
  for (std::size_t k = 0; k < admitted_at.size(); ++k) answers[admitted_at[k]] = std::move((*parts)[k]);
  co_return answers;
}

asio::awaitable<result<std::string>> raft::impl::read(std::string query, read_mode mode) {
  return engine::async_answer<std::string>([self = shared_from_this(), query = std::move(query), mode](auto done) mutable {
    self->on_strand([query = std::move(query), mode, done = std::move(done)](impl& engine) mutable {
      engine.accept_read(std::move(query), mode, std::move(done));
    });
  });
}

metrics raft::impl::get_metrics() const {
  metrics m;
  {
    std::lock_guard lock(metrics_mutex_);
    m = published_;
  }
  m.totals.proposals_refused += proposals_refused_at_admission_.load(std::memory_order_relaxed);
  return m;
}

// For answers given off the strand: the address as of the last published
// membership.
leader_hint raft::impl::published_hint(node_id leader) const {
  std::lock_guard lock(metrics_mutex_);
  leader_hint hint{leader, {}};
  if (auto found = published_.config.addresses.find(leader); found != published_.config.addresses.end())
    hint.address = found->second;
  return hint;
}

asio::awaitable<bool> raft::impl::wait_for(std::shared_ptr<impl> self, std::function<bool(const metrics&)> condition,
                                           std::chrono::milliseconds timeout) {
  const clock::time_point deadline = clock::now() + timeout;
  for (;;) {
    if (condition(self->get_metrics())) co_return true;
    if (clock::now() >= deadline) co_return false;
    // Woken by the next change or tick; an error means the node stopped
    // serving, after which its metrics no longer change.
    auto registrar = [self](auto done) mutable {
      self->on_strand([done = std::move(done)](impl& engine) mutable { engine.accept_watcher(std::move(done)); });
    };  // named: see async_answer
    result<bool> woken = co_await engine::async_answer<bool>(std::move(registrar));
    if (!woken) co_return condition(self->get_metrics());
  }
}

// ---------------------------------------------------------------- inputs

void raft::impl::enqueue_proposal(std::string command, engine::completion<std::string> done) {
  std::unique_lock lock(inbox_mutex_);
  inbox_.emplace_back(std::move(command), std::move(done));
  wake_inbox_handler(std::move(lock));
}

void raft::impl::enqueue_proposals(std::vector<std::string> commands,
                                   std::vector<engine::completion<std::string>> done) {
  std::unique_lock lock(inbox_mutex_);
  for (std::size_t i = 0; i < commands.size(); ++i) inbox_.emplace_back(std::move(commands[i]), std::move(done[i]));
  wake_inbox_handler(std::move(lock));
}

void raft::impl::wake_inbox_handler(std::unique_lock<std::mutex> inbox_lock) {
  if (std::exchange(inbox_handler_posted_, true)) return;
  inbox_lock.unlock();
  on_strand([](impl& engine) { engine.accept_inbox(); });
}

void raft::impl::accept_inbox() {
  std::vector<std::pair<std::string, engine::completion<std::string>>> arrived;
  {
    std::lock_guard lock(inbox_mutex_);
    arrived = std::exchange(inbox_, {});
    inbox_handler_posted_ = false;
  }
  for (auto& [command, done] : arrived) accept_proposal(std::move(command), std::move(done));
}

bool raft::impl::overloaded(std::uint64_t command_bytes) const {
  return proposals_.bytes() + command_bytes > options_.max_pending_bytes ||
         apply_queue_bytes_ > options_.max_apply_queue_bytes;
}

void raft::impl::accept_proposal(std::string command, engine::completion<std::string> done) {
  if (phase_ != phase::serving) return done(refusal_);
  const std::uint64_t bytes = command.size();
  if (node_->current_role() == core::role::leader && overloaded(bytes)) {
    ++totals_.proposals_refused;
    return done(result<std::string>(make_error_code(errc::overloaded), hint_for(options_.id)));
  }
  core::proposal proposal = node_->propose(std::move(command));
  if (proposal.error) {
    ++totals_.proposals_refused;
    return done(result<std::string>(proposal.error, hint_for(proposal.leader_hint)));
  }
  ++totals_.proposals_accepted;
  proposals_.add(proposal.id, clock::now() + options_.request_timeout, bytes, std::move(done));
  schedule_drain();
}

void raft::impl::accept_read(std::string query, read_mode mode, engine::completion<std::string> done) {
  if (phase_ != phase::serving) return done(refusal_);
  if (reads_.size() >= options_.max_pending_reads)
    return done(result<std::string>(make_error_code(errc::overloaded), hint_for(node_->leader())));
  const std::uint64_t id = reads_.add(clock::now() + options_.request_timeout, std::move(query), std::move(done));
  node_->read_index(id, mode);
  schedule_drain();
}

void raft::impl::accept_request(message_body request, engine::completion<message_body> done) {
  if (phase_ != phase::serving) return done(refusal_);
  // A snapshot request comes here once its data is staged in the state
  // machine (handle_snapshot): the only snapshot the node may ask to install.
  if (auto* offer = std::get_if<snapshot_request>(&request)) received_snapshot_ = offer->meta;
  // The node echoes this id in its response, which is how the response finds
  // its way back here whenever the node produces it.
  const std::uint64_t id = ++last_request_id_;
  std::visit([id](message_header& header) { header.request_id = id; }, request);
  responders_.emplace(id, std::move(done));
  node_->step(request);
  schedule_drain();
}

namespace {

// Out of line: inlined into the destructor of a completion that was never
// answered, GCC 12 takes the value of its error result for an uninitialized
// one (-Wmaybe-uninitialized).
[[gnu::noinline]] void give_append_answer(const append_reply& reply, result<message_body>&& answer) {
  if (!answer) return reply(answer.error(), append_response{});
  reply({}, std::get<append_response>(std::move(*answer)));
}

}  // namespace

void raft::impl::handle_in_place(std::shared_ptr<impl> self, append_request request, append_reply reply) {
  auto give = [reply = std::move(reply)](result<message_body>&& answer) {
    give_append_answer(reply, std::move(answer));
  };
  engine::completion<message_body> done(engine::answered_in_place<decltype(give)>{std::move(give)});
  self->on_strand([request = message_body(std::move(request)), done = std::move(done)](impl& engine) mutable {
    engine.accept_request(std::move(request), std::move(done));
  });
}

void raft::impl::accept_watcher(engine::completion<bool> done) {
  if (phase_ != phase::serving) return done(refusal_);
  watchers_.push_back(std::move(done));
}

void raft::impl::on_durable() {
  if (phase_ != phase::serving) return;
  schedule_drain();
}

// The node hears here, at the start of every drain, how far the log is
// durable, so that a write whose news need not come at once costs no wake-up
// of its own: a tick drains at least once per tick interval.
void raft::impl::hear_durable_writes() {
  const std::uint64_t durable = durable_write_id_.load(std::memory_order_acquire);
  if (durable == heard_durable_write_id_) return;
  heard_durable_write_id_ = durable;
  node_->on_persisted(durable);
}

// The persistence loop wakes the strand for a durable write only while the
// node waits for one; a write that became durable before the node began to
// wait is heard here.
void raft::impl::ask_for_durable_news() {
  const bool waits = node_->waits_for_own_write();
  waits_for_own_write_.store(waits);
  if (waits && durable_write_id_.load() != heard_durable_write_id_) schedule_drain();
}

void raft::impl::on_applied(index_t last, std::uint64_t bytes, std::size_t entries) {
  apply_queue_bytes_ -= bytes;
  totals_.entries_applied += entries;
  if (phase_ != phase::serving) return;
  node_->on_applied(last);
  snapshot_if_due();
  schedule_drain();
}

void raft::impl::on_response(node_id peer, std::optional<message_body> response, bool snapshot) {
  if (phase_ != phase::serving) return;
  if (response) {
    peers_.heard_from(peer, clock::now());
    node_->step(*response);
  } else if (snapshot) {
    node_->report_snapshot_failed(peer);
  } else {
    node_->report_unreachable(peer);
  }
  schedule_drain();
}

// ---------------------------------------------------------------- outputs

// Inputs arriving together share one drain: one log write and one append per
// peer for all of them.
void raft::impl::schedule_drain() {
  if (drain_scheduled_) return;
  drain_scheduled_ = true;
  on_strand([](impl& engine) {
    engine.drain_scheduled_ = false;
    engine.drain(false);
  });
}

// The metrics are published before the state machine gets the new entries, so
// that a proposer who hears its answer finds the commit in get_metrics(); and
// before membership and transfer waiters look at the drained node, so that
// their callers find what answered them there too.
void raft::impl::drain(bool with_peers) {
  if (phase_ == phase::serving) hear_durable_writes();
  while (phase_ == phase::serving && node_->has_output()) process(node_->take_output());
  if (phase_ == phase::serving) ask_for_durable_news();
  publish_metrics(with_peers);
  if (phase_ == phase::serving) {
    promote_when_caught_up();
    settle_transfers();
  }
  applies_.push_all(std::move(to_apply_));
  to_apply_.clear();
}

// The obligations of core::output, in its order.
void raft::impl::process(core::output out) {
  if (out.snapshot_to_install && !begin_install(*out.snapshot_to_install)) return;
  if (out.write_id != 0)
    queue_log_item(engine::pending_write{out.write_id, std::move(out.state), std::move(out.entries), out.commit_hint});
  dispatch(out.messages);
  if (!out.messages_after_write.empty()) answer_after_write(out.messages_after_write);
  if (!out.committed.empty()) hand_to_apply(std::move(out.committed));
  for (const core::read_state& ready : out.reads_ready) reads_.ready(ready.id, ready.index);
  for (const core::failed_read& failed : out.reads_failed)
    reads_.fail(failed.id, result<std::string>(failed.error, hint_for(failed.leader_hint)));
  serve_confirmed_reads();
}

// Responses answer the incoming request they carry the id of; requests go to
// their peer, each on a coroutine of its own so that none waits behind another.
void raft::impl::dispatch(std::vector<message>& messages) {
  for (message& msg : messages) {
    std::visit(
        [&](auto& body) {
          using body_type = std::decay_t<decltype(body)>;
          if constexpr (is_response<body_type>) {
            answer_request(body.request_id, std::move(body));
          } else {
            send_request(msg.to, std::move(body));
          }
        },
        msg.body);
  }
}

void raft::impl::answer_request(std::uint64_t request_id, message_body response) {
  auto waiting = responders_.find(request_id);
  if (waiting == responders_.end()) return;
  waiting->second(std::move(response));
  responders_.erase(waiting);
}

// The answers travel in the log's stream behind the write they wait for
// (which the stream holds already, or which this output queued just before),
// and leave from the log's thread once it is durable.
void raft::impl::answer_after_write(std::vector<core::message_after_write>& messages) {
  engine::answers_after_write due;
  for (core::message_after_write& held : messages) {
    auto waiting = responders_.find(header_of(held.msg.body).request_id);
    if (waiting == responders_.end()) continue;
    due.answers.emplace_back(std::move(waiting->second), std::move(held.msg.body));
    responders_.erase(waiting);
  }
  if (!due.answers.empty()) queue_log_item(std::move(due));
}

template <class Request>
void raft::impl::send_request(node_id peer, Request request) {
  ++totals_.messages_sent;
  if constexpr (std::is_same_v<Request, append_request>) totals_.entries_sent += request.entries.size();
  // The coroutine starts here, inline on the strand, so the client sees its
  // calls in the order the node sent them.
  asio::co_spawn(strand_, call_peer(shared_from_this(), peers_.client_for(peer, node_->config()), peer, std::move(request)),
                 engine::logging_completion("coraft request to a peer"));
}

template <class Request>
asio::awaitable<void> raft::impl::call_peer(std::shared_ptr<impl> self, std::shared_ptr<network> client, node_id peer,
                                            Request request) {
  std::optional<message_body> response;
  try {
    if constexpr (std::is_same_v<Request, snapshot_request>) {
      response.emplace(co_await self->stream_snapshot(*client, std::move(request)));
    } else {
      response.emplace(co_await rpc(*client, std::move(request)));
    }
  } catch (const std::exception& failure) {
    log(log_level::debug, "node ", self->options_.id, ": request to ", peer, " failed: ", failure.what());
  }
  self->on_response(peer, std::move(response), std::is_same_v<Request, snapshot_request>);
}

void raft::impl::hand_to_apply(std::vector<log_entry> committed) {
  if (membership_change_) membership_change_->on_committed(committed);
  engine::apply_batch batch;
  batch.waiters = proposals_.take_committed(committed);
  for (const log_entry& entry : committed) batch.bytes += entry.payload.size();
  handed_to_apply_ = committed.back().index;
  apply_queue_bytes_ += batch.bytes;
  batch.entries = std::move(committed);
  to_apply_.push_back(std::move(batch));
}

// A confirmed read goes into the apply queue behind the entries up to its
// index: the state machine answers it after applying them.
void raft::impl::serve_confirmed_reads() {
  for (engine::read_job& job : reads_.take_servable(handed_to_apply_)) to_apply_.push_back(std::move(job));
}

// Every log item waits behind the snapshot installs queued before it.
void raft::impl::queue_log_item(engine::log_item item) {
  if (log_items_behind_installs_.empty()) {
    writes_.push(std::move(item));
  } else {
    log_items_behind_installs_.back().push_back(std::move(item));
  }
}

// ---------------------------------------------------------------- stopping

asio::awaitable<void> raft::impl::shutdown(std::shared_ptr<impl> self) {
  auto stop = [self]() -> asio::awaitable<bool> { co_return self->begin_shutdown(); };  // named: see engine::async_answer
  const bool loops_running = co_await asio::co_spawn(self->strand_, std::move(stop), asio::use_awaitable);
  if (!loops_running) co_return;
  for (int loop = 0; loop < 2; ++loop)
    co_await self->loops_finished_.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
  self->log_worker_.join();
  self->apply_worker_.join();
  self->shut_down_ = true;
  log(log_level::info, "node ", self->options_.id, " shut down");
}

// True when the loops still have to be waited for (they were started and
// this is the first shutdown).
bool raft::impl::begin_shutdown() {
  const bool loops_started = phase_ == phase::serving || phase_ == phase::failed;
  stop_serving(make_error_code(errc::shutting_down));
  phase_ = phase::stopped;
  return loops_started;
}

// Answers every waiter with `reason` and closes the loops' queues: the write
// in progress finishes, queued writes are dropped (nothing acknowledged
// depends on them), and queued applies and reads are answered.
void raft::impl::stop_serving(std::error_code reason) {
  if (phase_ != phase::serving) return;
  phase_ = reason == errc::storage_failed ? phase::failed : phase::stopped;
  refusal_ = reason;
  tick_timer_.cancel();
  proposals_.fail_all(reason);
  reads_.fail_all(reason);
  for (auto& [id, done] : responders_) done(reason);
  responders_.clear();
  for (auto& [request, done] : std::exchange(snapshot_waiters_, {})) done(reason);
  fail_membership_and_transfers(reason);
  log_items_behind_installs_.clear();
  writes_.close();
  std::vector<engine::apply_item> unapplied = applies_.close();
  engine::fail_items(unapplied, reason);
  peers_.clear();
  publish_metrics(false);
}

void raft::impl::fail_stop(const std::string& reason) {
  if (phase_ != phase::serving) return;
  log(log_level::error, "node ", options_.id, " stopped serving: ", reason);
  {
    std::lock_guard lock(metrics_mutex_);
    published_.stop_reason = reason;
  }
  stop_serving(make_error_code(errc::storage_failed));
}

void raft::impl::abandon() {
  if (!start_called_ || shut_down_) return;
  log(log_level::warning, "node ", options_.id, " destroyed without shutdown()");
  writes_.close();
  applies_.close();
  log_worker_.join();
  apply_worker_.join();
  on_strand([](impl& engine) { engine.stop_serving(make_error_code(errc::shutting_down)); });
}

// ---------------------------------------------------------------- metrics

void raft::impl::publish_metrics(bool with_peers) {
  if (node_) note_role_change();
  std::vector<peer_metrics> peers;
  if (with_peers && node_) peers = peer_progress();
  bool config_changed = false;
  {
    std::lock_guard lock(metrics_mutex_);
    metrics& m = published_;
    if (node_) {
      m.role = phase_ == phase::serving ? core::to_string(node_->current_role()) : "stopped";
      m.term = node_->term();
      m.leader = node_->leader();
      m.last_log = node_->log().last_index();
      m.persisted = node_->persisted_index();
      m.commit = node_->commit_index();
      m.applied = node_->applied_index();
      m.snapshot = node_->snapshot().last_included;
      config_changed = m.config != node_->config();
      if (config_changed) m.config = node_->config();
    }
    if (with_peers) m.peers = std::move(peers);
    m.pending_proposals = proposals_.size();
    m.pending_bytes = proposals_.bytes();
    m.pending_reads = reads_.size();
    m.apply_queue_bytes = apply_queue_bytes_;
    m.totals = totals_;
    m.totals.log_writes = log_writes_.load(std::memory_order_relaxed);
    m.totals.entries_written = entries_written_.load(std::memory_order_relaxed);
  }
  if (config_changed) peers_.keep_only(node_->config());
  for (engine::completion<bool>& watcher : std::exchange(watchers_, {})) {
    if (phase_ == phase::serving) {
      watcher(true);
    } else {
      watcher(refusal_);
    }
  }
}

void raft::impl::note_role_change() {
  const core::role role = node_->current_role();
  const term_t term = node_->term();
  if (role == core::role::candidate && (last_role_ != role || last_term_ != term)) ++totals_.elections_started;
  if (role != last_role_ && role == core::role::leader)
    log(log_level::info, "node ", options_.id, " leads in term ", term);
  // Within its own term a leader steps down only when check-quorum heard from
  // no quorum within an election timeout, or when it left the configuration.
  if (last_role_ == core::role::leader && role != core::role::leader)
    log(log_level::info, "node ", options_.id, " stopped leading in term ", last_term_,
        term == last_term_ ? " (check-quorum, or it left the configuration)" : " (it saw a higher term)");
  last_role_ = role;
  last_term_ = term;
}

std::vector<peer_metrics> raft::impl::peer_progress() const {
  std::vector<peer_metrics> peers;
  if (node_->current_role() != core::role::leader) return peers;
  const clock::time_point now = clock::now();
  for (node_id member : node_->config().all_members()) {
    const core::progress* pr = node_->progress_of(member);
    if (!pr) continue;
    peer_metrics& p = peers.emplace_back();
    p.id = member;
    switch (pr->state()) {
      case core::replication_state::probe: p.state = "probe"; break;
      case core::replication_state::replicate: p.state = "replicate"; break;
      case core::replication_state::snapshot: p.state = "snapshot"; break;
    }
    p.match = pr->match();
    p.next = pr->next();
    p.inflight_appends = pr->inflight().count();
    p.inflight_bytes = pr->inflight().bytes();
    if (auto contact = peers_.last_contact(member))
      p.since_last_contact = std::chrono::duration_cast<std::chrono::milliseconds>(now - *contact);
  }
  return peers;
}

leader_hint raft::impl::hint_for(node_id leader) const {
  leader_hint hint{leader, {}};
  if (!node_) return hint;
  const auto& addresses = node_->config().addresses;
  if (auto found = addresses.find(leader); found != addresses.end()) hint.address = found->second;
  return hint;
}

}  // namespace coraft
