#include <coraft/memory_log_storage.h>

#include <algorithm>
#include <iterator>
#include <sstream>
#include <system_error>

namespace coraft {

namespace {

[[noreturn]] void throw_precondition(const std::string& what) {
  throw std::system_error(std::make_error_code(std::errc::invalid_argument), "memory log: " + what);
}

}  // namespace

log_state memory_log_storage::state() const {
  return {purged_, entries_.size() == discarded_ ? purged_ : entries_.back().id()};
}

std::size_t memory_log_storage::held_entries() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

asio::awaitable<log_state> memory_log_storage::read_log_state() {
  std::lock_guard lock(mutex_);
  co_return state();
}

asio::awaitable<hard_state> memory_log_storage::read_hard_state() {
  std::lock_guard lock(mutex_);
  co_return hard_state_;
}

asio::awaitable<std::optional<index_t>> memory_log_storage::read_committed() {
  std::lock_guard lock(mutex_);
  co_return committed_;
}

asio::awaitable<std::vector<log_entry>> memory_log_storage::read_entries(index_t first, index_t last) {
  std::lock_guard lock(mutex_);
  if (last < first) co_return std::vector<log_entry>();
  if (first < first_index() || last > last_index()) {
    std::ostringstream what;
    what << "read of " << first << ".." << last << " outside the stored " << first_index() << ".." << last_index();
    throw_precondition(what.str());
  }
  auto begin = position_of(first);
  co_return std::vector<log_entry>(begin, begin + static_cast<std::ptrdiff_t>(last - first + 1));
}

void memory_log_storage::check_write(const log_write& batch) const {
  if (batch.entries.empty()) return;
  const index_t front = batch.entries.front().index;
  if (front < first_index() || front > last_index() + 1) {
    std::ostringstream what;
    what << "write starting at " << front << " outside " << first_index() << ".." << last_index() + 1;
    throw_precondition(what.str());
  }
  index_t expected = front;
  for (const log_entry& entry : batch.entries) {
    if (entry.index != expected) {
      std::ostringstream what;
      what << "write entries are not contiguous: " << entry.index << " where " << expected << " belongs";
      throw_precondition(what.str());
    }
    ++expected;
  }
}

void memory_log_storage::truncate_from(index_t index) { entries_.erase(position_of(index), entries_.end()); }

void memory_log_storage::free_discarded(std::size_t most) {
  const std::size_t freed = std::min(most, discarded_);
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(freed));
  discarded_ -= freed;
}

asio::awaitable<void> memory_log_storage::write(log_write batch) {
  std::lock_guard lock(mutex_);
  check_write(batch);
  if (!batch.entries.empty()) {
    truncate_from(batch.entries.front().index);
    entries_.insert(entries_.end(), std::make_move_iterator(batch.entries.begin()),
                    std::make_move_iterator(batch.entries.end()));
  }
  free_discarded(std::max(min_entries_freed, batch.entries.size()));
  if (batch.state) hard_state_ = *batch.state;
  if (batch.committed) committed_ = batch.committed;
  co_return;
}

asio::awaitable<void> memory_log_storage::purge(log_id upto) {
  std::lock_guard lock(mutex_);
  if (upto.index <= purged_.index) co_return;
  const bool log_holds_upto = upto.index <= last_index() && at(upto.index).term == upto.term;
  discarded_ = log_holds_upto ? discarded_ + (upto.index - purged_.index) : entries_.size();
  purged_ = upto;
  free_discarded(min_entries_freed);
}

}  // namespace coraft
