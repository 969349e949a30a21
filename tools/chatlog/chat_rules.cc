#include "chat_rules.h"

#include <algorithm>

namespace chatlog {
namespace {

bool room_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '#' || c == '-';
}

// ASCII control characters would let a message rewrite a reader's terminal.
bool control_character(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

std::optional<std::string> check_words(std::string_view value, std::string_view what, std::size_t max_bytes) {
  if (value.empty()) return std::string(what) + " must not be empty";
  if (value.size() > max_bytes) return std::string(what) + " is longer than " + std::to_string(max_bytes) + " bytes";
  if (std::any_of(value.begin(), value.end(), control_character)) {
    return std::string(what) + " must not contain control characters";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_room(std::string_view room) {
  if (room.empty() || room.size() > max_room_bytes || !std::all_of(room.begin(), room.end(), room_character)) {
    return "room must be 1 to " + std::to_string(max_room_bytes) + " characters of A-Z a-z 0-9 _ . # -";
  }
  return std::nullopt;
}

std::optional<std::string> check_user(std::string_view user) { return check_words(user, "user", max_user_bytes); }

std::optional<std::string> check_text(std::string_view text) { return check_words(text, "text", max_text_bytes); }

}  // namespace chatlog
