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

asio::awaitable<void> run_persistence(log_storage& log, work_queue<pending_write>& queue, persistence_hooks hooks) {
  for (;;) {
    std::vector<pending_write> writes = co_await queue.take();
    if (writes.empty()) co_return;
    merged_write merged = merge_writes(std::move(writes));
    const std::size_t entries = merged.batch.entries.size();
    try {
      co_await log.write(std::move(merged.batch));
    } catch (const std::exception& failure) {
      hooks.on_failure(failure.what());
      co_return;
    }
    hooks.on_durable(merged.last_id, entries);
  }
}

}  // namespace coraft::engine
