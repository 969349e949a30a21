#include <coraft/logging.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace coraft {
namespace {

struct sink_state {
  std::mutex mutex;  // serializes calls to the sink and replacing it
  log_sink sink;
  std::atomic<int> minimum{static_cast<int>(log_level::warning)};
};

sink_state& state() {
  static sink_state instance;
  return instance;
}

}  // namespace

std::string_view to_string(log_level level) {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
  }
  return "unknown";
}

void set_log_sink(log_sink sink, log_level minimum) {
  std::lock_guard lock(state().mutex);
  state().sink = std::move(sink);
  state().minimum = static_cast<int>(minimum);
}

bool log_enabled(log_level level) { return static_cast<int>(level) >= state().minimum.load(std::memory_order_relaxed); }

void log_line(log_level level, std::string_view line) {
  std::lock_guard lock(state().mutex);
  if (state().sink) {
    state().sink(level, line);
  } else {
    std::fprintf(stderr, "coraft %s: %.*s\n", to_string(level).data(), static_cast<int>(line.size()), line.data());
  }
}

}  // namespace coraft
