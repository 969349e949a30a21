// The apply loop: committed entries, confirmed reads and snapshot work reach
// the state machine in the order the strand queued them, on the state
// machine's worker, one call at a time.
#pragma once

#include "engine/completion.h"
#include "engine/waiters.h"
#include "engine/work_queue.h"

#include <coraft/state_machine.h>
#include <coraft/types.h>

#include <asio/awaitable.hpp>

#include <cstdint>
#include <exception>
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

// Makes the applied state the current snapshot. Requests are numbered in the
// order they are queued; consecutive requests are served by one build.
struct snapshot_build {
  std::uint64_t request = 0;
};

// Replaces the applied state by the snapshot received and finished with this meta.
struct snapshot_install {
  snapshot_meta meta;
};

// Any other call on the state machine or on a snapshot sink it opened, run
// in its turn like the rest (streaming a snapshot in or out). What it throws
// goes back to its caller through `done` and leaves the loop running: a
// snapshot stream that breaks is the stream's failure, not the state
// machine's.
struct machine_task {
  std::function<asio::awaitable<void>(state_machine&)> run;
  completion<std::exception_ptr> done;  // an empty pointer when `run` succeeded
};

using apply_item = std::variant<apply_batch, read_job, snapshot_build, snapshot_install, machine_task>;

struct apply_hooks {
  // Every entry up to `last` is applied; `bytes` and `entries` leave the queue.
  std::function<void(index_t last, std::uint64_t bytes, std::size_t entries)> on_applied;
  // A build finished: `meta` serves every build request up to `request`.
  std::function<void(snapshot_meta meta, std::uint64_t request)> on_snapshot_built;
  // The received snapshot `meta` replaced the applied state.
  std::function<void(snapshot_meta meta)> on_snapshot_installed;
  // The state machine failed; nothing more is applied.
  std::function<void(std::string reason)> on_failure;
};

// Runs until the queue is closed or the state machine fails. Consecutive
// batches are applied with one call; each proposer gets its entry's answer.
asio::awaitable<void> run_apply_loop(state_machine& machine, work_queue<apply_item>& queue, apply_hooks hooks);

// Answers every waiter in `items` with `error` (they will not be served).
void fail_items(std::vector<apply_item>& items, std::error_code error);

}  // namespace coraft::engine
