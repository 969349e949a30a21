#include "engine/worker.h"

#include <asio/strand.hpp>

namespace coraft::engine {

worker::worker(std::optional<asio::any_io_executor> shared) {
  if (shared) {
    executor_ = asio::make_strand(*shared);
  } else {
    context_.emplace(1);
    executor_ = context_->get_executor();
  }
}

// The engine joins its workers before it can be destroyed (shutdown() or
// ~raft()), so this runs on another thread with nothing left to stop.
worker::~worker() {
  if (!context_) return;
  keep_running_.reset();
  context_->stop();
  if (thread_.joinable()) thread_.join();
}

void worker::start() {
  if (!context_) return;
  keep_running_.emplace(context_->get_executor());
  thread_ = std::thread([this] { context_->run(); });
}

void worker::join() {
  keep_running_.reset();
  if (thread_.joinable()) thread_.join();
}

}  // namespace coraft::engine
