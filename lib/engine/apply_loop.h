// The apply loop: committed entries and confirmed reads reach the state
// machine in the order the strand queued them, on the state machine's own thread.
#pragma once

#include "engine/waiters.h"
#include "engine/work_queue.h"

#include <coraft/state_machine.h>
#include <coraft/types.h>

#include <asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

namespace coraft::engine {

struct apply_batch {
  std::vector<log_entry> entries;         // committed and contiguous
  std::vector<proposal_waiter> waiters;   // proposers of some of these entries
  std::uint64_t bytes = 0;                // payload bytes, counted against max_apply_queue_bytes
};

using apply_item = std::variant<apply_batch, read_job>;

struct apply_hooks {
  // Every entry up to `last` is applied; `bytes` and `entries` leave the queue.
  std::function<void(index_t last, std::uint64_t bytes, std::size_t entries)> on_applied;
  // The state machine failed; nothing more is applied.
  std::function<void(std::string reason)> on_failure;
};

// Runs until the queue is closed or the state machine fails. Consecutive
// batches are applied with one call; each proposer gets its entry's answer.
asio::awaitable<void> run_apply_loop(state_machine& machine, work_queue<apply_item>& queue, apply_hooks hooks);

// Answers every waiter in `items` with `error` (they will not be served).
void fail_items(std::vector<apply_item>& items, std::error_code error);

}  // namespace coraft::engine
