#include "net/failure.h"

#include <coraft/logging.h>

#include <string_view>

namespace coraft::net {
namespace {

// std::system_error::what() is "reason: code message"; the reason alone.
std::string reason_of(const std::system_error& error) {
  std::string what = error.what();
  std::string message = error.code().message();
  if (what == message) return {};
  std::string suffix = ": " + message;
  if (what.ends_with(suffix)) what.resize(what.size() - suffix.size());
  return what;
}

}  // namespace

std::system_error in_context(const std::string& context, const std::system_error& error) {
  std::string reason = reason_of(error);
  return std::system_error(error.code(), reason.empty() ? context : context + ": " + reason);
}

std::system_error as_system_error(const std::exception& error) {
  if (const auto* system = dynamic_cast<const std::system_error*>(&error)) return *system;
  return std::system_error(std::make_error_code(std::errc::io_error), error.what());
}

void log_failure::operator()(std::exception_ptr error) const {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& failure) {
    log(log_level::error, task_, " failed: ", failure.what());
  } catch (...) {
    log(log_level::error, task_, " failed with an unknown exception");
  }
}

}  // namespace coraft::net
