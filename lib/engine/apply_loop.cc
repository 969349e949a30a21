#include "engine/apply_loop.h"

#include <exception>
#include <iterator>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace coraft::engine {
namespace {

// Moves the run of apply batches starting at items[from] into one batch and
// returns it with the index just past the run.
std::pair<apply_batch, std::size_t> join_batches(std::vector<apply_item>& items, std::size_t from) {
  apply_batch joined = std::move(std::get<apply_batch>(items[from]));
  std::size_t next = from + 1;
  for (; next < items.size() && std::holds_alternative<apply_batch>(items[next]); ++next) {
    apply_batch& batch = std::get<apply_batch>(items[next]);
    joined.entries.insert(joined.entries.end(), std::make_move_iterator(batch.entries.begin()),
                          std::make_move_iterator(batch.entries.end()));
    joined.waiters.insert(joined.waiters.end(), std::make_move_iterator(batch.waiters.begin()),
                          std::make_move_iterator(batch.waiters.end()));
    joined.bytes += batch.bytes;
  }
  return {std::move(joined), next};
}

// The last request of the run of build requests starting at items[from], and
// the index just past the run: one build serves them all.
std::pair<std::uint64_t, std::size_t> join_builds(const std::vector<apply_item>& items, std::size_t from) {
  std::uint64_t last = std::get<snapshot_build>(items[from]).request;
  std::size_t next = from + 1;
  for (; next < items.size() && std::holds_alternative<snapshot_build>(items[next]); ++next)
    last = std::get<snapshot_build>(items[next]).request;
  return {last, next};
}

void answer_proposers(std::vector<proposal_waiter>& waiters, std::vector<std::string>& answers, index_t first) {
  answer_batch<std::string> batch;
  for (proposal_waiter& waiter : waiters) batch.add(waiter.done, std::move(answers[waiter.id.index - first]));
  batch.post();
}

// Applies `batch` and answers its proposers. Its waiters stay in `batch`
// until answered, so that a failure can still answer them.
asio::awaitable<void> apply(state_machine& machine, apply_batch& batch, const apply_hooks& hooks) {
  const index_t first = batch.entries.front().index;
  const index_t last = batch.entries.back().index;
  const std::size_t count = batch.entries.size();
  std::vector<std::string> answers = co_await machine.apply(std::move(batch.entries));
  if (answers.size() != count) throw std::runtime_error("the state machine answered a batch with a wrong count");
  answer_proposers(batch.waiters, answers, first);
  hooks.on_applied(last, batch.bytes, count);
}

asio::awaitable<void> run_task(state_machine& machine, machine_task& task) {
  std::exception_ptr failure;
  try {
    co_await task.run(machine);
  } catch (...) {
    failure = std::current_exception();
  }
  task.done(failure);
}

}  // namespace

void fail_items(std::vector<apply_item>& items, std::error_code error) {
  for (apply_item& item : items) {
    if (auto* batch = std::get_if<apply_batch>(&item)) {
      for (proposal_waiter& waiter : batch->waiters) waiter.done(error);
    } else if (auto* read = std::get_if<read_job>(&item)) {
      read->done(error);
    } else if (auto* task = std::get_if<machine_task>(&item)) {
      task->done(error);
    }
  }
  items.clear();
}

asio::awaitable<void> run_apply_loop(state_machine& machine, work_queue<apply_item>& queue, apply_hooks hooks) {
  for (;;) {
    std::vector<apply_item> items = co_await queue.take();
    if (items.empty()) co_return;
    std::size_t next = 0;  // items before it are finished with
    apply_batch applying;  // taken out of the items while the state machine works on it
    try {
      while (next < items.size()) {
        apply_item& item = items[next];
        if (std::holds_alternative<apply_batch>(item)) {
          std::tie(applying, next) = join_batches(items, next);
          co_await apply(machine, applying, hooks);
        } else if (std::holds_alternative<snapshot_build>(item)) {
          std::uint64_t request = 0;
          std::tie(request, next) = join_builds(items, next);
          snapshot_meta meta = co_await machine.build_snapshot();
          hooks.on_snapshot_built(std::move(meta), request);
        } else if (auto* read = std::get_if<read_job>(&item)) {
          std::string answer = co_await machine.query(std::move(read->query));
          read->done(std::move(answer));
          ++next;
        } else if (auto* install = std::get_if<snapshot_install>(&item)) {
          co_await machine.install_received_snapshot(install->meta);
          hooks.on_snapshot_installed(install->meta);
          ++next;
        } else {
          co_await run_task(machine, std::get<machine_task>(item));
          ++next;
        }
      }
    } catch (const std::exception& failure) {
      for (proposal_waiter& waiter : applying.waiters)
        if (waiter.done) waiter.done(make_error_code(errc::storage_failed));
      items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(next));
      fail_items(items, make_error_code(errc::storage_failed));
      hooks.on_failure(failure.what());
      co_return;
    }
  }
}

}  // namespace coraft::engine
