#include "net/deadline.h"

namespace coraft::net {

void deadline::arm(std::chrono::milliseconds limit, std::function<void()> on_expiry) {
  disarm();
  state_ = std::make_shared<state>();
  timer_.expires_after(limit);
  timer_.async_wait([phase = state_, on_expiry = std::move(on_expiry)](std::error_code error) {
    if (error || !phase->armed) return;
    phase->expired = true;
    on_expiry();
  });
}

void deadline::disarm() {
  if (state_) state_->armed = false;
  timer_.cancel();
}

}  // namespace coraft::net
