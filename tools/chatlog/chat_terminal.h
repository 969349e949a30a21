// `chatlog chat`: an interactive chat in a plain ANSI terminal. The room's
// recent history, then every message as the cluster commits it, above a
// prompt to type into. Without a terminal (a pipe), it posts each input line
// and prints messages without the prompt.
#pragma once

#include "cluster_client.h"

#include <string>

namespace chatlog {

// Returns the process's exit status.
int run_chat(const client_options& options, const std::string& room, const std::string& user);

}  // namespace chatlog
