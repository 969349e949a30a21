#include "protocol.h"

#include <coraft/error.h>

#include <array>

namespace chatlog {

std::optional<read_choice> parse_read_choice(std::string_view name) {
  if (name == "linearizable") return read_choice{false, coraft::read_mode::read_index};
  if (name == "lease") return read_choice{false, coraft::read_mode::lease};
  if (name == "follower") return read_choice{false, coraft::read_mode::follower};
  if (name == "stale") return read_choice{true, coraft::read_mode::read_index};
  return std::nullopt;
}

std::string error_name(const std::error_code& error) {
  if (error.category() != coraft::error_category()) return "internal";
  switch (static_cast<coraft::errc>(error.value())) {
    case coraft::errc::not_leader: return "not_leader";
    case coraft::errc::overloaded: return "overloaded";
    case coraft::errc::shutting_down: return "shutting_down";
    case coraft::errc::timeout: return "timeout";
    case coraft::errc::leadership_lost: return "leadership_lost";
    case coraft::errc::transfer_in_progress: return "transfer_in_progress";
    case coraft::errc::membership_change_in_progress: return "membership_change_in_progress";
    case coraft::errc::not_member: return "not_member";
    case coraft::errc::storage_failed: return "storage_failed";
    case coraft::errc::invalid_argument: return "invalid_argument";
  }
  return "internal";
}

json error_reply(std::string_view code, std::string_view message) {
  return {{"ok", false}, {"error", code}, {"message", message}};
}

std::string to_text(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string to_line(const json& message) { return to_text(message) + "\n"; }

bool retryable(std::string_view error) {
  static constexpr std::array<std::string_view, 8> transient = {
      "not_leader",   "overloaded",           "timeout",
      "leadership_lost", "shutting_down",     "transfer_in_progress",
      "storage_failed",  "membership_change_in_progress"};
  for (std::string_view name : transient) {
    if (error == name) return true;
  }
  return false;
}

}  // namespace chatlog
