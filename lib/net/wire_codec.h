// Conversions between coraft's messages and their protobuf frames (wire.proto).
// Decoding validates what protobuf cannot: a request or response without a
// body, an unknown entry kind or an undecodable membership throw
// std::system_error(tcp_error::malformed_frame).
#pragma once

#include <coraft/messages.h>

#include "wire.pb.h"

#include <cstdint>
#include <variant>

namespace coraft::net {

using request_message =
    std::variant<vote_request, append_request, heartbeat_request, timeout_now_request, read_index_request,
                 snapshot_request>;

using response_message = std::variant<vote_response, append_response, heartbeat_response, timeout_now_response,
                                      read_index_response, snapshot_response>;

void to_wire(std::uint64_t call_id, const request_message& message, wire::Request& out);
void to_wire(std::uint64_t call_id, const response_message& message, wire::Response& out);

// Entry payloads are moved out of `in`.
request_message from_wire(wire::Request& in);
// Precondition: `in` does not hold a Failure (the caller handles those).
response_message from_wire(const wire::Response& in);

}  // namespace coraft::net
