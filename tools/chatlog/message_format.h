// How clients print a chat message.
#pragma once

#include "protocol.h"

#include <string>

namespace chatlog {

// "#12 14:03:05 alice: hello" (local time). With `color`, the time is dim and
// the user bold, in green when `own`.
std::string format_message(const json& message, bool own, bool color);

}  // namespace chatlog
