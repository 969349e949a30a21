#include "core/quorum.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace coraft::core {

index_t quorum_index(const std::set<node_id>& voters, const std::function<index_t(node_id)>& reached) {
  if (voters.empty()) return index_t(std::numeric_limits<std::uint64_t>::max());
  std::vector<index_t> indexes;
  indexes.reserve(voters.size());
  for (node_id voter : voters) indexes.push_back(reached(voter));
  // With n voters sorted in decreasing order, the entry at n / 2 is reached by
  // n / 2 + 1 voters: a majority.
  auto majority = indexes.begin() + static_cast<std::ptrdiff_t>(indexes.size() / 2);
  std::nth_element(indexes.begin(), majority, indexes.end(), std::greater<>());
  return *majority;
}

index_t quorum_index(const membership& config, const std::function<index_t(node_id)>& reached) {
  return std::min(quorum_index(config.voters, reached), quorum_index(config.outgoing_voters, reached));
}

std::uint64_t quorum_value(const membership& config, const std::function<std::uint64_t(node_id)>& reached) {
  return quorum_index(config, [&](node_id id) { return index_t(reached(id)); }).value;
}

vote_outcome tally(const std::set<node_id>& voters, const std::map<node_id, bool>& votes) {
  if (voters.empty()) return vote_outcome::won;
  std::size_t granted = 0;
  std::size_t missing = 0;
  for (node_id voter : voters) {
    auto vote = votes.find(voter);
    if (vote == votes.end()) {
      ++missing;
    } else if (vote->second) {
      ++granted;
    }
  }
  const std::size_t majority = voters.size() / 2 + 1;
  if (granted >= majority) return vote_outcome::won;
  if (granted + missing >= majority) return vote_outcome::pending;
  return vote_outcome::lost;
}

vote_outcome tally(const membership& config, const std::map<node_id, bool>& votes) {
  const vote_outcome incoming = tally(config.voters, votes);
  const vote_outcome outgoing = tally(config.outgoing_voters, votes);
  if (incoming == vote_outcome::lost || outgoing == vote_outcome::lost) return vote_outcome::lost;
  if (incoming == vote_outcome::won && outgoing == vote_outcome::won) return vote_outcome::won;
  return vote_outcome::pending;
}

bool is_quorum(const membership& config, const std::function<bool(node_id)>& active) {
  std::map<node_id, bool> votes;
  for (node_id voter : config.voters) votes[voter] = active(voter);
  for (node_id voter : config.outgoing_voters) votes[voter] = active(voter);
  return tally(config, votes) == vote_outcome::won;
}

}  // namespace coraft::core
