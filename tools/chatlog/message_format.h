// How clients print a chat message.
#pragma once

#include "protocol.h"

#include <cstdint>
#include <string>

namespace chatlog {

// The local time of day of `time_ms` (milliseconds since the epoch):
// "14:03:05", or "14:03:05.123" with `milliseconds`.
std::string local_clock(std::uint64_t time_ms, bool milliseconds);

// "#12 14:03:05 alice: hello" (local time). With `color`, the time is dim and
// the user bold, in green when `own`.
std::string format_message(const json& message, bool own, bool color);

}  // namespace chatlog
