// How a test thread waits for a coroutine that runs on io threads.
//
// A failure comes back as a fresh std::system_error with the same code() and
// what(), never as the thrown object itself: libstdc++ frees a thrown object
// through a reference count ThreadSanitizer cannot see, so reading the object
// on the test thread and freeing it on an io thread would read as a race.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace coraft::test {

// Only against hangs: what the tests wait for takes milliseconds to seconds.
inline constexpr std::chrono::seconds hang_limit{120};

// A std::system_error equal to `error` in code() and what(), built afresh
// (std::system_error appends ": " and the code's message to its what_arg).
inline std::system_error relayed(const std::system_error& error) {
  const std::string text = error.what();
  const std::string message = error.code().message();
  if (text == message) return std::system_error(error.code());
  const std::string suffix = ": " + message;
  if (text.size() > suffix.size() && text.ends_with(suffix))
    return std::system_error(error.code(), text.substr(0, text.size() - suffix.size()));
  return std::system_error(error.code(), text);
}

// Precondition: T is void or default-constructible.
template <class T>
class awaited {
 public:
  // Starts `work` on `executor`.
  template <class Executor>
  awaited(const Executor& executor, asio::awaitable<T> work)
      : failure_(std::make_shared<std::optional<std::system_error>>()),
        done_(asio::co_spawn(executor, catching(std::move(work), failure_), asio::use_future)) {}

  // Whether the work has finished, without waiting for it.
  bool finished() const { return done_.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }

  // Waits for the work, failing the test after hang_limit; returns what it
  // returned or throws what it threw. Call once.
  T get() {
    if (done_.wait_for(hang_limit) != std::future_status::ready) FAIL("a coroutine did not finish: hang");
    if (*failure_) throw std::system_error(**failure_);
    return done_.get();
  }

 private:
  static asio::awaitable<T> catching(asio::awaitable<T> work, std::shared_ptr<std::optional<std::system_error>> failure) {
    try {
      co_return co_await std::move(work);
    } catch (const std::system_error& error) {
      failure->emplace(relayed(error));
    } catch (const std::exception& error) {
      failure->emplace(std::make_error_code(std::errc::state_not_recoverable), error.what());
    }
    co_return T();
  }

  std::shared_ptr<std::optional<std::system_error>> failure_;
  std::future<T> done_;
};

// Runs `work` on `executor` and waits for it, as awaited<T>::get().
template <class T, class Executor>
T run_awaited(const Executor& executor, asio::awaitable<T> work) {
  return awaited<T>(executor, std::move(work)).get();
}

}  // namespace coraft::test
