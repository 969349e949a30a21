// Where the engine keeps storage and state machine calls, away from the
// strand: by default an io_context run by a thread of its own (calls may block
// it), or a strand over an executor the application gave (calls must not
// block). Either way one handler runs at a time, so the loop and the calls
// spawned beside it never run at once: the "one call at a time" that
// log_storage and state_machine promise their implementers.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <optional>
#include <thread>

namespace coraft::engine {

class worker {
 public:
  // Without `shared`, runs on a thread of its own once started. With it, runs
  // on a strand of `shared` and owns no thread: start() and join() do nothing,
  // and whoever runs `shared` must keep running it until the loops on it have
  // finished.
  explicit worker(std::optional<asio::any_io_executor> shared = std::nullopt);
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  // Stops the thread after its current handler, abandoning queued work.
  ~worker();

  const asio::any_io_executor& executor() const { return executor_; }

  // Precondition: not started yet.
  void start();
  // Lets the thread run out of work (every coroutine on it has finished), then
  // joins it. Does nothing when not running.
  void join();

 private:
  std::optional<asio::io_context> context_;  // only with a thread of its own
  asio::any_io_executor executor_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running_;
  std::thread thread_;
};

}  // namespace coraft::engine
