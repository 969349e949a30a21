// The client protocol of `chatlog serve`: one JSON object per line, each way
// (README.md, section "chatlog", documents it). What server and clients share.
#pragma once

#include <coraft/options.h>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace chatlog {

using json = nlohmann::json;

// A request line longer than this is answered with line_too_long and the
// connection is closed (the rest of the line cannot be told from a request).
inline constexpr std::size_t max_line_bytes = 1 << 20;

// How a read is served: the three coraft read modes, or stale (this member's
// applied state, no coordination).
struct read_choice {
  bool stale = false;
  coraft::read_mode mode = coraft::read_mode::read_index;
};
// "linearizable" (the default), "lease", "follower" or "stale"; nullopt for anything else.
std::optional<read_choice> parse_read_choice(std::string_view name);

// The protocol's name for an error: coraft's errors by their enumerator
// ("not_leader", "timeout", ...), anything else "internal".
std::string error_name(const std::error_code& error);

// {"ok": false, "error": code, "message": message}
json error_reply(std::string_view code, std::string_view message);

// JSON text on one line. Never throws on strings that are not UTF-8: they
// are replaced.
std::string to_text(const json& value);
// One line of the protocol: to_text(message), then '\n'.
std::string to_line(const json& message);

// Errors a client may retry, perhaps elsewhere: the request was not applied,
// or it carries a session so that applying it again is harmless.
bool retryable(std::string_view error);

}  // namespace chatlog
