// An io_context run by a thread of its own: where the engine keeps storage and
// state machine calls, which may block, away from the strand.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <optional>
#include <thread>

namespace coraft::engine {

class worker {
 public:
  worker() = default;
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  // Stops the thread after its current handler, abandoning queued work.
  ~worker();

  asio::any_io_executor executor() { return context_.get_executor(); }

  // Precondition: not started yet.
  void start();
  // Lets the thread run out of work (every coroutine on it has finished), then
  // joins it. Does nothing when not running.
  void join();

 private:
  asio::io_context context_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running_;
  std::thread thread_;
};

}  // namespace coraft::engine
