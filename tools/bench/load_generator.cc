#include "load_generator.h"

#include "format.h"

#include <coraft/kv_store.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace coraft::bench {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A failed proposal in a closed loop waits this long before the next, so that
// a client refused at once (overloaded, not leader) does not spin.
constexpr auto pause_after_failure = 1ms;
constexpr auto progress_interval = 1s;
constexpr auto progress_check_interval = 100ms;
constexpr std::array<std::string_view, failure_kinds> failure_names = {"overloaded", "not_leader", "timeout", "other"};

double to_seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }
std::chrono::nanoseconds from_seconds(double s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
}

// Shared by every coroutine of one run; each touches it from any thread.
class load_state {
 public:
  load_state(const asio::any_io_executor& executor, proposer propose, load_spec spec)
      : all_ended_(executor, 1),
        propose_(std::move(propose)),
        spec_(std::move(spec)),
        started_(clock::now()),
        window_start_(started_ + spec_.warmup),
        window_end_(window_start_ + spec_.duration) {
    for (std::size_t client = 0; client < spec_.clients; ++client)
      commands_.push_back(benchmark_command(client, spec_.payload_bytes));
  }

  const load_spec& spec() const { return spec_; }
  clock::time_point started() const { return started_; }
  // One proposal of client `client`, with a copy of its command.
  asio::awaitable<result<std::string>> propose(std::size_t client) const { return propose_(client, commands_[client]); }

  // No proposal is due at or after `when`.
  bool finished_by(clock::time_point when) const {
    if (spec_.ops != 0) return ended_.load(std::memory_order_acquire);
    return when >= window_end_;
  }

  // Counts the answer to a proposal due at `due` and answered now.
  void note_answer(clock::time_point due, const result<std::string>& answer) {
    const clock::time_point now = clock::now();
    if (answer) succeeded_in_run_.fetch_add(1, std::memory_order_relaxed);
    if (!in_window(now)) return;
    if (answer) {
      latency_.record(static_cast<std::uint64_t>((now - due).count()));
      succeeded_.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed_[static_cast<std::size_t>(classify(answer.error()))].fetch_add(1, std::memory_order_relaxed);
    }
  }

  // A proposal due at `due`, in the window, goes out at `now`.
  void note_sent_late(clock::time_point due, clock::time_point now) {
    if (due < window_start_ || finished_by(due)) return;
    const clock::rep late = (now - due).count();
    clock::rep latest = latest_send_.load(std::memory_order_relaxed);
    while (late > latest && !latest_send_.compare_exchange_weak(latest, late, std::memory_order_relaxed)) {
    }
  }

  void task_started() { running_.fetch_add(1, std::memory_order_relaxed); }
  void task_ended(std::exception_ptr error) {
    if (error) {
      std::lock_guard lock(mutex_);
      if (!first_error_) first_error_ = error;
    }
    if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) all_ended_.try_send(asio::error_code(), true);
  }
  // Until every task started has ended, woken by the last one: a timer
  // polling for it would wake the thread it runs on (in the leader's process,
  // the leader's io thread) a thousand times a second during the measurement.
  asio::awaitable<void> all_ended() { co_await all_ended_.async_receive(asio::use_awaitable); }
  void rethrow_first_error() const {
    if (first_error_) std::rethrow_exception(first_error_);
  }

  std::uint64_t succeeded_in_run() const { return succeeded_in_run_.load(std::memory_order_relaxed); }
  std::uint64_t failures_so_far() const {
    std::uint64_t sum = 0;
    for (const auto& count : failed_) sum += count.load(std::memory_order_relaxed);
    return sum;
  }
  const histogram& latency() const { return latency_; }

  load_result summary() const {
    load_result out;
    out.latency = latency_;
    out.latest_send = clock::duration(latest_send_.load());
    const clock::time_point end =
        spec_.ops != 0 ? clock::time_point(clock::duration(ops_window_end_.load())) : window_end_;
    out.window_seconds = std::chrono::duration<double>(end - window_start_).count();
    out.succeeded = succeeded_.load();
    for (std::size_t k = 0; k < failure_kinds; ++k) out.failed[k] = failed_[k].load();
    out.succeeded_in_run = succeeded_in_run_.load();
    return out;
  }

 private:
  // Whether an answer given at `now` counts; with an op count, claims one of
  // the window's places.
  bool in_window(clock::time_point now) {
    if (now < window_start_) return false;
    if (spec_.ops == 0) return now < window_end_;
    const std::uint64_t place = answered_in_window_.fetch_add(1, std::memory_order_relaxed);
    if (place + 1 == spec_.ops) {
      ops_window_end_.store(now.time_since_epoch().count());
      ended_.store(true, std::memory_order_release);
    }
    return place < spec_.ops;
  }

  // Holds the one signal of task_ended() that the count reached 0.
  asio::experimental::concurrent_channel<void(asio::error_code, bool)> all_ended_;
  const proposer propose_;
  const load_spec spec_;
  const clock::time_point started_;
  const clock::time_point window_start_;
  const clock::time_point window_end_;  // with an op count: unused
  std::vector<std::string> commands_;   // one per client

  histogram latency_;
  std::atomic<std::uint64_t> succeeded_{0};
  std::array<std::atomic<std::uint64_t>, failure_kinds> failed_{};
  std::atomic<std::uint64_t> succeeded_in_run_{0};
  std::atomic<clock::rep> latest_send_{0};  // see load_result::latest_send
  // With an op count: answers counted so far, and when the last counted came.
  std::atomic<std::uint64_t> answered_in_window_{0};
  std::atomic<clock::rep> ops_window_end_{0};
  std::atomic<bool> ended_{false};

  // Coroutines spawned and not yet ended.
  std::atomic<std::int64_t> running_{0};
  mutable std::mutex mutex_;
  std::exception_ptr first_error_;
};

void spawn_tracked(const std::shared_ptr<load_state>& state, const asio::any_io_executor& executor,
                   asio::awaitable<void> task) {
  state->task_started();
  asio::co_spawn(executor, std::move(task), [state](std::exception_ptr error) { state->task_ended(error); });
}

asio::awaitable<void> pause(clock::duration how_long) {
  asio::steady_timer timer(co_await asio::this_coro::executor, how_long);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> propose_once(std::shared_ptr<load_state> state, std::size_t client, clock::time_point due) {
  result<std::string> answer = co_await state->propose(client);
  state->note_answer(due, answer);
}

asio::awaitable<void> closed_loop_client(std::shared_ptr<load_state> state, std::size_t client) {
  while (!state->finished_by(clock::now())) {
    const clock::time_point due = clock::now();
    result<std::string> answer = co_await state->propose(client);
    state->note_answer(due, answer);
    if (!answer) co_await pause(pause_after_failure);
  }
}

// Client `client` of n proposes at due times spaced n / rate apart, offset
// from the other clients' so that the whole group's proposals are evenly spread.
asio::awaitable<void> open_loop_client(std::shared_ptr<load_state> state, std::size_t client) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  const auto clients = static_cast<double>(state->spec().clients);
  const auto interval = std::chrono::duration_cast<clock::duration>(from_seconds(clients / state->spec().rate));
  open_loop_schedule schedule(
      state->started() + interval * static_cast<clock::rep>(client) / static_cast<clock::rep>(state->spec().clients),
      interval);
  asio::steady_timer timer(executor);
  while (!state->finished_by(schedule.next())) {
    timer.expires_at(schedule.next());
    co_await timer.async_wait(asio::use_awaitable);
    const clock::time_point now = clock::now();
    state->note_sent_late(schedule.next(), now);
    for (const clock::time_point due : schedule.take_until(now)) {
      if (state->finished_by(due)) break;
      spawn_tracked(state, executor, propose_once(state, client, due));
    }
  }
}

std::string progress_line(const load_state& state, double recent_ops_per_second) {
  const histogram& latency = state.latency();
  const double elapsed = std::chrono::duration<double>(clock::now() - state.started()).count();
  std::string line = "[" + state.spec().label + "] " + format_fixed(elapsed, 0) + " s  " +
                     format_count(recent_ops_per_second) + " ops/s";
  if (latency.count() != 0) {
    line += "  p50 " + format_microseconds(static_cast<double>(latency.value_at_percentile(50)) / 1e3) + "  p99 " +
            format_microseconds(static_cast<double>(latency.value_at_percentile(99)) / 1e3);
  }
  const std::uint64_t failures = state.failures_so_far();
  if (failures != 0) line += "  failed " + format_count(static_cast<double>(failures));
  return line;
}

// On a terminal the line is rewritten in place; elsewhere one line per second.
// Wakes often so that the run does not wait for it once the window is over.
asio::awaitable<void> report_progress(std::shared_ptr<load_state> state) {
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  std::uint64_t succeeded_before = 0;
  clock::time_point printed = clock::now();
  for (;;) {
    co_await pause(progress_check_interval);
    const clock::time_point now = clock::now();
    if (state->finished_by(now)) break;
    if (now - printed < progress_interval) continue;
    const std::uint64_t succeeded = state->succeeded_in_run();
    const double seconds = std::chrono::duration<double>(now - printed).count();
    const std::string line = progress_line(*state, static_cast<double>(succeeded - succeeded_before) / seconds);
    succeeded_before = succeeded;
    printed = now;
    if (terminal) {
      std::cerr << "\r" << line << "\033[K" << std::flush;
    } else {
      std::cerr << line << std::endl;
    }
  }
  if (terminal) std::cerr << "\r\033[K" << std::flush;
}

}  // namespace

std::vector<open_loop_schedule::clock::time_point> open_loop_schedule::take_until(clock::time_point now) {
  std::vector<clock::time_point> due{next_};
  for (next_ += interval_; next_ <= now; next_ += interval_) due.push_back(next_);
  return due;
}

failure_kind classify(std::error_code error) {
  if (error == errc::overloaded) return failure_kind::overloaded;
  if (error == errc::not_leader) return failure_kind::not_leader;
  if (error == errc::timeout) return failure_kind::timeout;
  return failure_kind::other;
}

std::string_view to_string(failure_kind kind) { return failure_names[static_cast<std::size_t>(kind)]; }

std::uint64_t load_result::failures() const { return std::accumulate(failed.begin(), failed.end(), std::uint64_t{0}); }

nlohmann::json to_json(const load_spec& spec) {
  return {{"clients", spec.clients},
          {"payload_bytes", spec.payload_bytes},
          {"warmup_s", to_seconds(spec.warmup)},
          {"duration_s", to_seconds(spec.duration)},
          {"ops", spec.ops},
          {"rate", spec.rate},
          {"progress", spec.progress},
          {"label", spec.label}};
}

load_spec load_spec_from_json(const nlohmann::json& json) {
  load_spec spec;
  spec.clients = json.at("clients").get<std::size_t>();
  spec.payload_bytes = json.at("payload_bytes").get<std::size_t>();
  spec.warmup = from_seconds(json.at("warmup_s").get<double>());
  spec.duration = from_seconds(json.at("duration_s").get<double>());
  spec.ops = json.at("ops").get<std::uint64_t>();
  spec.rate = json.at("rate").get<double>();
  spec.progress = json.at("progress").get<bool>();
  spec.label = json.at("label").get<std::string>();
  return spec;
}

nlohmann::json to_json(const load_result& result) {
  nlohmann::json failed = nlohmann::json::object();
  for (std::size_t k = 0; k < failure_kinds; ++k) failed[std::string(failure_names[k])] = result.failed[k];
  return {{"latency", result.latency.to_json()},
          {"latest_send_s", to_seconds(result.latest_send)},
          {"window_s", result.window_seconds},
          {"succeeded", result.succeeded},
          {"failed", failed},
          {"succeeded_in_run", result.succeeded_in_run}};
}

load_result load_result_from_json(const nlohmann::json& json) {
  load_result result;
  result.latency = histogram::from_json(json.at("latency"));
  result.latest_send = from_seconds(json.at("latest_send_s").get<double>());
  result.window_seconds = json.at("window_s").get<double>();
  result.succeeded = json.at("succeeded").get<std::uint64_t>();
  for (std::size_t k = 0; k < failure_kinds; ++k)
    result.failed[k] = json.at("failed").at(std::string(failure_names[k])).get<std::uint64_t>();
  result.succeeded_in_run = json.at("succeeded_in_run").get<std::uint64_t>();
  return result;
}

asio::awaitable<load_result> run_load(asio::any_io_executor executor, proposer propose, load_spec spec) {
  if (spec.clients == 0) throw std::invalid_argument("load: at least one client");
  auto state = std::make_shared<load_state>(executor, std::move(propose), std::move(spec));
  // Counted as a task while it spawns the others, so that the count cannot
  // reach 0 before all of them are started.
  state->task_started();
  for (std::size_t client = 0; client < state->spec().clients; ++client) {
    if (state->spec().rate > 0) {
      spawn_tracked(state, executor, open_loop_client(state, client));
    } else {
      spawn_tracked(state, executor, closed_loop_client(state, client));
    }
  }
  if (state->spec().progress) spawn_tracked(state, executor, report_progress(state));
  state->task_ended(nullptr);
  // Every coroutine holds the state; the run is over once none is left.
  co_await state->all_ended();
  state->rethrow_first_error();
  co_return state->summary();
}

std::string benchmark_command(std::size_t client, std::size_t bytes) {
  kv::command put{
      .client = 0, .sequence = 0, .op = kv::operation::put, .key = "client-" + std::to_string(client), .value = {}};
  const std::size_t overhead = kv::encode(put).size();
  put.value.assign(bytes > overhead ? bytes - overhead : 0, 'v');
  // The value's length prefix grows by a byte at 128 and at 16384 bytes, so
  // the first guess may be a byte or two too long.
  while (!put.value.empty() && kv::encode(put).size() > bytes) put.value.pop_back();
  return kv::encode(put);
}

}  // namespace coraft::bench
