#include "physical_bound.h"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
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

// Echoes fixed-size messages until the peer closes the connection.
void echo(asio::ip::tcp::acceptor& acceptor, std::size_t message_bytes) {
  asio::ip::tcp::socket socket = acceptor.accept();
  socket.set_option(asio::ip::tcp::no_delay(true));
  std::string message(message_bytes, '\0');
  asio::error_code error;
  while (asio::read(socket, asio::buffer(message), error) == message_bytes) asio::write(socket, asio::buffer(message));
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
  for (const std::exception_ptr& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  return latencies;
}

histogram measure_loopback_round_trip(std::size_t samples, std::size_t message_bytes) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::thread echoer([&] { echo(acceptor, message_bytes); });
  histogram latencies;
  {
    asio::ip::tcp::socket socket(io);
    socket.connect(acceptor.local_endpoint());
    socket.set_option(asio::ip::tcp::no_delay(true));
    std::string message(message_bytes, 'x');
    for (std::size_t i = 0; i < samples; ++i) {
      const clock::time_point start = clock::now();
      asio::write(socket, asio::buffer(message));
      asio::read(socket, asio::buffer(message));
      latencies.record(nanoseconds_since(start));
    }
  }  // closing the socket ends the echo
  echoer.join();
  return latencies;
}

double physical_bound::floor_microseconds(unsigned round_trips) const {
  return (static_cast<double>(durable_append.value_at_percentile(50)) +
          round_trips * static_cast<double>(round_trip.value_at_percentile(50))) /
         1e3;
}

std::optional<double> physical_bound::shared_disk_floor_microseconds(unsigned round_trips) const {
  if (concurrent_durable_append.count() == 0) return std::nullopt;
  return (static_cast<double>(concurrent_durable_append.value_at_percentile(50)) +
          round_trips * static_cast<double>(round_trip.value_at_percentile(50))) /
         1e3;
}

physical_bound measure_physical_bound(const fs::path& dir, std::size_t samples, std::size_t nodes,
                                      std::size_t payload_bytes) {
  physical_bound bound;
  bound.writers = nodes;
  bound.concurrent_write_bytes = std::max<std::size_t>(payload_bytes, 1);
  bound.durable_append = measure_durable_append(dir, samples);
  if (nodes > 1)
    bound.concurrent_durable_append = measure_durable_append(dir, samples, nodes, bound.concurrent_write_bytes);
  bound.round_trip = measure_loopback_round_trip(samples * 10);
  return bound;
}

physical_bound pooled(const physical_bound& first, const physical_bound& second) {
  physical_bound both = first;
  both.durable_append.merge(second.durable_append);
  both.concurrent_durable_append.merge(second.concurrent_durable_append);
  both.round_trip.merge(second.round_trip);
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
  return out;
}

}  // namespace coraft::bench
