#include "engine/waiters.h"

#include <algorithm>
#include <cassert>
#include <iterator>

namespace coraft::engine {

// ---------------------------------------------------------------- proposals

void proposal_waiters::add(log_id id, clock::time_point deadline, std::uint64_t bytes, completion<std::string> done) {
  if (!current_.empty() && current_.back().id.term != id.term) {
    for (proposal_waiter& waiter : current_) older_.emplace(waiter.id.index, std::move(waiter));
    current_.clear();
  }
  assert(current_.empty() || current_.back().id.index < id.index);
  bytes_ += bytes;
  current_.push_back({id, deadline, bytes, std::move(done)});
}

std::vector<proposal_waiter> proposal_waiters::take_committed(const std::vector<log_entry>& committed) {
  std::vector<proposal_waiter> applying;
  if (committed.empty()) return applying;
  const index_t first = committed.front().index;
  const index_t last = committed.back().index;
  auto settle = [&](proposal_waiter&& waiter) {
    // A waiter below `first` registered after its index was handed out, so
    // the entry there was never its own.
    const bool ours = waiter.id.index >= first && committed[waiter.id.index - first].term == waiter.id.term;
    if (ours) {
      bytes_ -= waiter.bytes;
      applying.push_back(std::move(waiter));
    } else {
      answer(waiter, make_error_code(errc::leadership_lost));
    }
  };
  while (!current_.empty() && current_.front().id.index <= last) {
    settle(std::move(current_.front()));
    current_.pop_front();
  }
  while (!older_.empty() && older_.begin()->first <= last) settle(std::move(older_.extract(older_.begin()).mapped()));
  return applying;
}

void proposal_waiters::settle_replaced(log_id last) {
  auto settle = [&](proposal_waiter& waiter) {
    answer(waiter, make_error_code(waiter.id.term > last.term ? errc::leadership_lost : errc::timeout));
  };
  while (!current_.empty() && current_.front().id.index <= last.index) {
    settle(current_.front());
    current_.pop_front();
  }
  while (!older_.empty() && older_.begin()->first <= last.index) {
    settle(older_.begin()->second);
    older_.erase(older_.begin());
  }
}

void proposal_waiters::expire(clock::time_point now) {
  while (!current_.empty() && current_.front().deadline <= now) {
    answer(current_.front(), make_error_code(errc::timeout));
    current_.pop_front();
  }
  for (auto waiter = older_.begin(); waiter != older_.end();) {
    if (waiter->second.deadline > now) {
      ++waiter;
      continue;
    }
    answer(waiter->second, make_error_code(errc::timeout));
    waiter = older_.erase(waiter);
  }
}

void proposal_waiters::fail_all(std::error_code error) {
  for (proposal_waiter& waiter : current_) answer(waiter, error);
  for (auto& [index, waiter] : older_) answer(waiter, error);
  current_.clear();
  older_.clear();
}

void proposal_waiters::answer(proposal_waiter& waiter, result<std::string> outcome) {
  bytes_ -= waiter.bytes;
  waiter.done(std::move(outcome));
}

// ---------------------------------------------------------------- reads

std::uint64_t read_waiters::add(clock::time_point deadline, std::string query, completion<std::string> done) {
  const std::uint64_t id = ++last_id_;
  waiting_.push_back({id, deadline, std::move(query), std::move(done)});
  ++live_;
  return id;
}

read_waiters::waiter* read_waiters::find(std::uint64_t id) {
  auto found = std::lower_bound(waiting_.begin(), waiting_.end(), id,
                                [](const waiter& w, std::uint64_t wanted) { return w.id < wanted; });
  if (found == waiting_.end() || found->id != id || !found->done) return nullptr;
  return &*found;
}

void read_waiters::ready(std::uint64_t id, index_t index) {
  if (find(id)) confirmed_.emplace(index, id);
}

void read_waiters::fail(std::uint64_t id, result<std::string> outcome) {
  if (waiter* w = find(id)) answer(*w, std::move(outcome));
  drop_finished_front();
}

std::vector<read_job> read_waiters::take_servable(index_t handed_to_apply) {
  std::vector<read_job> servable;
  while (!confirmed_.empty() && confirmed_.top().first <= handed_to_apply) {
    if (waiter* w = find(confirmed_.top().second)) {
      servable.push_back({std::move(w->query), std::move(w->done)});
      --live_;
    }
    confirmed_.pop();
  }
  drop_finished_front();
  return servable;
}

void read_waiters::expire(clock::time_point now) {
  for (waiter& w : waiting_) {
    if (w.deadline > now) break;
    if (w.done) answer(w, make_error_code(errc::timeout));
  }
  drop_finished_front();
}

void read_waiters::fail_all(std::error_code error) {
  for (waiter& w : waiting_)
    if (w.done) answer(w, error);
  waiting_.clear();
  confirmed_ = {};
}

void read_waiters::answer(waiter& w, result<std::string> outcome) {
  --live_;
  w.done(std::move(outcome));
}

void read_waiters::drop_finished_front() {
  while (!waiting_.empty() && !waiting_.front().done) waiting_.pop_front();
}

}  // namespace coraft::engine
