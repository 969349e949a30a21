#include "engine/persistence.h"

#include <algorithm>
#include <exception>
#include <iterator>
#include <utility>

namespace coraft::engine {
namespace {

void append_replacing(std::vector<log_entry>& merged, std::vector<log_entry>&& later) {
  if (later.empty()) return;
  if (merged.empty()) {
    merged = std::move(later);
    return;
  }
  const index_t first_new = later.front().index;
  const index_t first_old = merged.front().index;
  const std::size_t kept = first_new <= first_old ? 0 : std::min<std::size_t>(first_new - first_old, merged.size());
  merged.erase(merged.begin() + static_cast<std::ptrdiff_t>(kept), merged.end());
  merged.insert(merged.end(), std::make_move_iterator(later.begin()), std::make_move_iterator(later.end()));
}

void give(answers_after_write& due) {
  for (auto& [waiter, answer] : due.answers) waiter(std::move(answer));
}

// The run of writes starting at items[from], with the answers queued among
// them: all of them wait for the merged write at most. A purge ends a run:
// writes never merge across one.
struct write_run {
  std::vector<pending_write> writes;
  std::vector<answers_after_write> answers;
  std::size_t next = 0;  // just past the run
};

write_run take_writes(std::vector<log_item>& items, std::size_t from) {
  write_run run;
  for (run.next = from; run.next < items.size(); ++run.next) {
    if (auto* write = std::get_if<pending_write>(&items[run.next])) {
      run.writes.push_back(std::move(*write));
    } else if (auto* answers = std::get_if<answers_after_write>(&items[run.next])) {
      run.answers.push_back(std::move(*answers));
    } else {
      break;
    }
  }
  return run;
}

// Carries out items[from]: a purge, answers whose writes are durable already,
// or a write merged with the writes right after it. Returns the index just
// past what it carried out.
asio::awaitable<std::size_t> carry_out(log_storage& log, std::vector<log_item>& items, std::size_t from,
                                       const persistence_hooks& hooks) {
  if (auto* purge = std::get_if<log_purge>(&items[from])) {
    co_await log.purge(purge->upto);
    co_return from + 1;
  }
  if (auto* answers = std::get_if<answers_after_write>(&items[from])) {
    give(*answers);
    co_return from + 1;
  }
  write_run run = take_writes(items, from);
  merged_write merged = merge_writes(std::move(run.writes));
  const std::size_t entries = merged.batch.entries.size();
  co_await log.write(std::move(merged.batch));
  for (answers_after_write& due : run.answers) give(due);
  hooks.on_durable(merged.last_id, entries);
  co_return run.next;
}

}  // namespace

merged_write merge_writes(std::vector<pending_write> writes) {
  merged_write merged;
  index_t commit;
  for (pending_write& write : writes) {
    if (write.state) merged.batch.state = write.state;
    append_replacing(merged.batch.entries, std::move(write.entries));
    commit = std::max(commit, write.commit);
    merged.last_id = std::max(merged.last_id, write.id);
  }
  if (commit != index_t{}) merged.batch.committed = commit;
  return merged;
}

asio::awaitable<void> run_persistence(log_storage& log, work_queue<log_item>& queue, persistence_hooks hooks) {
  for (;;) {
    std::vector<log_item> items = co_await queue.take();
    if (items.empty()) co_return;
    for (std::size_t next = 0; next < items.size();) {
      try {
        next = co_await carry_out(log, items, next, hooks);
      } catch (const std::exception& failure) {
        hooks.on_failure(failure.what());
        co_return;
      }
    }
  }
}

}  // namespace coraft::engine
