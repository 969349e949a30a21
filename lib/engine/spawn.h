// Every coroutine the engine spawns ends in a completion that reports an
// escaped exception through coraft::log instead of losing it.
#pragma once

#include <coraft/logging.h>

#include <exception>
#include <string_view>

namespace coraft::engine {

inline void log_exception(std::string_view what, std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& failure) {
    log(log_level::error, what, ": ", failure.what());
  } catch (...) {
    log(log_level::error, what, ": unknown exception");
  }
}

// `what` must outlive the coroutine (a string literal).
inline auto logging_completion(std::string_view what) {
  return [what](std::exception_ptr error) { log_exception(what, error); };
}

}  // namespace coraft::engine
