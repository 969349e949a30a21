// An io_context run by threads of its own, and a way for the benchmark's
// main thread to wait for a coroutine on it.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <thread>
#include <vector>

namespace coraft::bench {

class io_threads {
 public:
  explicit io_threads(unsigned threads) : work_(asio::make_work_guard(io_)) {
    for (unsigned t = 0; t < threads; ++t) threads_.emplace_back([this] { io_.run(); });
  }
  ~io_threads() { stop(); }
  io_threads(const io_threads&) = delete;
  io_threads& operator=(const io_threads&) = delete;

  asio::any_io_executor executor() { return io_.get_executor(); }

  // Runs `task` on the context and returns its value, or rethrows its
  // exception. Must not be called from one of the context's threads.
  template <class T>
  T run(asio::awaitable<T> task) {
    return asio::co_spawn(io_, std::move(task), asio::use_future).get();
  }

  // Stops the context (coroutines still suspended are never resumed) and
  // joins its threads. Idempotent.
  void stop() {
    work_.reset();
    io_.stop();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

}  // namespace coraft::bench
