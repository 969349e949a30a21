// Snapshots in the engine: restoring a node from its snapshot and log tail,
// building snapshots and compacting the log behind them, streaming a snapshot
// to a follower, and receiving and installing one from the leader.
#include "engine/raft_impl.h"

#include <coraft/logging.h>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <sstream>
#include <utility>

namespace coraft {
namespace {

// What the state machine holds when the node starts.
struct machine_state {
  applied_state applied;
  std::optional<snapshot_meta> snapshot;
};

asio::awaitable<machine_state> read_machine_state(std::shared_ptr<state_machine> machine) {
  machine_state state;
  state.applied = co_await machine->read_applied_state();
  state.snapshot = co_await machine->current_snapshot();
  co_return state;
}

// What the log storage holds when the node starts, its entries from `from` on.
struct stored_log {
  hard_state state;
  log_state shape;
  std::vector<log_entry> entries;
  std::optional<index_t> committed;
};

asio::awaitable<stored_log> read_stored_log(std::shared_ptr<log_storage> log, index_t from) {
  stored_log stored;
  stored.state = co_await log->read_hard_state();
  stored.shape = co_await log->read_log_state();
  stored.entries = co_await log->read_entries(std::max(stored.shape.purged.index + 1, from), stored.shape.last.index);
  stored.committed = co_await log->read_committed();
  co_return stored;
}

[[noreturn]] void throw_inconsistent(const std::string& what) {
  throw std::system_error(make_error_code(errc::storage_failed), what);
}

// Whether the log continues the snapshot ending at `base`: it was purged
// exactly there, or it holds that entry (read first, from base.index on).
bool continues(const stored_log& stored, log_id base) {
  return stored.shape.purged == base || (!stored.entries.empty() && stored.entries.front().id() == base);
}

struct restore_plan {
  core::restored_state restored;
  // The log does not continue the snapshot: purge it up to the snapshot
  // before serving.
  std::optional<log_id> purge;
};

// The node starts from the state machine's snapshot and the log after it.
// Without a snapshot nothing was ever compacted (the engine compacts only
// behind a snapshot the state machine holds), so the log starts at index 1
// and holds every membership entry: the snapshot is empty and the log alone
// gives the configuration.
restore_plan plan_restore(stored_log stored, const machine_state& machine) {
  const snapshot_meta snapshot = machine.snapshot.value_or(snapshot_meta{});
  const log_id base = snapshot.last_included;
  if (stored.shape.purged.index > base.index) {
    throw_inconsistent(machine.snapshot ? "the log has purged entries beyond the state machine's snapshot"
                                        : "the log has purged entries but the state machine has no snapshot");
  }
  if (machine.applied.last_applied.index < base.index)
    throw_inconsistent("the state machine has applied less than its own snapshot covers");
  restore_plan plan;
  if (continues(stored, base)) {
    std::erase_if(stored.entries, [&](const log_entry& entry) { return entry.index <= base.index; });
  } else {
    // An install stopped between the state machine's swap and the log's
    // purge: the snapshot supersedes the whole log.
    plan.purge = base;
    stored.entries.clear();
    stored.shape = {base, base};
  }
  if (machine.applied.last_applied.index > stored.shape.last.index)
    throw_inconsistent("the state machine has applied entries that the log does not hold");
  plan.restored.state = stored.state;
  plan.restored.snapshot = snapshot;
  plan.restored.entries = std::move(stored.entries);
  plan.restored.applied = machine.applied.last_applied.index;
  plan.restored.committed = stored.committed.value_or(index_t{});
  return plan;
}

// A snapshot opened for sending, with the meta of what it streams.
struct opened_snapshot {
  snapshot_meta meta;
  std::unique_ptr<snapshot_source> data;
};

// The meta is read before and after opening: a build that replaced the
// snapshot in between would otherwise label one snapshot's data with
// another's meta.
asio::awaitable<void> open_current_snapshot(state_machine& machine, opened_snapshot& opened) {
  const std::optional<snapshot_meta> before = co_await machine.current_snapshot();
  if (!before) throw std::system_error(make_error_code(errc::invalid_argument), "the state machine has no snapshot");
  opened.data = co_await machine.open_snapshot();
  const std::optional<snapshot_meta> after = co_await machine.current_snapshot();
  if (after != before)
    throw std::system_error(make_error_code(errc::overloaded), "the snapshot changed while it was being opened");
  opened.meta = *before;
}

// Freeing a snapshot interval's entries at once (about 90,000 by default)
// held the io thread for several milliseconds, and every commit with it; a
// slice per handler lets the thread's other work pass in between. Off the
// strand: the entries are nobody else's, and their payloads are immutable.
constexpr std::size_t entries_freed_per_handler = 1024;

// Shared, not moved from handler to handler: moving a std::deque allocates.
void free_in_slices(const asio::any_io_executor& executor, std::shared_ptr<std::deque<log_entry>> entries) {
  if (entries->empty()) return;
  asio::post(executor, [executor, entries = std::move(entries)]() mutable {
    const std::size_t slice = std::min(entries->size(), entries_freed_per_handler);
    entries->erase(entries->begin(), entries->begin() + static_cast<std::ptrdiff_t>(slice));
    free_in_slices(executor, std::move(entries));
  });
}

}  // namespace

// ---------------------------------------------------------------- restoring

asio::awaitable<core::restored_state> raft::impl::restore(std::shared_ptr<impl> self) {
  const machine_state machine =
      co_await asio::co_spawn(self->apply_worker_.executor(), read_machine_state(self->machine_), asio::use_awaitable);
  const index_t from = machine.snapshot ? machine.snapshot->last_included.index : index_t(1);
  stored_log stored =
      co_await asio::co_spawn(self->log_worker_.executor(), read_stored_log(self->log_, from), asio::use_awaitable);
  restore_plan plan = plan_restore(std::move(stored), machine);
  if (plan.purge) {
    log(log_level::warning, "node ", self->options_.id, ": the log does not continue the snapshot ending at ",
        *plan.purge, " (an install was interrupted); purging it");
    co_await asio::co_spawn(self->log_worker_.executor(), self->log_->purge(*plan.purge), asio::use_awaitable);
  }
  co_return std::move(plan.restored);
}

// ---------------------------------------------------------------- the state machine's thread

asio::awaitable<void> raft::impl::on_machine_thread(std::function<asio::awaitable<void>(state_machine&)> call) {
  auto registrar = [this, call = std::move(call)](auto done) mutable {
    applies_.push(engine::machine_task{std::move(call), std::move(done)});
  };  // named: see engine::async_answer
  result<std::exception_ptr> outcome = co_await engine::async_answer<std::exception_ptr>(std::move(registrar));
  if (!outcome) throw std::system_error(outcome.error(), "the state machine no longer serves");
  if (*outcome) std::rethrow_exception(*outcome);
}

// ---------------------------------------------------------------- building and compacting

asio::awaitable<result<log_id>> raft::impl::trigger_snapshot() {
  return engine::async_answer<log_id>([self = shared_from_this()](auto done) mutable {
    self->on_strand([done = std::move(done)](impl& engine) mutable { engine.accept_snapshot_trigger(std::move(done)); });
  });
}

void raft::impl::accept_snapshot_trigger(engine::completion<log_id> done) {
  if (phase_ != phase::serving) return done(refusal_);
  request_snapshot_build();
  snapshot_waiters_.emplace_back(snapshot_builds_requested_, std::move(done));
}

// The build comes after everything handed to the state machine so far.
void raft::impl::request_snapshot_build() {
  // Built in place: GCC 12 misreads a moved temporary variant as uninitialized.
  to_apply_.emplace_back(std::in_place_type<engine::snapshot_build>, ++snapshot_builds_requested_);
  schedule_drain();
}

// One build at a time, once snapshot_every_entries were applied since the
// latest snapshot.
void raft::impl::snapshot_if_due() {
  const std::uint64_t every = options_.snapshot_every_entries;
  if (every == 0 || snapshot_builds_served_ < snapshot_builds_requested_) return;
  if (node_->applied_index() >= last_snapshot_index_ + every) request_snapshot_build();
}

void raft::impl::on_snapshot_built(const snapshot_meta& meta, std::uint64_t request) {
  ++totals_.snapshots_built;
  snapshot_builds_served_ = request;
  if (phase_ != phase::serving) return;
  node_->on_snapshot_built(meta);
  last_snapshot_index_ = std::max(last_snapshot_index_, meta.last_included.index);
  compact_behind(meta);
  // Published before any waiter hears of the snapshot, so that its caller
  // finds it in get_metrics() (the waiter may resume on another thread at once).
  publish_metrics(false);
  std::vector<std::pair<std::uint64_t, engine::completion<log_id>>> waiting;
  for (auto& waiter : std::exchange(snapshot_waiters_, {})) {
    if (waiter.first <= request) {
      waiter.second(meta.last_included);
    } else {
      waiting.push_back(std::move(waiter));
    }
  }
  snapshot_waiters_ = std::move(waiting);
  snapshot_if_due();
  schedule_drain();
}

// Keeps log_entries_kept_after_snapshot entries behind the snapshot, so that
// a slightly lagging follower catches up from the log rather than by
// snapshot. The core's preconditions: upto <= applied and <= the snapshot.
void raft::impl::compact_behind(const snapshot_meta& meta) {
  const std::uint64_t kept = options_.log_entries_kept_after_snapshot;
  const index_t covered = std::min(meta.last_included.index, node_->applied_index());
  if (covered.value <= kept) return;
  const index_t upto = covered - kept;
  if (upto <= node_->log().base().index) return;
  const log_id purged{*node_->log().term_at(upto), upto};
  free_in_slices(strand_.get_inner_executor(), std::make_shared<std::deque<log_entry>>(node_->compact_log(upto)));
  queue_log_item(engine::log_purge{purged});
}

// ---------------------------------------------------------------- sending

// The data streams from the state machine's frozen image while entries keep
// being applied. It may be newer than the snapshot the node knew of; the
// request then carries the meta of what is actually streamed.
asio::awaitable<snapshot_response> raft::impl::stream_snapshot(network& client, snapshot_request request) {
  opened_snapshot opened;
  std::function<asio::awaitable<void>(state_machine&)> open = [&opened](state_machine& machine) {
    return open_current_snapshot(machine, opened);
  };
  co_await on_machine_thread(std::move(open));
  request.meta = opened.meta;
  co_return co_await client.install_snapshot(std::move(request), *opened.data);
}

// ---------------------------------------------------------------- receiving

asio::awaitable<snapshot_response> raft::impl::handle_snapshot(std::shared_ptr<impl> self, snapshot_request request,
                                                               snapshot_source& data) {
  auto claim = [self]() -> asio::awaitable<std::error_code> { co_return self->claim_snapshot_receipt(); };
  // named: see engine::async_answer
  const std::error_code refused = co_await asio::co_spawn(self->strand_, std::move(claim), asio::use_awaitable);
  if (refused) throw std::system_error(refused, "coraft: the snapshot was not accepted");
  // Ends the receipt on the strand however the receiving ends.
  struct receipt_end {
    std::shared_ptr<impl> engine;
    ~receipt_end() {
      engine->on_strand([](impl& e) { e.end_snapshot_receipt(); });
    }
  };
  const receipt_end end{self};
  co_await self->receive_snapshot_data(request.meta, data);
  co_return co_await handle<snapshot_response>(self, std::move(request));
}

std::error_code raft::impl::claim_snapshot_receipt() {
  if (phase_ != phase::serving) return refusal_;
  if (receiving_snapshot_) return make_error_code(errc::overloaded);
  receiving_snapshot_ = true;
  return {};
}

// The node has answered the request (or it never reached the node): if it
// asked to install the snapshot, process() has queued the install already.
void raft::impl::end_snapshot_receipt() {
  receiving_snapshot_ = false;
  received_snapshot_.reset();
}

// A stream that breaks or fails the sink's verification throws here, and
// the sink, dropped unfinished, discards what it received.
asio::awaitable<void> raft::impl::receive_snapshot_data(const snapshot_meta& meta, snapshot_source& data) {
  std::unique_ptr<snapshot_sink> sink;
  std::function<asio::awaitable<void>(state_machine&)> begin = [&sink, meta](state_machine& machine) -> asio::awaitable<void> {
    sink = co_await machine.begin_receive_snapshot(meta);
  };
  co_await on_machine_thread(std::move(begin));
  for (;;) {
    std::optional<std::string> chunk = co_await data.next_chunk();
    if (!chunk) break;
    std::function<asio::awaitable<void>(state_machine&)> write = [&sink, chunk = std::move(*chunk)](state_machine&) mutable {
      return sink->write_chunk(std::move(chunk));
    };
    co_await on_machine_thread(std::move(write));
  }
  std::function<asio::awaitable<void>(state_machine&)> finish = [&sink](state_machine&) { return sink->finish(); };
  co_await on_machine_thread(std::move(finish));
}

// ---------------------------------------------------------------- installing

// The obligation of core::output's snapshot_to_install, in the ordered I/O
// stream: the state machine installs the snapshot after every batch handed
// to it before; then the log purges up to the snapshot (discarding the whole
// log, which does not hold its last entry) and takes this output's write and
// everything after it; then on_applied. Callers waiting on the entries the
// snapshot replaced are answered now: those entries will never be handed out.
bool raft::impl::begin_install(const snapshot_meta& meta) {
  if (received_snapshot_ != meta) {
    std::ostringstream reason;
    reason << "the node asked to install a snapshot ending at " << meta.last_included
           << " other than the one it was just sent";
    fail_stop(reason.str());
    return false;
  }
  received_snapshot_.reset();
  proposals_.settle_replaced(meta.last_included);
  if (membership_change_) membership_change_->on_snapshot_installed(meta);
  handed_to_apply_ = std::max(handed_to_apply_, meta.last_included.index);
  to_apply_.emplace_back(std::in_place_type<engine::snapshot_install>, meta);
  log_items_behind_installs_.emplace_back().emplace_back(engine::log_purge{meta.last_included});
  return true;
}

void raft::impl::on_snapshot_installed(const snapshot_meta& meta) {
  ++totals_.snapshots_installed;
  if (phase_ != phase::serving) return;
  log(log_level::info, "node ", options_.id, " installed the snapshot ending at ", meta.last_included);
  last_snapshot_index_ = std::max(last_snapshot_index_, meta.last_included.index);
  node_->on_applied(meta.last_included.index);
  // The front group was queued ahead of every later group.
  writes_.push_all(std::move(log_items_behind_installs_.front()));
  log_items_behind_installs_.pop_front();
  schedule_drain();
}

}  // namespace coraft
