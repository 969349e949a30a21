#include "message_format.h"

#include <cstdio>
#include <ctime>

namespace chatlog {

std::string local_clock(std::uint64_t time_ms, bool milliseconds) {
  const std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm local{};
  ::localtime_r(&seconds, &local);
  char text[16];
  std::strftime(text, sizeof text, "%H:%M:%S", &local);
  if (!milliseconds) return text;
  char fraction[8];
  std::snprintf(fraction, sizeof fraction, ".%03u", static_cast<unsigned>(time_ms % 1000));
  return text + std::string(fraction);
}

std::string format_message(const json& message, bool own, bool color) {
  const std::string seq = "#" + std::to_string(message.value("seq", std::uint64_t{0}));
  const std::string time = local_clock(message.value("time_ms", std::uint64_t{0}), false);
  const std::string user = message.value("user", std::string());
  const std::string text = message.value("text", std::string());
  if (!color) return seq + " " + time + " " + user + ": " + text;
  const char* user_style = own ? "\033[1;32m" : "\033[1m";
  return "\033[2m" + seq + " " + time + "\033[0m " + user_style + user + "\033[0m: " + text;
}

}  // namespace chatlog
