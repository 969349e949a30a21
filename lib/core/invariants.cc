#include "core/invariants.h"

#include "core/quorum.h"

#include <sstream>

namespace coraft::core {
namespace {

template <class... Parts>
std::string describe(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

std::optional<std::string> check_log_shape(const raft_log& log, term_t term) {
  term_t previous = log.base().term;
  for (index_t i = log.first_index(); i <= log.last_index(); ++i) {
    const log_entry& entry = log.at(i);
    if (entry.index != i) return describe("entry at ", i, " claims index ", entry.index);
    if (entry.term < previous) return describe("log term decreases at ", i);
    previous = entry.term;
  }
  if (log.last_id().term > term) return describe("last log term ", log.last_id().term, " above current ", term);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> node::check_log() const { return check_log_shape(log_, term_); }

std::optional<std::string> node::check_invariants() const {
  const index_t last = log_.last_index();
  if (log_.last_id().term > term_) return describe("last log term ", log_.last_id().term, " above current ", term_);
  if (commit_ > last) return describe("commit ", commit_, " beyond last ", last);
  if (commit_ < log_.base().index) return describe("commit ", commit_, " below snapshot ", log_.base().index);
  if (persisted_ > last) return describe("persisted ", persisted_, " beyond last ", last);
  if (applying_ > std::min(commit_, persisted_))
    return describe("applying ", applying_, " beyond min(commit ", commit_, ", persisted ", persisted_, ")");
  if (applied_ > applying_) return describe("applied ", applied_, " beyond handed out ", applying_);
  if (unstable_from_ > last + 1) return describe("unstable_from ", unstable_from_, " beyond last + 1");
  if (configs_.empty() || !(configs_.rbegin()->second == config_)) return "config is not the latest in the log";
  if (snapshot_.last_included.index < log_.base().index) return "compacted entries not covered by the snapshot";
  if (const leader_state* leader = leading()) {
    if (leader_ != self_) return "leader does not know itself as leader";
    if (log_.last_id().term != term_) return "leader's last entry is not of its term";
    if (uncommitted_bytes_ != log_.payload_bytes(commit_ + 1, last)) return "uncommitted byte count drifted";
    for (const auto& [peer, pr] : leader->peers) {
      if (!(pr.match() < pr.next())) return describe("progress of ", peer, ": match ", pr.match(), " >= next ", pr.next());
      if (pr.next() > last + 1) return describe("progress of ", peer, ": next ", pr.next(), " beyond last + 1");
    }
  }
  return std::nullopt;
}

node_digest digest_of(const node& n) {
  return {n.term(), n.voted_for(), n.commit_index(), n.log().term_at(n.commit_index()), n.applied_index()};
}

std::optional<std::string> check_transition(const node_digest& before, const node& after) {
  if (after.term() < before.term) return describe("term went back from ", before.term, " to ", after.term());
  if (after.term() == before.term && before.voted_for != no_node && after.voted_for() != before.voted_for)
    return describe("vote changed within ", before.term, " from ", before.voted_for, " to ", after.voted_for());
  if (after.commit_index() < before.commit) return describe("commit went back from ", before.commit, " to ", after.commit_index());
  if (before.commit_term) {
    auto now = after.log().term_at(before.commit);
    if (now && *now != *before.commit_term) return describe("committed entry ", before.commit, " changed term");
  }
  if (after.applied_index() < before.applied) return describe("applied went back");
  return std::nullopt;
}

}  // namespace coraft::core
