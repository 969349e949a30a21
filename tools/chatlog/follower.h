// Following a room: a stream of its messages that outlives the member it
// comes from. Used by `chatlog tail --follow` and `chatlog chat`.
#pragma once

#include "cluster_client.h"
#include "protocol.h"

#include <asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace chatlog {

struct follow_callbacks {
  // Each message once, in sequence order.
  std::function<void(const json& message)> message;
  // Where the stream comes from, and why it moved.
  std::function<void(const std::string& notice)> notice;
};

// Streams the messages of `room` from sequence number `from` on, forever:
// from one member, and when that member stops answering (a closed
// connection, or no heartbeat for a few seconds), from the next one, resuming
// after the last message handed over. Throws std::runtime_error when a member
// refuses the request itself (a malformed room).
asio::awaitable<void> follow_room(client_options options, std::string room, std::uint64_t from,
                                  follow_callbacks callbacks);

}  // namespace chatlog
