// Vocabulary types shared by the core, the engine and every storage or network
// implementation. This header is free of Asio so that the core can use it.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace coraft {

// An unsigned 64-bit number that cannot be mixed up with a number of another
// kind: a term is not an index is not a node id.
template <class Tag>
struct strong_uint {
  std::uint64_t value = 0;

  constexpr strong_uint() = default;
  constexpr explicit strong_uint(std::uint64_t v) : value(v) {}

  friend constexpr auto operator<=>(strong_uint, strong_uint) = default;

  constexpr strong_uint& operator++() {
    ++value;
    return *this;
  }
  friend constexpr strong_uint operator+(strong_uint a, std::uint64_t n) { return strong_uint(a.value + n); }
  friend constexpr strong_uint operator-(strong_uint a, std::uint64_t n) { return strong_uint(a.value - n); }
  // The number of steps from b up to a; precondition: b <= a.
  friend constexpr std::uint64_t operator-(strong_uint a, strong_uint b) { return a.value - b.value; }
};

using term_t = strong_uint<struct term_tag>;
using index_t = strong_uint<struct index_tag>;
// Node ids start at 1; node_id{} (0) means "no node" (no vote, no known leader).
using node_id = strong_uint<struct node_tag>;

inline constexpr node_id no_node{};

// Identifies one log entry. The defaulted ordering compares the term first and
// then the index: exactly Raft's "at least as up-to-date" rule for last log ids.
struct log_id {
  term_t term;
  index_t index;
  friend constexpr auto operator<=>(const log_id&, const log_id&) = default;
};

// An immutable byte string shared between the log, outgoing messages and the
// apply queue without copying. Safe to share across threads (it never changes).
class shared_bytes {
 public:
  shared_bytes() = default;
  explicit shared_bytes(std::string bytes);
  explicit shared_bytes(std::string_view bytes) : shared_bytes(std::string(bytes)) {}

  std::string_view view() const { return data_ ? std::string_view(*data_) : std::string_view(); }
  std::size_t size() const { return data_ ? data_->size() : 0; }
  bool empty() const { return size() == 0; }

  friend bool operator==(const shared_bytes& a, const shared_bytes& b) { return a.view() == b.view(); }

 private:
  std::shared_ptr<const std::string> data_;
};

enum class entry_kind : std::uint8_t {
  command = 0,     // an application command, applied to the state machine
  noop = 1,        // appended by every new leader so that it can commit in its term
  membership = 2,  // payload is an encoded `membership` (see encode_membership)
};

struct log_entry {
  term_t term;
  index_t index;
  entry_kind kind = entry_kind::command;
  shared_bytes payload;

  log_id id() const { return {term, index}; }
  friend bool operator==(const log_entry&, const log_entry&) = default;
};

// The members of a group. In joint consensus (C_old,new) both `voters` (C_new)
// and `outgoing_voters` (C_old) must agree; otherwise `outgoing_voters` is empty.
// Learners receive the log but never vote and never count for a quorum.
// Invariant: learners are disjoint from voters and outgoing_voters.
struct membership {
  std::set<node_id> voters;
  std::set<node_id> outgoing_voters;
  std::set<node_id> learners;
  // Opaque per-node data for the network (an address); ignored by the protocol.
  std::map<node_id, std::string> addresses;

  bool joint() const { return !outgoing_voters.empty(); }
  bool is_voter(node_id id) const { return voters.contains(id) || outgoing_voters.contains(id); }
  bool contains(node_id id) const { return is_voter(id) || learners.contains(id); }
  // Every node that receives the log: voters of both halves and learners.
  std::set<node_id> all_members() const;

  friend bool operator==(const membership&, const membership&) = default;
};

std::string encode_membership(const membership& config);
// nullopt when the bytes are not an encoded membership.
std::optional<membership> decode_membership(std::string_view bytes);

// The state that must be durable before a vote is granted: the current term and
// the vote cast in it.
struct hard_state {
  term_t term;
  node_id voted_for;  // no_node when no vote was cast in `term`
  friend bool operator==(const hard_state&, const hard_state&) = default;
};

// Describes a snapshot of the state machine: everything up to and including
// `last_included` is in it, and `config` is the membership in force at that point.
struct snapshot_meta {
  log_id last_included;
  membership config;
  friend bool operator==(const snapshot_meta&, const snapshot_meta&) = default;
};

std::ostream& operator<<(std::ostream& out, term_t term);
std::ostream& operator<<(std::ostream& out, index_t index);
std::ostream& operator<<(std::ostream& out, node_id id);
std::ostream& operator<<(std::ostream& out, const log_id& id);

}  // namespace coraft

template <class Tag>
struct std::hash<coraft::strong_uint<Tag>> {
  std::size_t operator()(coraft::strong_uint<Tag> v) const noexcept { return std::hash<std::uint64_t>{}(v.value); }
};
