// The client subcommands of chatlog. Each runs on the calling thread and
// returns the process's exit status: 0 done, 1 refused or unanswered (the
// reason on stderr). Usage mistakes throw usage_error.
#pragma once

#include "cluster_client.h"
#include "command_line.h"

namespace chatlog {

// The options each client subcommand takes besides --config, --servers and --timeout.
command_spec client_command_spec(const std::string& name);
bool is_client_command(const std::string& name);

int run_client_command(const std::string& name, const client_options& options, const command_line& args);

}  // namespace chatlog
