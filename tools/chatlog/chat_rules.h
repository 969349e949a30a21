// What a chat message may contain. Checked by the server before it proposes
// and again by the state machine when it applies (so that every replica
// refuses the same commands).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace chatlog {

inline constexpr std::size_t max_room_bytes = 64;
inline constexpr std::size_t max_user_bytes = 64;
inline constexpr std::size_t max_text_bytes = 4096;

// Each returns a description of the problem, or nullopt when the value is fine.
// Rooms are 1..64 of [A-Za-z0-9_.#-] (they are part of storage keys).
std::optional<std::string> check_room(std::string_view room);
// Users and texts are non-empty and hold no control characters.
std::optional<std::string> check_user(std::string_view user);
std::optional<std::string> check_text(std::string_view text);

}  // namespace chatlog
