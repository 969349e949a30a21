#include "message_format.h"

#include <chrono>
#include <ctime>

namespace chatlog {
namespace {

std::string clock_time(std::uint64_t time_ms) {
  const std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm local{};
  ::localtime_r(&seconds, &local);
  char text[16];
  std::strftime(text, sizeof text, "%H:%M:%S", &local);
  return text;
}

}  // namespace

std::string format_message(const json& message, bool own, bool color) {
  const std::string seq = "#" + std::to_string(message.value("seq", std::uint64_t{0}));
  const std::string time = clock_time(message.value("time_ms", std::uint64_t{0}));
  const std::string user = message.value("user", std::string());
  const std::string text = message.value("text", std::string());
  if (!color) return seq + " " + time + " " + user + ": " + text;
  const char* user_style = own ? "\033[1;32m" : "\033[1m";
  return "\033[2m" + seq + " " + time + "\033[0m " + user_style + user + "\033[0m: " + text;
}

}  // namespace chatlog
