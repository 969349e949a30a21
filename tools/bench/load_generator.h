// The benchmark's clients: coroutines that propose commands and time the
// answers. The same generator runs inside the leader's process (proposing
// straight to coraft::raft) and in a process of its own (proposing over the
// nodes' client port).
//
// Closed loop: each client proposes, waits for the answer, and proposes again.
// Open loop (rate > 0): each client proposes at fixed times whether or not
// earlier proposals were answered, and latency counts from the time a proposal
// was due, so a stalled group is charged for the proposals it held up
// (no coordinated omission).
//
// Measurement window: proposals answered during the warm-up and after the
// window are not counted; the window ends after `duration`, or once `ops`
// proposals were answered in it.
#pragma once

#include "histogram.h"

#include <coraft/raft.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace coraft::bench {

struct load_spec {
  std::size_t clients = 1;
  // Size of each proposed command (a coraft::kv put of client-owned keys).
  std::size_t payload_bytes = 64;
  std::chrono::nanoseconds warmup{0};
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};
  // When not 0, the window ends once this many proposals were answered in it.
  std::uint64_t ops = 0;
  // Proposals per second of all clients together; 0 means closed loop.
  double rate = 0;
  // Prints a progress line on stderr every second.
  bool progress = true;
  std::string label;  // names the run in progress lines
};

nlohmann::json to_json(const load_spec& spec);
// Throws nlohmann::json::exception on a field that is missing or mistyped.
load_spec load_spec_from_json(const nlohmann::json& json);

// Why a proposal failed, as the report groups failures.
enum class failure_kind { overloaded, not_leader, timeout, other };
inline constexpr std::size_t failure_kinds = 4;
failure_kind classify(std::error_code error);
std::string_view to_string(failure_kind kind);

struct load_result {
  histogram latency;  // nanoseconds, of the proposals that succeeded in the window
  // Open loop: the most a proposal due in the window went out after its due
  // time. Latency counts from the due time, so a generator that falls behind
  // (its threads saturated) shows here rather than passing for the group's.
  std::chrono::nanoseconds latest_send{0};
  double window_seconds = 0;
  std::uint64_t succeeded = 0;                        // in the window
  std::array<std::uint64_t, failure_kinds> failed{};  // in the window, by failure_kind
  // Over the whole run (warm-up and the end's drain too): what CPU time is
  // divided by.
  std::uint64_t succeeded_in_run = 0;

  double ops_per_second() const { return window_seconds > 0 ? static_cast<double>(succeeded) / window_seconds : 0; }
  std::uint64_t failures() const;
};

nlohmann::json to_json(const load_result& result);
// Throws nlohmann::json::exception or std::invalid_argument on malformed input.
load_result load_result_from_json(const nlohmann::json& json);

// When one open-loop client's proposals are due: every `interval` from `first`.
class open_loop_schedule {
 public:
  using clock = std::chrono::steady_clock;
  open_loop_schedule(clock::time_point first, clock::duration interval) : next_(first), interval_(interval) {}

  clock::time_point next() const { return next_; }
  // The due times up to `now`, oldest first, and at least the next one (a
  // timer never wakes early); the schedule moves past them. All of them, not
  // one: under overload the timer wakes late, and a client that sent one
  // proposal per wake-up would fall ever further behind its schedule.
  std::vector<clock::time_point> take_until(clock::time_point now);

 private:
  clock::time_point next_;
  clock::duration interval_;
};

// One proposal of client number `client` (0 <= client < clients): the state
// machine's answer or an error. Called on the executor given to run_load; it
// must not throw.
using proposer = std::function<asio::awaitable<result<std::string>>(std::size_t client, std::string command)>;

// Runs the clients on `executor` (which may run on several threads) and
// completes once every proposal made has been answered. Rethrows the first
// exception a client's coroutine ended with.
asio::awaitable<load_result> run_load(asio::any_io_executor executor, proposer propose, load_spec spec);

// The command client `client` proposes: a kv put of its own key whose
// encoding is `bytes` long (or as short as the key allows).
std::string benchmark_command(std::size_t client, std::size_t bytes);

}  // namespace coraft::bench
