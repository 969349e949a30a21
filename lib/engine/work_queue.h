// Hands work from any thread to one consumer coroutine without ever making the
// producer wait: items are appended under a mutex and a one-slot channel wakes
// the consumer, which takes everything queued at once. Taking everything is
// what lets the loops batch (group commit, one apply call for many batches).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/use_awaitable.hpp>

#include <iterator>
#include <mutex>
#include <utility>
#include <vector>

namespace coraft::engine {

// Memory: the queue itself is unbounded; its producers bound it (the core
// caps what it hands out, the engine caps what enters the core).
template <class T>
class work_queue {
 public:
  explicit work_queue(asio::any_io_executor consumer) : wakeup_(std::move(consumer), 1) {}

  // Appends `item`; false (and the item is dropped) once the queue is closed.
  bool push(T item) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return false;
      items_.push_back(std::move(item));
    }
    // A full slot already promises a wake-up that will see this item.
    wakeup_.try_send(asio::error_code(), true);
    return true;
  }

  // Appends `items` in order; false (and they are dropped) once closed.
  bool push_all(std::vector<T> items) {
    if (items.empty()) return true;
    {
      std::lock_guard lock(mutex_);
      if (closed_) return false;
      items_.insert(items_.end(), std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
    }
    wakeup_.try_send(asio::error_code(), true);
    return true;
  }

  // Everything queued, in push order, waiting while nothing is. Empty once the
  // queue is closed. One consumer at a time.
  asio::awaitable<std::vector<T>> take() {
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (!items_.empty() || closed_) co_return std::exchange(items_, {});
      }
      co_await wakeup_.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    }
  }

  // Refuses further items, wakes the consumer, and returns what it had not taken.
  std::vector<T> close() {
    std::vector<T> left;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      left = std::exchange(items_, {});
    }
    wakeup_.try_send(asio::error_code(), true);
    return left;
  }

 private:
  std::mutex mutex_;
  std::vector<T> items_;
  bool closed_ = false;
  // The value carries nothing (Asio 1.22 channels need a value besides the error).
  asio::experimental::concurrent_channel<void(asio::error_code, bool)> wakeup_;
};

}  // namespace coraft::engine
