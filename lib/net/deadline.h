// A time limit on one phase of a connection (connecting, the handshake, a whole
// transfer): when it passes first, an action (usually closing the socket) makes
// the phase's pending operations fail.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace coraft::net {

// Used from one strand. Whatever the action refers to must outlive the
// deadline or its disarm(): declare the deadline after the socket it closes.
class deadline {
 public:
  explicit deadline(const asio::any_io_executor& executor) : timer_(executor) {}
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;
  ~deadline() { disarm(); }

  void arm(std::chrono::milliseconds limit, std::function<void()> on_expiry);
  void disarm();
  // Whether the limit passed while armed (and the action ran).
  bool expired() const { return state_ && state_->expired; }

 private:
  // Shared with the timer's handler, which may run after disarm() or after
  // the deadline is gone; it then does nothing.
  struct state {
    bool armed = true;
    bool expired = false;
  };

  asio::steady_timer timer_;
  std::shared_ptr<state> state_;
};

}  // namespace coraft::net
