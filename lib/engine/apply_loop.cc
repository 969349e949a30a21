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

void answer_proposers(std::vector<proposal_waiter>& waiters, std::vector<std::string>& answers, index_t first) {
  for (proposal_waiter& waiter : waiters) waiter.done(std::move(answers[waiter.id.index - first]));
}

}  // namespace

void fail_items(std::vector<apply_item>& items, std::error_code error) {
  for (apply_item& item : items) {
    if (auto* batch = std::get_if<apply_batch>(&item)) {
      for (proposal_waiter& waiter : batch->waiters) waiter.done(error);
    } else {
      std::get<read_job>(item).done(error);
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
        if (auto* read = std::get_if<read_job>(&items[next])) {
          std::string answer = co_await machine.query(std::move(read->query));
          read->done(std::move(answer));
          ++next;
          continue;
        }
        std::tie(applying, next) = join_batches(items, next);
        const index_t first = applying.entries.front().index;
        const index_t last = applying.entries.back().index;
        const std::size_t count = applying.entries.size();
        std::vector<std::string> answers = co_await machine.apply(std::move(applying.entries));
        if (answers.size() != count) throw std::runtime_error("the state machine answered a batch with a wrong count");
        answer_proposers(applying.waiters, answers, first);
        hooks.on_applied(last, applying.bytes, count);
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
