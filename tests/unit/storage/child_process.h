// A forked child process for crash tests: it runs a piece of work, reports
// what it sees over a pipe, and can be killed at any moment. The child never
// returns into the test framework.
#pragma once

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace coraft::testing {

// How long the parent waits for a child's next report before calling it hung.
inline constexpr auto report_timeout = std::chrono::seconds(120);

// The child's end of the pipe: length-prefixed messages. A message of up to
// PIPE_BUF bytes with its length is one write(2), which a kill cannot tear.
class reporter {
 public:
  explicit reporter(int pipe) : pipe_(pipe) {}

  void send(std::string_view message) const {
    const std::uint64_t length = message.size();
    std::string framed(reinterpret_cast<const char*>(&length), sizeof length);
    framed += message;
    write_all(framed);
  }

 private:
  void write_all(std::string_view bytes) const {
    while (!bytes.empty()) {
      const ssize_t written = ::write(pipe_, bytes.data(), bytes.size());
      if (written <= 0) ::_exit(4);
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }

  int pipe_;
};

// Runs `work` in a forked child that never returns into the test framework: it
// ends with _exit(0), or reports "failed: <reason>" and ends with _exit(2).
class child_process {
 public:
  explicit child_process(const std::function<void(const reporter&)>& work) {
    int ends[2];
    REQUIRE(::pipe(ends) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(ends[0]);
      const reporter reports(ends[1]);
      try {
        work(reports);
      } catch (const std::exception& error) {
        reports.send(std::string("failed: ") + error.what());
        ::_exit(2);
      }
      ::_exit(0);
    }
    ::close(ends[1]);
    reports_ = ends[0];
  }

  // Also when a check failed half-way.
  ~child_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(reports_);
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // The next message, or nullopt once the child is gone.
  std::optional<std::string> next_report() {
    std::uint64_t length = 0;
    if (!read_exactly(reinterpret_cast<char*>(&length), sizeof length)) return std::nullopt;
    std::string message(length, '\0');
    REQUIRE(read_exactly(message.data(), length));
    return message;
  }

  // The next message, which must exist and must not be a failure.
  std::string expect_report() {
    const auto message = next_report();
    REQUIRE(message);
    INFO(*message);
    REQUIRE_FALSE(message->starts_with("failed: "));
    return *message;
  }

  void kill() { ::kill(pid_, SIGKILL); }

  // The child's wait status, once it has ended.
  int wait() {
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = 0;
    return status;
  }

 private:
  bool read_exactly(char* out, std::size_t size) {
    std::size_t received = 0;
    while (received < size) {
      pollfd readable{reports_, POLLIN, 0};
      REQUIRE(::poll(&readable, 1, std::chrono::milliseconds(report_timeout).count()) == 1);  // else the child hangs
      const ssize_t count = ::read(reports_, out + received, size - received);
      REQUIRE(count >= 0);
      if (count == 0) return false;
      received += static_cast<std::size_t>(count);
    }
    return true;
  }

  pid_t pid_ = 0;
  int reports_ = -1;
};

}  // namespace coraft::testing
