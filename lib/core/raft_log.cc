#include "core/raft_log.h"

#include <algorithm>
#include <cassert>
#include <iterator>
#include <utility>

namespace coraft::core {

std::optional<term_t> raft_log::term_at(index_t index) const {
  if (index == base_.index) return base_.term;
  if (index < first_index() || index > last_index()) return std::nullopt;
  return at(index).term;
}

bool raft_log::contains(log_id id) const {
  auto term = term_at(id.index);
  return term && *term == id.term;
}

void raft_log::append(log_entry entry) {
  assert(entry.index == last_index() + 1);
  assert(entry.term >= last_id().term);
  entries_.push_back(std::move(entry));
}

void raft_log::truncate_from(index_t index) {
  assert(index > base_.index);
  if (index > last_index()) return;
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(index - first_index()), entries_.end());
}

std::vector<log_entry> raft_log::slice(index_t first, index_t last, std::uint64_t max_bytes) const {
  std::vector<log_entry> out;
  last = std::min(last, last_index());
  first = std::max(first, first_index());
  if (first <= last) out.reserve(last - first + 1);
  std::uint64_t bytes = 0;
  for (index_t i = first; i <= last; ++i) {
    const log_entry& entry = at(i);
    if (!out.empty() && bytes + entry.payload.size() > max_bytes) break;
    bytes += entry.payload.size();
    out.push_back(entry);
  }
  return out;
}

std::uint64_t raft_log::payload_bytes(index_t first, index_t last) const {
  std::uint64_t bytes = 0;
  for (index_t i = std::max(first, first_index()); i <= std::min(last, last_index()); ++i) bytes += at(i).payload.size();
  return bytes;
}

index_t raft_log::first_index_of_term_at(index_t index) const {
  const term_t term = *term_at(index);
  if (index == base_.index) return index;
  auto end = entries_.begin() + static_cast<std::ptrdiff_t>(index - first_index());
  auto first = std::lower_bound(entries_.begin(), end, term,
                                [](const log_entry& entry, term_t t) { return entry.term < t; });
  return first_index() + static_cast<std::uint64_t>(first - entries_.begin());
}

std::optional<index_t> raft_log::last_index_of_term(term_t term) const {
  auto after = std::upper_bound(entries_.begin(), entries_.end(), term,
                                [](term_t t, const log_entry& entry) { return t < entry.term; });
  if (after != entries_.begin() && std::prev(after)->term == term) return std::prev(after)->index;
  if (after == entries_.begin() && base_.term == term) return base_.index;
  return std::nullopt;
}

std::deque<log_entry> raft_log::compact(log_id upto) {
  assert(contains(upto));
  if (upto.index <= base_.index) return {};
  const auto dropped = static_cast<std::ptrdiff_t>(upto.index - first_index() + 1);
  std::deque<log_entry> kept(std::make_move_iterator(entries_.begin() + dropped),
                             std::make_move_iterator(entries_.end()));
  std::deque<log_entry> compacted = std::exchange(entries_, std::move(kept));
  compacted.resize(static_cast<std::size_t>(dropped));  // only the moved-from kept ones go here
  base_ = upto;
  return compacted;
}

void raft_log::reset(log_id base) {
  entries_.clear();
  base_ = base;
}

}  // namespace coraft::core
