// How the engine answers a coroutine that waits for it: a one-shot,
// type-erased completion handler for void(result<T>) that may be answered from
// any thread and resumes the waiter on the waiter's own executor.
#pragma once

#include <coraft/error.h>
#include <coraft/raft.h>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/system_executor.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace coraft::engine {

template <class T>
class answer_batch;

// A function that a completion calls on the answering thread itself, without a
// post: for waiters that take their answer anywhere (a network that sends it
// from whichever thread gives it). It must not block.
template <class Function>
struct answered_in_place {
  Function function;
};

// Invariant: a completion that holds a handler answers it exactly once; if it
// is destroyed unanswered (the engine went away), the waiter gets
// errc::shutting_down rather than vanishing with its coroutine.
template <class T>
class completion {
 public:
  completion() = default;
  template <class Handler>
  explicit completion(Handler handler) : target_(std::make_unique<holder<Handler>>(std::move(handler))) {}
  template <class Function>
  explicit completion(answered_in_place<Function> in_place)
      : target_(std::make_unique<in_place_holder<Function>>(std::move(in_place.function))) {}
  completion(completion&&) noexcept = default;
  completion& operator=(completion&& other) noexcept {
    if (this != &other) {
      abandon();
      target_ = std::move(other.target_);
    }
    return *this;
  }
  ~completion() { abandon(); }

  explicit operator bool() const { return target_ != nullptr; }

  // Precondition: holds a handler. The waiter resumes later on its executor,
  // never inside this call, so callers may hold their own state consistent
  // only up to here.
  void operator()(result<T> answer) { std::exchange(target_, nullptr)->deliver(std::move(answer)); }
  // Precondition: holds a handler, and the caller runs on its executor. Answers
  // without a post, for callers already where the waiter resumes.
  void resume_here(result<T> answer) { std::exchange(target_, nullptr)->resume(std::move(answer)); }
  // Precondition: holds a handler.
  asio::any_io_executor executor() const { return target_->executor(); }

 private:
  friend class answer_batch<T>;

  struct target {
    virtual ~target() = default;
    virtual void deliver(result<T> answer) = 0;
    virtual asio::any_io_executor executor() const = 0;
    // Resumes the waiter here; precondition: on executor().
    virtual void resume(result<T> answer) = 0;
  };

  template <class Handler>
  struct holder final : target {
    explicit holder(Handler h) : handler(std::move(h)) {}
    void deliver(result<T> answer) override {
      auto executor = asio::get_associated_executor(handler);
      asio::post(executor, [handler = std::move(handler), answer = std::move(answer)]() mutable {
        std::move(handler)(std::move(answer));
      });
    }
    asio::any_io_executor executor() const override { return asio::get_associated_executor(handler); }
    void resume(result<T> answer) override { std::move(handler)(std::move(answer)); }
    Handler handler;
  };

  template <class Function>
  struct in_place_holder final : target {
    explicit in_place_holder(Function f) : function(std::move(f)) {}
    void deliver(result<T> answer) override { std::move(function)(std::move(answer)); }
    asio::any_io_executor executor() const override { return asio::system_executor(); }
    void resume(result<T> answer) override { std::move(function)(std::move(answer)); }
    Function function;
  };

  void abandon() {
    if (target_) (*this)(result<T>(make_error_code(errc::shutting_down)));
  }

  std::unique_ptr<target> target_;
};

// Answers many completions with one posted function per run of waiters that
// share an executor, instead of a post each: under load, the posts and the
// wake-ups they cause cost more than the answers themselves. Waiters resume
// in the order they were added, never inside add() or post().
template <class T>
class answer_batch {
 public:
  answer_batch() = default;
  answer_batch(const answer_batch&) = delete;
  answer_batch& operator=(const answer_batch&) = delete;
  // Posts what was added since the last post(), so that no waiter is lost
  // when the caller leaves early.
  ~answer_batch() { post(); }

  // Precondition: `done` holds a handler; it holds none afterwards.
  void add(completion<T>& done, result<T> answer) {
    asio::any_io_executor executor = done.executor();
    if (runs_.empty() || runs_.back().executor != executor) runs_.push_back({std::move(executor), {}});
    runs_.back().answers.emplace_back(std::move(done.target_), std::move(answer));
  }

  // Posts every run to its executor.
  void post() {
    for (run& r : runs_) {
      asio::post(r.executor, [answers = std::move(r.answers)]() mutable {
        for (auto& [waiter, answer] : answers) waiter->resume(std::move(answer));
      });
    }
    runs_.clear();
  }

 private:
  using target_ptr = std::unique_ptr<typename completion<T>::target>;
  struct run {
    asio::any_io_executor executor;
    std::vector<std::pair<target_ptr, result<T>>> answers;
  };
  std::vector<run> runs_;
};

// One waiter for many requests: turns the completion of all the answers into
// a completion per request. The waiter resumes once, with the answers in the
// requests' order, after the last request is answered. The parts may be
// answered from any thread and in any order; each resumes on the waiter's
// executor, so an answer_batch posts one run for a batch's parts.
template <class T>
std::vector<completion<T>> split(completion<std::vector<result<T>>> whole, std::size_t parts) {
  if (parts == 0) {
    whole(std::vector<result<T>>());
    return {};
  }
  struct shared {
    shared(completion<std::vector<result<T>>> w, std::size_t n)
        : executor(w.executor()), whole(std::move(w)), answers(n), unanswered(n) {}
    asio::any_io_executor executor;
    completion<std::vector<result<T>>> whole;
    std::vector<result<T>> answers;
    std::atomic<std::size_t> unanswered;
  };
  struct part {
    using executor_type = asio::any_io_executor;
    executor_type get_executor() const { return state->executor; }
    // Each part writes its own slot; the last to count down (acq_rel) sees
    // every slot written.
    void operator()(result<T> answer) {
      state->answers[index] = std::move(answer);
      if (state->unanswered.fetch_sub(1, std::memory_order_acq_rel) == 1)
        state->whole.resume_here(std::move(state->answers));
    }
    std::shared_ptr<shared> state;
    std::size_t index;
  };
  auto state = std::make_shared<shared>(std::move(whole), parts);
  std::vector<completion<T>> split_parts;
  split_parts.reserve(parts);
  for (std::size_t i = 0; i < parts; ++i) split_parts.emplace_back(part{state, i});
  return split_parts;
}

// Suspends the calling coroutine until the completion handed to `registrar`
// is answered. `registrar` runs when the awaitable is awaited.
//
// A coroutine must not write the registrar lambda inside its co_await
// expression but bind it to a variable first: GCC 12 destroys twice the
// temporaries of a co_await full-expression that are lambda closures or
// braced aggregates (their captures and members). The same holds for every
// lambda handed to co_spawn inside a co_await.
template <class T, class Registrar>
asio::awaitable<result<T>> async_answer(Registrar registrar) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(result<T>)>(
      [](auto handler, Registrar registrar) { std::move(registrar)(completion<T>(std::move(handler))); },
      asio::use_awaitable, std::move(registrar));
}

}  // namespace coraft::engine
