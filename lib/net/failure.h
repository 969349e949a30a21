// How lib/net reports failures: errors carry the peer or connection they concern,
// and no coroutine's exception vanishes.
#pragma once

#include <exception>
#include <sstream>
#include <string>
#include <system_error>

namespace coraft::net {

// The parts streamed into one string: concat("peer ", id, " at ", address).
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// The same error with `context` (who failed) in front of its reason.
std::system_error in_context(const std::string& context, const std::system_error& error);

// The exception as a std::system_error; any other exception becomes std::errc::io_error.
std::system_error as_system_error(const std::exception& error);

// A co_spawn completion for a coroutine nobody awaits: logs the exception it
// ended with, if any.
class log_failure {
 public:
  explicit log_failure(std::string task) : task_(std::move(task)) {}
  void operator()(std::exception_ptr error) const;

 private:
  std::string task_;
};

}  // namespace coraft::net
