// coraft's errors, as std::error_code values in a category of their own, so
// they compose with Asio's and the standard library's.
#pragma once

#include <string>
#include <system_error>

namespace coraft {

enum class errc {
  not_leader = 1,           // this node does not lead; the result carries a hint of who does
  overloaded,               // a queue or byte cap is full: back off and retry
  shutting_down,            // the node is stopping
  timeout,                  // no answer in time; the command may still be applied
  leadership_lost,          // the entry was overwritten by another leader: it was never applied
  transfer_in_progress,     // leadership is moving; retry on the new leader
  membership_change_in_progress,  // one membership change at a time
  not_member,               // the node named is not a member (or is already one)
  storage_failed,           // the node stopped after its storage failed (fail-stop)
  invalid_argument,         // a bad request or option
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace coraft

template <>
struct std::is_error_code_enum<coraft::errc> : std::true_type {};
