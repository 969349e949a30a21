// The messages nodes exchange. The core produces and consumes them; a network
// implementation carries requests to a peer and brings back the response.
// This header is free of Asio so that the core can use it.
#pragma once

#include <coraft/types.h>

#include <cstdint>
#include <variant>
#include <vector>

namespace coraft {

// Fields every message carries. `request_id` is chosen by the sender of a request
// and echoed unchanged in the response to it; the protocol itself ignores it.
struct message_header {
  node_id from;
  term_t term;
  std::uint64_t request_id = 0;
  friend bool operator==(const message_header&, const message_header&) = default;
};

struct vote_request : message_header {
  log_id last_log;
  // A trial election (pre-vote): `term` is the candidate's term + 1, and neither
  // side changes its term or vote.
  bool pre_vote = false;
  // A campaign the leader ordered (leadership transfer): bypasses leader stickiness.
  bool transfer = false;
  friend bool operator==(const vote_request&, const vote_request&) = default;
};

struct vote_response : message_header {
  bool pre_vote = false;
  bool granted = false;
  friend bool operator==(const vote_response&, const vote_response&) = default;
};

struct append_request : message_header {
  log_id prev;  // the entry just before `entries`; the follower must hold it
  std::vector<log_entry> entries;
  index_t leader_commit;
  friend bool operator==(const append_request&, const append_request&) = default;
};

struct append_response : message_header {
  bool success = false;
  // On success: the follower's log matches the leader's up to this index.
  index_t match_index;
  // On rejection: `prev.index` of the rejected request and the follower's hint
  // for where the logs diverge (fast back-off):
  index_t rejected_index;
  term_t conflict_term;    // the follower's term at rejected_index; 0 when its log is shorter
  index_t conflict_index;  // first index holding conflict_term, or the follower's last index + 1
  friend bool operator==(const append_response&, const append_response&) = default;
};

// Sent by the leader every heartbeat interval, independently of appends, so that
// liveness never waits behind a large batch. `commit` never exceeds what the
// leader knows the follower holds, so the follower may commit up to it at once.
struct heartbeat_request : message_header {
  index_t commit;
  std::uint64_t read_round = 0;  // confirms leadership for pending ReadIndex reads
  friend bool operator==(const heartbeat_request&, const heartbeat_request&) = default;
};

struct heartbeat_response : message_header {
  std::uint64_t read_round = 0;  // echoed from the request
  friend bool operator==(const heartbeat_response&, const heartbeat_response&) = default;
};

// Leadership transfer: the receiver starts an election at once.
struct timeout_now_request : message_header {
  friend bool operator==(const timeout_now_request&, const timeout_now_request&) = default;
};
struct timeout_now_response : message_header {
  friend bool operator==(const timeout_now_response&, const timeout_now_response&) = default;
};

// The leader offers a snapshot; its data travels separately (streamed by the engine).
struct snapshot_request : message_header {
  snapshot_meta meta;
  friend bool operator==(const snapshot_request&, const snapshot_request&) = default;
};

struct snapshot_response : message_header {
  bool success = false;
  index_t last_index;  // the follower's last log index after handling the request
  friend bool operator==(const snapshot_response&, const snapshot_response&) = default;
};

// A follower asks the leader for a read index (follower read). `context` is the
// follower's own id for the read, echoed in the response.
struct read_index_request : message_header {
  std::uint64_t context = 0;
  friend bool operator==(const read_index_request&, const read_index_request&) = default;
};

struct read_index_response : message_header {
  std::uint64_t context = 0;
  bool success = false;
  index_t read_index;
  friend bool operator==(const read_index_response&, const read_index_response&) = default;
};

using message_body =
    std::variant<vote_request, vote_response, append_request, append_response, heartbeat_request, heartbeat_response,
                 timeout_now_request, timeout_now_response, snapshot_request, snapshot_response, read_index_request,
                 read_index_response>;

struct message {
  node_id to;
  message_body body;
  friend bool operator==(const message&, const message&) = default;
};

inline const message_header& header_of(const message_body& body) {
  return std::visit([](const auto& m) -> const message_header& { return m; }, body);
}

}  // namespace coraft
