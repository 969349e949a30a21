// coraft's log lines go to one sink the application chooses. The library never
// writes to stdout; by default warnings and errors go to stderr.
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <string_view>

namespace coraft {

enum class log_level { debug = 0, info = 1, warning = 2, error = 3 };

std::string_view to_string(log_level level);

// Receives every line at or above the minimum level. May be called from any
// thread, one call at a time.
using log_sink = std::function<void(log_level level, std::string_view line)>;

// Replaces the sink (nullptr restores the default: stderr) and the minimum level.
void set_log_sink(log_sink sink, log_level minimum = log_level::warning);

bool log_enabled(log_level level);
void log_line(log_level level, std::string_view line);

// log(level, "peer ", id, " unreachable: ", reason) formats only when the level
// is enabled.
template <class... Parts>
void log(log_level level, const Parts&... parts) {
  if (!log_enabled(level)) return;
  std::ostringstream line;
  (line << ... << parts);
  log_line(level, line.str());
}

}  // namespace coraft
