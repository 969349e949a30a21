#include "engine/worker.h"

namespace coraft::engine {

// The engine joins its workers before it can be destroyed (shutdown() or
// ~raft()), so this runs on another thread with nothing left to stop.
worker::~worker() {
  keep_running_.reset();
  context_.stop();
  if (thread_.joinable()) thread_.join();
}

void worker::start() {
  keep_running_.emplace(context_.get_executor());
  thread_ = std::thread([this] { context_.run(); });
}

void worker::join() {
  keep_running_.reset();
  if (thread_.joinable()) thread_.join();
}

}  // namespace coraft::engine
