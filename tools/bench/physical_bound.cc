#include "physical_bound.h"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace coraft::bench {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

std::uint64_t nanoseconds_since(clock::time_point start) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count());
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// A file that exists while the object does.
class scratch_file {
 public:
  explicit scratch_file(fs::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw_errno("open " + path_.string());
  }
  ~scratch_file() {
    ::close(fd_);
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
  scratch_file(const scratch_file&) = delete;
  scratch_file& operator=(const scratch_file&) = delete;

  void append_durably(const std::string& bytes) {
    if (::write(fd_, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
      throw_errno("write " + path_.string());
    if (::fdatasync(fd_) != 0) throw_errno("fdatasync " + path_.string());
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

void append_samples(const fs::path& path, std::size_t samples, std::size_t write_bytes, histogram& into) {
  scratch_file file(path);
  const std::string bytes(write_bytes, 'x');
  file.append_durably(bytes);  // the file's creation is not what is measured
  for (std::size_t i = 0; i < samples; ++i) {
    const clock::time_point start = clock::now();
    file.append_durably(bytes);
    into.record(nanoseconds_since(start));
  }
}

// Rethrows the first failure recorded, if any (one slot per thread).
void rethrow_first(const std::vector<std::exception_ptr>& failures) {
  for (const std::exception_ptr& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

// The p50 of `latency` plus `round_trips` loopback round trips' p50, in µs.
double p50_plus_round_trips(const histogram& latency, unsigned round_trips, const histogram& round_trip) {
  return (static_cast<double>(latency.value_at_percentile(50)) +
          round_trips * static_cast<double>(round_trip.value_at_percentile(50))) /
         1e3;
}

// Both ends of a loopback TCP connection, Nagle off.
std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket> connected_pair(asio::io_context& io) {
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::ip::tcp::socket near(io);
  near.connect(acceptor.local_endpoint());
  asio::ip::tcp::socket far = acceptor.accept();
  near.set_option(asio::ip::tcp::no_delay(true));
  far.set_option(asio::ip::tcp::no_delay(true));
  return {std::move(near), std::move(far)};
}

// Echoes fixed-size messages until the peer closes the connection.
void echo(asio::ip::tcp::socket& socket, std::size_t message_bytes) {
  std::string message(message_bytes, '\0');
  asio::error_code closed;
  while (asio::read(socket, asio::buffer(message), closed) == message_bytes) asio::write(socket, asio::buffer(message));
}

// A follower of the bare replication: makes each message durable in `file`,
// then answers with one byte, until the leader closes the connection (which
// it may do before taking every answer: it needs only a majority's).
void append_and_answer(asio::ip::tcp::socket& socket, const fs::path& file, std::size_t bytes) {
  scratch_file log(file);
  std::string message(bytes, '\0');
  const char answer = 1;
  asio::error_code closed;
  while (asio::read(socket, asio::buffer(message), closed) == bytes) {
    log.append_durably(message);
    if (asio::write(socket, asio::buffer(&answer, 1), closed) != 1) return;
  }
}

// Waits until `needed` followers have answered all `sent` messages.
// answers[i] counts follower i's answers so far: a slower follower's answers
// to earlier messages are taken as they come. Throws when a follower has
// closed its end.
void await_answers(std::vector<asio::ip::tcp::socket>& followers, std::vector<std::size_t>& answers,
                   std::size_t sent, std::size_t needed) {
  std::vector<pollfd> ready(followers.size());
  while (static_cast<std::size_t>(std::count(answers.begin(), answers.end(), sent)) < needed) {
    for (std::size_t i = 0; i < followers.size(); ++i) ready[i] = {followers[i].native_handle(), POLLIN, 0};
    if (::poll(ready.data(), ready.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    for (std::size_t i = 0; i < followers.size(); ++i) {
      std::array<char, 64> taken;
      if (ready[i].revents != 0) answers[i] += followers[i].read_some(asio::buffer(taken));
    }
  }
}

// The leader's side of the bare replication: sends each message to every
// follower before making it durable itself, as a Raft leader may.
histogram lead_replication(std::vector<asio::ip::tcp::socket>& followers, const fs::path& file, std::size_t samples,
                           std::size_t answers_needed, std::size_t bytes) {
  scratch_file log(file);
  const std::string message(bytes, 'x');
  std::vector<std::size_t> answers(followers.size(), 0);
  histogram latencies;
  for (std::size_t sent = 1; sent <= samples; ++sent) {
    const clock::time_point start = clock::now();
    for (asio::ip::tcp::socket& follower : followers) asio::write(follower, asio::buffer(message));
    log.append_durably(message);
    await_answers(followers, answers, sent, answers_needed);
    latencies.record(nanoseconds_since(start));
  }
  return latencies;
}

}  // namespace

histogram measure_durable_append(const fs::path& dir, std::size_t samples, std::size_t writers,
                                 std::size_t write_bytes) {
  histogram latencies;
  std::vector<std::exception_ptr> failures(writers);
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      try {
        append_samples(dir / ("fsync-probe-" + std::to_string(w)), samples, write_bytes, latencies);
      } catch (...) {
        failures[w] = std::current_exception();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  rethrow_first(failures);
  return latencies;
}

histogram measure_loopback_round_trip(std::size_t samples, std::size_t message_bytes) {
  asio::io_context io;
  auto [near, far] = connected_pair(io);
  std::thread echoer([&echoing = far, message_bytes] { echo(echoing, message_bytes); });
  histogram latencies;
  std::string message(message_bytes, 'x');
  for (std::size_t i = 0; i < samples; ++i) {
    const clock::time_point start = clock::now();
    asio::write(near, asio::buffer(message));
    asio::read(near, asio::buffer(message));
    latencies.record(nanoseconds_since(start));
  }
  near.close();  // ends the echo
  echoer.join();
  return latencies;
}

histogram measure_bare_replication(const fs::path& dir, std::size_t samples, std::size_t followers,
                                   std::size_t answers_needed, std::size_t bytes) {
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> leader_ends;
  std::vector<asio::ip::tcp::socket> follower_ends;
  for (std::size_t i = 0; i < followers; ++i) {
    auto [near, far] = connected_pair(io);
    leader_ends.push_back(std::move(near));
    follower_ends.push_back(std::move(far));
  }
  std::vector<std::exception_ptr> follower_failures(followers);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < followers; ++i) {
    threads.emplace_back([&, i] {
      try {
        append_and_answer(follower_ends[i], dir / ("replication-probe-" + std::to_string(i + 1)), bytes);
      } catch (...) {
        follower_failures[i] = std::current_exception();
      }
      follower_ends[i].close();  // the leader then stops waiting for this follower
    });
  }
  histogram latencies;
  std::exception_ptr leader_failure;
  try {
    latencies = lead_replication(leader_ends, dir / "replication-probe-0", samples, answers_needed, bytes);
  } catch (...) {
    leader_failure = std::current_exception();
  }
  leader_ends.clear();  // ends every follower's loop
  for (std::thread& thread : threads) thread.join();
  rethrow_first(follower_failures);  // a follower's failure explains the leader's
  if (leader_failure) std::rethrow_exception(leader_failure);
  return latencies;
}

double physical_bound::floor_microseconds(unsigned round_trips) const {
  return p50_plus_round_trips(durable_append, round_trips, round_trip);
}

std::optional<double> physical_bound::shared_disk_floor_microseconds(unsigned round_trips) const {
  if (concurrent_durable_append.count() == 0) return std::nullopt;
  return p50_plus_round_trips(concurrent_durable_append, round_trips, round_trip);
}

std::optional<double> physical_bound::bare_replication_microseconds(unsigned extra_round_trips) const {
  if (bare_replication.count() == 0) return std::nullopt;
  return p50_plus_round_trips(bare_replication, extra_round_trips, round_trip);
}

physical_bound measure_physical_bound(const fs::path& dir, std::size_t samples, std::size_t nodes,
                                      std::size_t payload_bytes) {
  physical_bound bound;
  bound.writers = nodes;
  bound.concurrent_write_bytes = std::max<std::size_t>(payload_bytes, 1);
  bound.durable_append = measure_durable_append(dir, samples);
  if (nodes > 1) {
    bound.concurrent_durable_append = measure_durable_append(dir, samples, nodes, bound.concurrent_write_bytes);
    bound.bare_replication = measure_bare_replication(dir, samples, bound.followers(), bound.answers_needed(),
                                                      bound.concurrent_write_bytes);
  }
  bound.round_trip = measure_loopback_round_trip(samples * 10);
  return bound;
}

physical_bound pooled(const physical_bound& first, const physical_bound& second) {
  physical_bound both = first;
  both.durable_append.merge(second.durable_append);
  both.concurrent_durable_append.merge(second.concurrent_durable_append);
  both.round_trip.merge(second.round_trip);
  both.bare_replication.merge(second.bare_replication);
  return both;
}

nlohmann::json to_json(const physical_bound& bound) {
  nlohmann::json out = {
      {"fsync_4k_us", latency_summary_json(bound.durable_append)},
      {"loopback_rtt_us", latency_summary_json(bound.round_trip)},
      {"floor_1rtt_1fsync_us", bound.floor_microseconds(1)},
  };
  if (bound.concurrent_durable_append.count() != 0) {
    out["fsync_concurrent_us"] = latency_summary_json(bound.concurrent_durable_append);
    out["fsync_concurrent_us"]["writers"] = bound.writers;
    out["fsync_concurrent_us"]["write_bytes"] = bound.concurrent_write_bytes;
  }
  if (bound.bare_replication.count() != 0) {
    out["bare_replication_us"] = latency_summary_json(bound.bare_replication);
    out["bare_replication_us"]["followers"] = bound.followers();
    out["bare_replication_us"]["answers_needed"] = bound.answers_needed();
    out["bare_replication_us"]["bytes"] = bound.concurrent_write_bytes;
  }
  return out;
}

}  // namespace coraft::bench
