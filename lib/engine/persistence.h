// The persistence loop: every write the core hands out reaches the log in
// order, and whatever queued up during one write goes out as the next single
// write (group commit). Purges of compacted entries travel in the same
// stream, so that each reaches the log in its place among the writes, and so
// do the answers that must wait for the writes before them.
#pragma once

#include "engine/completion.h"
#include "engine/work_queue.h"

#include <coraft/log_storage.h>
#include <coraft/messages.h>
#include <coraft/types.h>

#include <asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace coraft::engine {

// One output's write obligation (see core::output).
struct pending_write {
  std::uint64_t id = 0;
  std::optional<hard_state> state;
  std::vector<log_entry> entries;
  index_t commit;  // 0 when there is nothing to record
};

// Discards the log up to `upto`, which a snapshot covers (log_storage::purge).
struct log_purge {
  log_id upto;
};

// Answers to requests that promise what the writes queued before them hold
// (entries, a vote): given on the log's thread as soon as those writes are
// durable, before the strand hears of it, so that the answer need not wait
// for the strand's thread to wake.
struct answers_after_write {
  std::vector<std::pair<completion<message_body>, message_body>> answers;
};

using log_item = std::variant<pending_write, log_purge, answers_after_write>;

struct merged_write {
  log_write batch;
  std::uint64_t last_id = 0;  // the batch holds every pending write up to this id
};

// Folds consecutive writes (in the order the core made them) into one with
// the same effect: the last hard state wins; a later write's entries replace
// every earlier entry at or after their first index, as storage would; the
// commit hint is the highest. Precondition: `writes` is not empty and each
// write's entries start at or below the merged last index + 1.
merged_write merge_writes(std::vector<pending_write> writes);

struct persistence_hooks {
  // Every write up to `write_id` is durable; `entries` went to the log in this write.
  std::function<void(std::uint64_t write_id, std::size_t entries)> on_durable;
  // The log failed; nothing more is written.
  std::function<void(std::string reason)> on_failure;
};

// Runs until the queue is closed (after finishing the write in progress) or the
// log fails. Runs on the log's worker: by default a thread of its own, which
// storage calls may block.
asio::awaitable<void> run_persistence(log_storage& log, work_queue<log_item>& queue, persistence_hooks hooks);

}  // namespace coraft::engine
