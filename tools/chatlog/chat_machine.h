// The replicated chat log: rooms of messages, each message numbered within
// its room in the order the log applied it. A coraft::leveldb_state_machine, so
// the messages, the client sessions (exactly-once posts) and the last applied
// entry change together in one LevelDB write.
//
// Commands (the payload of a coraft::session_command) are JSON objects:
//   {"op": "post", "room": R, "user": U, "text": T, "time_ms": N}
//       answers {"seq": S, "time_ms": N}: S numbers the message within R.
//       time_ms is the leader's clock when it accepted the post: it travels
//       in the command because apply must not read clocks.
//   {"op": "register", "id": N, "client_address": A}
//       records where member N serves clients; answers {}.
// Queries are JSON objects too, answered alike by linearizable and local reads:
//   {"q": "tail", "room": R, "from": N, "limit": L}   messages N.. (at most L)
//   {"q": "tail", "room": R, "last": L}               the room's last L messages
//       both answer {"messages": [{"seq", "user", "text", "time_ms"}...], "last": S}
//       where S is the room's last sequence number (0: no message yet)
//   {"q": "rooms"}       answers {"rooms": [{"room": R, "messages": S}...]}
//   {"q": "directory"}   answers {"client_addresses": {"N": A, ...}}
// A command or query that is not understood answers
// {"error": "bad_request", "message": ...}; it changes nothing.
#pragma once

#include <coraft/leveldb_state_machine.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace chatlog {

// At most this many messages per tail answer.
inline constexpr std::uint64_t max_tail_limit = 1000;

class chat_machine final : public coraft::leveldb_state_machine {
 public:
  explicit chat_machine(const std::string& directory);

  // Answers `query` from this replica's applied state, with no coordination:
  // possibly stale, never torn.
  std::string read_local(std::string_view query) const;

 protected:
  std::string apply_command(std::string_view command, const coraft::state_reader& state,
                            coraft::state_writer& batch) override;
  std::string answer_query(std::string_view request, const coraft::state_reader& state) override;
};

}  // namespace chatlog
