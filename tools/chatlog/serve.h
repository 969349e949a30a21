// `chatlog serve`: one member of the chat cluster, until SIGINT or SIGTERM.
#pragma once

#include <coraft/tcp_node.h>

namespace chatlog {

// Runs member `id` of `config`: the coraft node and the client port. Returns
// the process's exit status; a failure to start is logged and answers 1.
int serve(const coraft::cluster_config& config, coraft::node_id id);

}  // namespace chatlog
